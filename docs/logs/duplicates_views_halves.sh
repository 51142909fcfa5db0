# Issue 36 part 1 (2026-12-07, Xeon): the judge's views halved (no mirror; or 90-degree turns, mirrored) and at
# 128 px, on the fish sample against the correlation judge, with the harness of the views table in
# docs/honest_splits.md (duplicates_views_embed.py / _analyse.py). Output: docs/logs/duplicates_views_halves.log.
# setsid nohup bash docs/logs/duplicates_views_halves.sh > docs/logs/duplicates_views_halves.log 2>&1 < /dev/null &
mkdir -p /tmp/fgclass_views
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c '
echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7)"
PYTHONPATH=. .venv/bin/python -W ignore docs/logs/duplicates_views_hashes.py
PYTHONPATH=. .venv/bin/python -W ignore docs/logs/duplicates_views_embed.py r8m_160 r8_160 r4m_160 r8m_128 r8_128 r8_112
TS="0.9 0.92 0.93 0.94 0.95 0.96" PYTHONPATH=. .venv/bin/python -W ignore docs/logs/duplicates_views_analyse.py fish r8m_160 r8_160 r4m_160 r8m_128 r8_128 r8_112
echo "end $(date -u +%H:%M:%S)"'

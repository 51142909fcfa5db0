# Issue 36 part 1, a first look (2026-12-07, EPYC): Lite0 cut after stage 4 or 3 as the judge's network, on the fish
# sample against the correlation judge (the harness of the views table: duplicates_views_analyse.py), thresholds
# up to 0.99 since pooled mid-level features are more alike; then each centred over the set, thresholds 0.8-0.94.
# Output: docs/logs/duplicates_views_truncated.log.
# setsid nohup bash docs/logs/duplicates_views_truncated.sh > docs/logs/duplicates_views_truncated.log 2>&1 < /dev/null &
mkdir -p /tmp/fgclass_views
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c '
echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7)"
PYTHONPATH=. .venv/bin/python -W ignore docs/logs/duplicates_views_hashes.py
PYTHONPATH=. .venv/bin/python -W ignore docs/logs/duplicates_views_truncated.py
TS="0.94 0.95 0.96 0.97 0.98 0.99" PYTHONPATH=. .venv/bin/python -W ignore docs/logs/duplicates_views_analyse.py fish r8_128 t4_128 t3_128
TS="0.8 0.85 0.9 0.94" PYTHONPATH=. .venv/bin/python -W ignore docs/logs/duplicates_views_analyse.py fish r8_128c t4_128c t3_128c
echo "end $(date -u +%H:%M:%S)"'

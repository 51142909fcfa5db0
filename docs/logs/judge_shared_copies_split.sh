# Issue 36 part 1: the full butterfly set's default split with and without flips and quarter turns sharing one
# embedding (docs/logs/judge_shared_copies_split.py). Alone under the CPU lock. Output: the .log beside it.
# setsid nohup bash docs/logs/judge_shared_copies_split.sh > docs/logs/judge_shared_copies_split.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7)"; PYTHONPATH=. .venv/bin/python -W ignore docs/logs/judge_shared_copies_split.py ../shared/data/butterfly_full; echo "end $(date -u +%H:%M:%S)"'

# Issue 36 part 1: the judge with flips and quarter turns sharing one embedding, on the fish sample (as fish-sized
# PNGs: time, links, leak) and the full butterfly set with planted twins (docs/logs/judge_shared_copies.py).
# Alone under the CPU lock. Output: docs/logs/judge_shared_copies.log.
# setsid nohup bash docs/logs/judge_shared_copies.sh > docs/logs/judge_shared_copies.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), load $(cut -d" " -f1-3 /proc/loadavg)"; PYTHONPATH=. .venv/bin/python -W ignore docs/logs/judge_shared_copies.py ../shared/data/fish ../shared/data/butterfly_full; echo "end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

# Issue 36 part 1: the cascade question (docs/logs/judge_cascade.py) on the full butterfly set and the fish
# sample, alone under the CPU lock. Output: docs/logs/judge_cascade.log.
# setsid nohup bash docs/logs/judge_cascade.sh > docs/logs/judge_cascade.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), $(.venv/bin/python -c "from fgclass.provenance import cpu_name; print(cpu_name())")"; for root in ../shared/data/butterfly_full ../shared/data/fish; do echo "== $root"; .venv/bin/python -W ignore docs/logs/judge_cascade.py $root 64 96; done; echo "end $(date -u +%H:%M:%S)"'

# Issue 36 part 1: views and side of the embedding judge against planted twins (docs/logs/judge_views.py),
# alone under the CPU lock. Output: docs/logs/judge_views.log.
# setsid nohup bash docs/logs/judge_views.sh > docs/logs/judge_views.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), $(.venv/bin/python -c "from fgclass.provenance import cpu_name; print(cpu_name())")"; .venv/bin/python -W ignore docs/logs/judge_views.py ../shared/data/butterfly_full 400; echo "end $(date -u +%H:%M:%S)"'

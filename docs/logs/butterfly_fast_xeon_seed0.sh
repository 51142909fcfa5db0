# Issue 30: butterfly_fast as configured, seed 0, on the 2-core Xeon with AMX, cold caches (fresh machine:
# the scan and the embedding judge run first). Output: docs/logs/butterfly_fast_xeon_seed0.log.
# setsid nohup bash docs/logs/butterfly_fast_xeon_seed0.sh > docs/logs/butterfly_fast_xeon_seed0.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), $(lscpu | grep "Model name" | tr -s " ")"; .venv/bin/python -m fgclass.train experiment=butterfly_fast data.root=../shared/data/butterfly_full seed=0 name=fast_xeon_seed0; echo "end $(date -u +%H:%M:%S)"'

# Issue 36 part 1 / issue 30: a first run of the fast butterfly recipe as the README gives it (seed 0, the default
# split), from an empty cache folder (scan, the embedding judge's first pass and the warm start's features all paid),
# alone under the CPU lock on the 2-core AMD EPYC (AVX2 only). fit_minutes in the run's metrics covers all of it.
# setsid nohup bash docs/logs/butterfly_fast_first_run_epyc.sh > docs/logs/butterfly_fast_first_run_epyc.log 2>&1 < /dev/null &
cache=$(mktemp -d)
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c "echo \"start \$(date -u +%H:%M:%S), commit \$(git log --oneline -1 | cut -c1-7), load \$(cut -d' ' -f1-3 /proc/loadavg)\"; .venv/bin/python -m fgclass.train experiment=butterfly_fast data.root=../shared/data/butterfly_full seed=0 paths.cache_dir=$cache name=fast_first_run; echo \"end \$(date -u +%H:%M:%S), load \$(cut -d' ' -f1-3 /proc/loadavg)\""

# Issue 29: 1 M generated hashes grouped, on the 2-core Xeon (AVX512, AMX), alone under the CPU lock; the
# same command as benchmarks/RESULTS.md section 7's EPYC row. Output: docs/logs/bench_duplicates_1m_xeon.log.
# setsid nohup bash docs/logs/bench_duplicates_1m_xeon.sh > docs/logs/bench_duplicates_1m_xeon.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7)"; .venv/bin/python -m benchmarks.bench_duplicates --sizes 10000 100000 1000000 --kinds hashes --sample-rows 1024 --threads 0; echo "end $(date -u +%H:%M:%S)"'

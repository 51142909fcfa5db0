# Issue 29 part 1: the default (32 probes), FAISS on both cores, wall and CPU seconds; embeddings at 10k, 100k.
# flock /tmp/fgclass_cpu.lock nice -n 10 bash docs/logs/bench_duplicates_default.sh > docs/logs/bench_duplicates_default.log 2>&1
date -u; lscpu | grep "Model name"; uptime; git rev-parse --short HEAD
.venv/bin/python -m benchmarks.bench_duplicates --sizes 10000 100000 1000000 --kinds hashes --sample-rows 1024 --threads 0
date -u; uptime
.venv/bin/python -m benchmarks.bench_duplicates --sizes 10000 100000 --kinds embeddings --sample-rows 1024 --threads 0
date -u; uptime

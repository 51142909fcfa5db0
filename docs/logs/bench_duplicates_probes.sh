# Issue 29 part 1: hash grouping at 10k-1M, FAISS on both cores (wall and CPU seconds), 16 probes per query
# (first run) and the default 32 (second run); then the embedding rows at 10k and 100k.
# flock /tmp/fgclass_cpu.lock nice -n 10 bash docs/logs/bench_duplicates_probes.sh > docs/logs/bench_duplicates_probes.log 2>&1
date -u; lscpu | grep "Model name"; uptime; git rev-parse --short HEAD
.venv/bin/python -m benchmarks.bench_duplicates --sizes 10000 100000 1000000 --kinds hashes --sample-rows 1024 --threads 0 --probes 16
date -u; uptime

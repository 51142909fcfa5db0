# Issue 29: the embedding search after its probes went from 32 to 8 (bench_duplicates' embedding rows), both cores,
# alone under the CPU lock.
# setsid nohup bash docs/logs/bench_duplicates_embeddings_8probes.sh > docs/logs/bench_duplicates_embeddings_8probes.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), load $(cut -d" " -f1-3 /proc/loadavg)"; lscpu | grep "Model name"; PYTHONPATH=. .venv/bin/python -W ignore -m benchmarks.bench_duplicates --sizes 10000 100000 --kinds embeddings --sample-rows 4096 --threads 0 2>&1 | grep --line-buffered -v -i "loading faiss\|avx2"; echo "end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

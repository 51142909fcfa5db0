# Issue 36 part 1: the embedding judge's network by how it runs (memory format, TorchScript, ONNX Runtime), alone under the CPU lock.
# setsid nohup bash docs/logs/bench_embeddings.sh > docs/logs/bench_embeddings.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), load $(cut -d" " -f1-3 /proc/loadavg)"; .venv/bin/python -W ignore -m benchmarks.bench_embeddings --root ../shared/data/butterfly_full/train --images 64 --reps 3; echo "end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

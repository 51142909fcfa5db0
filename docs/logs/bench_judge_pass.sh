# Issue 36 part 1: the judge's whole pass (decoding, views, network), one ONNX Runtime call at a time on both
# threads against one thread per call side by side (what the judge now does); fish-sized PNGs (590x445, as the
# full fish set's files) made from the fish sample, then the butterfly photos as they are. Alone under the CPU lock.
# setsid nohup bash docs/logs/bench_judge_pass.sh > docs/logs/bench_judge_pass.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), load $(cut -d" " -f1-3 /proc/loadavg)"; .venv/bin/python -W ignore -m benchmarks.bench_embeddings --root ../shared/data/fish --images 192 --reps 3 --as-png 590x445; echo "fish done $(date -u +%H:%M:%S)"; .venv/bin/python -W ignore -m benchmarks.bench_embeddings --root ../shared/data/butterfly_full/train --images 192 --reps 3; echo "end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

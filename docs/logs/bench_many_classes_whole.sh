# Issue 29 part 3: the whole evaluation of 200,000 predictions over 10,000 classes (sparse report).
# flock /tmp/fgclass_cpu.lock nice -n 10 bash docs/logs/bench_many_classes_whole.sh > docs/logs/bench_many_classes_whole.log 2>&1
set -e
date -u; lscpu | grep "Model name"; uptime; git rev-parse --short HEAD; git status --short fgclass | head
.venv/bin/python -m benchmarks.bench_many_classes --whole 200000 10000
.venv/bin/python -m benchmarks.bench_many_classes --classes 100 1000 10000 --samples 5000 --reps 2
date -u; uptime

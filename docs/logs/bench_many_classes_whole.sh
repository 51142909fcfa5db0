# Issue 29 part 3: the whole evaluation of 200,000 predictions over 10,000 classes (sparse report),
# then the dense/sparse comparison at 5,000 images.
# flock /tmp/fgclass_cpu.lock nice -n 10 bash docs/logs/bench_many_classes_whole.sh > docs/logs/bench_many_classes_whole.log 2>&1
set -e
date -u; lscpu | grep "Model name"; uptime; git rev-parse --short HEAD; git status --short fgclass benchmarks | head
.venv/bin/python -m benchmarks.bench_many_classes --whole 200000 10000
date -u; uptime

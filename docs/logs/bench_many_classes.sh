#!/bin/bash
# The dense (before issue 29) and sparse test reports side by side at 100, 1,000 and 10,000 classes.
cd "$(dirname "$0")/../.." || exit 1
date -u
git log -1 --format='commit %h'
uptime
flock /tmp/fgclass_cpu.lock nice -n 10 .venv/bin/python -m benchmarks.bench_many_classes --classes 100 1000 10000 --samples 5000 --reps 2 2>&1 | grep -v "Tip:\|GPU available\|TPU available"
uptime
date -u

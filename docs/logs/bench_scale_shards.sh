#!/bin/bash
# benchmarks/RESULTS.md, section "Shards vs image folder": run from the repository root.
cd "$(dirname "$0")/../.." || exit 1
lscpu | grep "Model name"
uptime
time .venv/bin/python -m benchmarks.bench_scale --only shards --images 10000 --reps 3 --workers 2
uptime

#!/usr/bin/env bash
# The scan cache at a million files (docs/results.md, "Scan cache at a million files"):
#   flock /tmp/fgclass_cpu.lock nice -n 10 bash docs/logs/bench_scan_cache.sh > docs/logs/bench_scan_cache.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "$ python -m benchmarks.bench_scan_cache --records 1000000 --images 2000 --reps 2   # $(date -u +%FT%TZ), fgclass $(git rev-parse --short HEAD) + working tree"
uptime
/usr/bin/time -v .venv/bin/python -m benchmarks.bench_scan_cache --records 1000000 --images 2000 --reps 2 2>&1 \
  | grep -v -E "^\s+(Average|Major|Minor|Voluntary|Involuntary|Swaps|File system|Socket|Signals|Page size|Exit status)"

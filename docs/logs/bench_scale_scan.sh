#!/bin/bash
# benchmarks/RESULTS.md, section "Scan at 100,000 images": run from the repository root as
#   setsid nohup bash -c 'flock /tmp/fgclass_cpu.lock nice -n 10 bash docs/logs/bench_scale_scan.sh' \
#     > docs/logs/bench_scale_scan.log 2>&1 < /dev/null &
cd "$(dirname "$0")/../.." || exit 1
echo "fgclass $(git rev-parse --short HEAD) + working tree, $(date -u +%FT%TZ)"
lscpu | grep "Model name"
uptime
time .venv/bin/python -m benchmarks.bench_scale --only scan --images 100000 --reps 2
uptime
# The scan's progress bar (tqdm; shown on a terminal only, so under a pseudo-terminal here): a cold scan
# of the first 10,000 of those images into an empty cache (a terminal 120 columns wide): its update
# half way through and its last.
rm -rf /tmp/fgclass_bench_scale/bar_cache
script -qec "stty cols 120 rows 40; .venv/bin/python -c \"
from pathlib import Path
from fgclass.data.scan import scan_images
from fgclass.data.sources import ImageFolderLayout
root = Path('/tmp/fgclass_bench_scale/noise100000/images')
paths = ImageFolderLayout(root).find().paths[:10000]
scan_images(root, paths, Path('/tmp/fgclass_bench_scale/bar_cache/scan.npz'))
\"" /dev/null | tr '\r' '\n' | grep -a "Scanning" \
  | awk '{line[NR] = $0} END {print line[int(NR / 2)]; print line[NR]}'
uptime

#!/bin/bash
# benchmarks/RESULTS.md, "The feature pass, eager vs frozen vs ONNX Runtime": run from the repository root, alone under the CPU lock:
#   setsid nohup bash docs/logs/bench_feature_pass.sh > docs/logs/bench_feature_pass.log 2>&1 < /dev/null &
cd "$(dirname "$0")/../.."
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c '
echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), load $(cut -d" " -f1-3 /proc/loadavg)"
.venv/bin/python -m benchmarks.bench_feature_pass --root ../shared/data/butterfly_full --images 320 --reps 3 \
  --models efficientnet_lite0 efficientnet_lite1 efficientnet_lite2 2>&1 | grep -v Warning
echo "end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

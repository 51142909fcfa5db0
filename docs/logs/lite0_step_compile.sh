#!/bin/bash
# benchmarks/RESULTS.md section 2 and docs/results.md (issue 30, "torch.compile on CPU"): eager against
# torch.compile(model), Lite0 training steps side by side. Run from the repository root as
#   setsid nohup bash -c 'flock /tmp/fgclass_cpu.lock nice -n 10 bash docs/logs/lite0_step_compile.sh' \
#     > docs/logs/lite0_step_compile.log 2>&1 < /dev/null &
cd "$(dirname "$0")/../.." || exit 1
echo "fgclass $(git rev-parse --short HEAD) + working tree, $(date -u +%FT%TZ)"
lscpu | grep "Model name"
uptime
time timeout 2400 .venv/bin/python -m benchmarks.lite0_step --sizes 224 --top-stages 8 5 --reps 3 \
  --channels-last --compile
uptime

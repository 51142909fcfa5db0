#!/bin/bash
# The backbone ladder's fast fine-tune column (issue 30): `experiment=butterfly_fast` as it is (8 epochs of
# 160 px crops, val/test at 192 px, warm start, top 5 stages) with each bigger backbone, seed 0, on the
# full butterfly set; one run after the other under the shared CPU lock, so their fit minutes compare with
# Lite0's rows (docs/logs/butterfly_fast_c160x8_seed0.log). The sizes are the recipe's, not each backbone's
# native one: the column answers what the same 20-minute recipe buys with a bigger backbone.
#   setsid nohup bash docs/logs/ladder_fast.sh 1 2 > docs/logs/ladder_fast.log 2>&1 < /dev/null &
cd "$(dirname "$0")/../.."
for n in "$@"; do
  flock /tmp/fgclass_cpu.lock nice -n 5 bash -c '
    n='"$n"'
    echo "=== efficientnet_lite$n: start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), $(lscpu | grep "Model name" | tr -s " "), load $(cut -d" " -f1-3 /proc/loadavg)"
    start=$(date +%s)
    .venv/bin/python -m fgclass.train experiment=butterfly_fast model=efficientnet_lite$n data.root=../shared/data/butterfly_full seed=0 name=ladder_fast_lite${n}_seed0
    echo "wall-clock $(( $(date +%s) - start )) s, end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'
done

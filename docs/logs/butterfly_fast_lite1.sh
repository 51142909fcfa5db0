#!/bin/bash
# Issue 30: a candidate for the 95 % goal: experiment=butterfly_fast with EfficientNet-Lite1 (its full fine-tuning
# step costs about 1.7x Lite0's at 160 px) in 5 epochs instead of 8, so the fit stays near 20 minutes; seed as $1.
#   setsid nohup bash docs/logs/butterfly_fast_lite1.sh 0 > docs/logs/butterfly_fast_lite1_seed0.log 2>&1 < /dev/null &
cd "$(dirname "$0")/../.."
seed=${1:-0}
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'start=$(date +%s); echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), $(lscpu | grep "Model name" | tr -s " "), load $(cut -d" " -f1-3 /proc/loadavg)"; .venv/bin/python -m fgclass.train experiment=butterfly_fast model=efficientnet_lite1 trainer.max_epochs=5 data.root=../shared/data/butterfly_full seed='$seed' name=fast_lite1x5_seed'$seed'; echo "wall-clock $(( $(date +%s) - start )) s, end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

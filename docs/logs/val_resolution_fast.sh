#!/bin/bash
# Issue 30: the eval resolution of experiment=butterfly_fast (8 epochs of 160 px crops, tested at 192 px), chosen on
# the validation split: each seed's best checkpoint (docs/logs/butterfly_fast_c160x8_seed{0,1,2}.log) at 4 eval sizes.
#   setsid nohup bash docs/logs/val_resolution_fast.sh > docs/logs/val_resolution_fast.log 2>&1 < /dev/null &
cd "$(dirname "$0")/../.."
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c '
echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), $(lscpu | grep "Model name" | tr -s " "), load $(cut -d" " -f1-3 /proc/loadavg)"
for run in outputs/runs/2026-12-07/11-14-52_dc6a5a_c160x8_seed0 outputs/runs/2026-12-07/12-04-39_9b9ae5_c160x8_seed1 outputs/runs/2026-12-07/12-25-16_ecd70c_c160x8_seed2; do
  echo "=== $run"
  .venv/bin/python -m benchmarks.val_resolution --ckpt $run/checkpoints/epoch*.ckpt --sizes 176/201 192/219 208/237 224/256 240/274
done
echo "end $(date -u +%H:%M:%S)"'

#!/bin/bash
# Runs that stop when nothing more can be learned (issue 36, part 2): butterfly_head_only with Lite0 on
# cached features (augment=none cache_features=true: the experiment's own augment=butterfly_paper cannot
# use the cache), full butterfly set, seeds 0 and 1. "after": the experiment as committed (plateau floor
# min_lr 1e-6, lr_floor_stopping, early stopping min_delta 1e-3); "before": the same code with the three
# set back to what they were (min_lr 0, min_delta 0, no floor stopping), side by side on the same machine.
# Run from the repository root (each run waits for the shared CPU lock):
#   bash docs/logs/stopping_head_only.sh > docs/logs/stopping_head_only.log 2>&1
cd "$(dirname "$0")/../.."
lscpu | grep "Model name"; nproc
echo "commit $(git rev-parse --short HEAD 2>/dev/null); uncommitted: $(git status --short 2>/dev/null | wc -l) files ${SNAPSHOT_NOTE:-}"
BASE="experiment=butterfly_head_only model=efficientnet_lite0 augment=none cache_features=true eval.noise_sigmas=[] data.root=../shared/data/butterfly_full"
OLD="model.schedulers.plateau.scheduler.min_lr=0 callbacks.early_stopping.min_delta=0 callbacks.lr_floor_stopping=null"
for variant in after before; do   # the new settings first: "before" repeats docs/logs/lr_rule_batch.log's b32 runs
  for seed in 0 1; do
    name=stopping_${variant}_seed$seed
    extra=""; [ $variant = before ] && extra="$OLD"
    echo "=== $name: python -m fgclass.train $BASE seed=$seed $extra name=$name"
    flock /tmp/fgclass_cpu.lock nice -n 10 bash -c "start=\$(date +%s); .venv/bin/python -m fgclass.train $BASE seed=$seed $extra name=$name; echo \"wall-clock \$(( \$(date +%s) - start )) s\""
  done
done
for run in outputs/runs/*/*_stopping_*_seed[01]; do
  echo "--- $run"
  log="$run/train.log"
  echo "epochs: $(grep -c 'Epoch [0-9]*/40 ' "$log"); last: $(grep -o 'Epoch [0-9]*/40 .*' "$log" | tail -1 | grep -o 'val/accuracy=[0-9.]*\|lr=[0-9.e-]*' | tr '\n' ' ')"
  grep -h "Stopped after" "$log" | sed 's/.*INFO\] - //'
  first=$(grep "Cached backbone features of 5200 train" "$log" | grep -o '[0-9:]*,' | head -1 | tr -d ,)
  last=$(grep "Epoch [0-9]*/40 " "$log" | tail -1 | grep -o '[0-9:]*,' | head -1 | tr -d ,)
  echo "head epochs: $first -> $last ($(( $(date -d "$last" +%s) - $(date -d "$first" +%s) )) s)"
  ls "$run/checkpoints" | grep -v last
  .venv/bin/python -c "import json,sys; m=json.load(open(sys.argv[1])); print({k: m[k] for k in ('accuracy','f1_macro','fit_minutes')})" "$run/metrics.json"
done

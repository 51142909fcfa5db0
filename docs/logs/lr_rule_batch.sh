#!/bin/bash
# The learning rate follows the global batch (issue 35, part 2): the same recipe (butterfly_head_only
# with Lite0, cached features, Adam 1e-3 tuned at batch 32) at batch 32, and at batch 64 without the
# rule, with its default sqrt rule and with the linear rule. One process each: the rule depends on the
# global batch only (data.batch_size x devices x nodes x accumulate_grad_batches).
# Run from the repository root (each run waits for the shared CPU lock):
#   bash docs/logs/lr_rule_batch.sh > docs/logs/lr_rule_batch.log 2>&1
#   SEED=1 bash docs/logs/lr_rule_batch.sh >> docs/logs/lr_rule_batch.log 2>&1   (and SEED=2)
cd "$(dirname "$0")/../.."
SEED=${SEED:-0}
lscpu | grep "Model name"; nproc
echo "commit $(git rev-parse --short HEAD); uncommitted: $(git status --short | wc -l) files"
BASE="experiment=butterfly_head_only model=efficientnet_lite0 augment=none cache_features=true eval.noise_sigmas=[] data.root=../shared/data/butterfly_full seed=$SEED"
for spec in "b32 data.batch_size=32" "b64_none data.batch_size=64 model.lr_base_scale=none" \
            "b64_sqrt data.batch_size=64" "b64_linear data.batch_size=64 model.lr_base_scale=linear"; do
  set -- $spec
  name=lr_rule_${1}_seed$SEED; shift
  echo "=== $name: python -m fgclass.train $BASE $* name=$name"
  flock /tmp/fgclass_cpu.lock bash -c "start=\$(date +%s); .venv/bin/python -m fgclass.train $BASE $* name=$name; echo \"wall-clock \$(( \$(date +%s) - start )) s\""
done
for run in outputs/runs/*/*_lr_rule_*_seed$SEED; do
  echo "--- $run"
  grep -h "Learning rate .* at global batch" "$run/train.log"
  .venv/bin/python -c "import json,sys; m=json.load(open(sys.argv[1])); print({k: m[k] for k in ('accuracy','f1_macro','fit_minutes')})" "$run/metrics.json"
  echo "epochs: $(grep -c 'val/accuracy=' "$run/train.log"); last: $(grep -o 'Epoch [0-9]*/.*' "$run/train.log" | tail -1)"
done

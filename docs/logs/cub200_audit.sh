#!/bin/bash
# Leakage audit of CUB-200-2011's official split on the 100-species subset in ../shared (issue 28).
# 1) the split data=cub200 trains on (official test; val carved from the official training images);
# 2) the publisher's two-way split as it is (every official training image counted as train).
set -e
cd "$(dirname "$0")/../.."
ROOT=../shared/data/cub200_subset
OUT=outputs/audit_cub200
lscpu | grep "Model name"; date -u
time .venv/bin/python -m fgclass.audit data=cub200 data.root=$ROOT data.image_size=224 paths.output_dir=$OUT/official_split
.venv/bin/python - <<PY
from fgclass.data.benchmarks import CubLayout
from fgclass.data.splits import SplitTable
images = CubLayout(root="$ROOT").find()
SplitTable(images.paths, images.labels, images.official, list(range(len(images.paths)))).write("$OUT/publisher_split.csv")
PY
time .venv/bin/python -m fgclass.audit data=cub200 data.root=$ROOT data.image_size=224 paths.output_dir=$OUT/publisher_split \
  audit.splits_file=$OUT/publisher_split.csv
date -u

#!/bin/bash
# checkpoint sizes per run with the default callbacks (tiny data, 1 epoch)
# run from the repository root: bash docs/logs/checkpoint_sizes.sh > docs/logs/checkpoint_sizes.log
cd "$(dirname "$0")/../.."
D=$(mktemp -d)
.venv/bin/python -c "from fgclass.data.synthetic import write_fish_dataset; write_fish_dataset('$D/fish', photos_per_class=4, image_size=32)"
for spec in "resnet18 full" "resnet50 full" "resnet50 head_only" "efficientnet_lite0 full" "efficientnet_lite0 head_only"; do
  set -- $spec
  .venv/bin/python -m fgclass.train model=$1 finetune=$2 model.weights=null data.root=$D/fish paths.log_dir=$D/out/$1_$2 data.image_size=32 data.resize_size=36 data.num_workers=0 trainer.max_epochs=1 test=false trainer.accelerator=cpu > /dev/null 2>&1
  echo "$1 $2: $(cd $D/out/$1_$2/runs/*/*/checkpoints && ls -l --block-size=M | tail -n +2 | awk '{print $9": "$5}' | tr '\n' ' ')"
done

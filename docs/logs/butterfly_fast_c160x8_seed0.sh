# Issue 30: a candidate fast recipe: 8 epochs at 160 px (no progressive resizing: ~callbacks.progressive_resizing), validated and tested at 192 px
# (160 px crops of a 219 px resize, the 1.2 train/test ratio of recipe step 0; the first run of this script, before
# the recipes derived the resize, framed 192 of 307 px: its log is butterfly_fast_c160x8_seed0_resize307.log), warm start and top 5 stages as
# in butterfly_fast; seed given as $1 (default 0).
# setsid nohup bash docs/logs/butterfly_fast_c160x8_seed0.sh 0 > docs/logs/butterfly_fast_c160x8_seed0.log 2>&1 < /dev/null &
seed=${1:-0}
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'start=$(date +%s); echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), $(lscpu | grep "Model name"), load $(cut -d" " -f1-3 /proc/loadavg)"; .venv/bin/python -m fgclass.train experiment=butterfly_fast data.root=../shared/data/butterfly_full seed='$seed' ~callbacks.progressive_resizing data.train_image_size=160 data.image_size=192 trainer.max_epochs=8 name=c160x8_seed'$seed'; echo "wall-clock $(( $(date +%s) - start )) s, end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

# Issue 30: butterfly_fast as configured (from 160 px), seed 1. Its output: the run folder's train.log,
# copied to docs/logs/butterfly_fast_seed1.log.
# setsid nohup bash docs/logs/butterfly_fast_seed1.sh > /dev/null 2>&1 &
flock /tmp/fgclass_cpu.lock nice -n 10 .venv/bin/python -m fgclass.train experiment=butterfly_fast data.root=../shared/data/butterfly_full seed=1 name=fast_seed1

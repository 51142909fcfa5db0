# Issue 30: butterfly_fast as configured (from 160 px), seed 2. Its output: the run folder's train.log,
# copied to docs/logs/butterfly_fast_seed2.log.
# setsid nohup bash docs/logs/butterfly_fast_seed2.sh > /dev/null 2>&1 &
flock /tmp/fgclass_cpu.lock nice -n 10 .venv/bin/python -m fgclass.train experiment=butterfly_fast data.root=../shared/data/butterfly_full seed=2 name=fast_seed2

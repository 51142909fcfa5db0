# The fish-sample table of docs/results.md ("what a leaky split does to accuracy") rerun on today's default split
# (hash groups joined by the embedding judge, flips and quarter turns sharing one embedding) against a random
# split, 3 split seeds each. Alone under the CPU lock. Output: docs/logs/fish_split_judge.log.
# setsid nohup bash docs/logs/fish_split_judge.sh > docs/logs/fish_split_judge.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7)"; .venv/bin/python -W ignore -m fgclass.train -m experiment=fish_head_only model=efficientnet_lite0 data.root=../shared/data/fish augment=none cache_features=true "eval.noise_sigmas=[]" data.split.group_near_duplicates=true,false data.split.seed=0,1,2; echo "end $(date -u +%H:%M:%S)"'

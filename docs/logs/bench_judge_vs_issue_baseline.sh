# Issue 36 part 1: the judge's whole pass now against the pass the issue timed (17.9 min for the full fish set:
# 16 views at 160 px, eager PyTorch, one image per call; commit 80ce484), side by side on fish-sized PNGs (590x445,
# as the full fish set's files) made from the fish sample. Alone under the CPU lock.
# setsid nohup bash docs/logs/bench_judge_vs_issue_baseline.sh > docs/logs/bench_judge_vs_issue_baseline.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), load $(cut -d" " -f1-3 /proc/loadavg)"; .venv/bin/python -W ignore -m benchmarks.bench_embeddings --root ../shared/data/fish --images 96 --reps 3 --as-png 590x445 --issue-baseline; echo "end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

# Issue 29: recall of the FAISS hash search over all ~95,000 planted pairs at 1 M images, 32 (today) and 24 probes,
# alone under the CPU lock.
# setsid nohup bash docs/logs/duplicates_planted_recall_1m.sh > docs/logs/duplicates_planted_recall_1m.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), load $(cut -d" " -f1-3 /proc/loadavg)"; lscpu | grep "Model name"; PYTHONPATH=. .venv/bin/python -W ignore docs/logs/duplicates_planted_recall_1m.py 1000000 32 24 2>&1 | grep -v -i "faiss\|avx2"; echo "end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

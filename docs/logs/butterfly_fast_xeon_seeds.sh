# Issue 30 / 36: butterfly_fast as configured, seeds 0, 1 and 2, on the 2-core Xeon with AMX, one after the other
# under the CPU lock, with the 8-view 128 px embedding judge (ad63291): seed 0's run is a first run for it (no
# cached embeddings; scan and hash groups cached). Output: docs/logs/butterfly_fast_xeon_seeds.log.
# setsid nohup bash docs/logs/butterfly_fast_xeon_seeds.sh > docs/logs/butterfly_fast_xeon_seeds.log 2>&1 < /dev/null &
for seed in 0 1 2; do
  flock /tmp/fgclass_cpu.lock nice -n 5 bash -c "echo \"start \$(date -u +%H:%M:%S), commit \$(git log --oneline -1 | cut -c1-7)\"; .venv/bin/python -m fgclass.train experiment=butterfly_fast data.root=../shared/data/butterfly_full seed=$seed name=fast_xeon8v_seed$seed; echo \"end \$(date -u +%H:%M:%S)\""
done

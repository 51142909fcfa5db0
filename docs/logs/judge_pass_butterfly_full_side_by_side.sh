# Issue 36 part 1 (rerun after the judge became 8 turns at 128 px and its calls ran side by side): the embedding judge's whole pass over the full butterfly set, no cache (what a first run pays),
# as the data module runs it (image_embeddings with the configured extractor), alone under the CPU lock.
# setsid nohup bash docs/logs/judge_pass_butterfly_full_side_by_side.sh > docs/logs/judge_pass_butterfly_full_side_by_side.log 2>&1 < /dev/null &
flock /tmp/fgclass_cpu.lock nice -n 5 bash -c 'echo "start $(date -u +%H:%M:%S), commit $(git log --oneline -1 | cut -c1-7), load $(cut -d" " -f1-3 /proc/loadavg)"; lscpu | grep "Model name"; .venv/bin/python -W ignore -c "
import logging, time
logging.basicConfig(level=logging.INFO, format=\"%(message)s\")
from fgclass.data.embeddings import image_embeddings
from fgclass.data.scan import scan_images
from fgclass.data.sources import find_butterfly_images
from fgclass.models.features import packaged_lite0_features
images = find_butterfly_images(\"../shared/data/butterfly_full\")
digests = [r.digest for r in scan_images(images.root, images.paths, None).records]
start = time.perf_counter()
embeddings = image_embeddings(images.root, images.paths, digests, packaged_lite0_features(), None)
print(f\"{len(embeddings)} images: {time.perf_counter() - start:.0f} s in all, the export included\")
" 2>&1 | grep -v "Embedding images"; echo "end $(date -u +%H:%M:%S), load $(cut -d" " -f1-3 /proc/loadavg)"'

"""Issue 36 part 1: could a cheap embedding pass (the judge's 16 views at a smaller side) pick the
candidate pairs, so that the full 160 px pass runs only on the images of candidate pairs the hashes
have not grouped already? For each coarse side: the least coarse similarity of a pair that the full
judge joins (at 0.94) and the hashes do not, and, per coarse threshold, the recall of those pairs and the
images a second pass would embed. Run from the repository root (after a run has cached the full
embeddings and the scan):  python docs/logs/judge_cascade.py ../shared/data/butterfly_full 64 96
Ran at commit 4550713, when ``image_embeddings`` (the cached "today's" embeddings here) was the 16-view
160 px judge; since ad63291 it is the 8-view 128 px one.
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

from fgclass.data.duplicates import group_near_duplicates_cached
from fgclass.data.embeddings import image_embeddings, similar_pairs, views
from fgclass.data.images import load_rgb
from fgclass.data.scan import cache_file_for, scan_images
from fgclass.data.sources import find_butterfly_images, find_fish_images
from fgclass.models.features import packaged_lite0_features

torch.set_num_threads(2)
root = Path(sys.argv[1])
sides = [int(s) for s in sys.argv[2:]]
cache = Path(".cache/fgclass")
images = find_butterfly_images(root) if (root / "Training_set.csv").exists() else find_fish_images(root)
scan = scan_images(images.root, images.paths, cache_file_for(cache, images.root))
groups = group_near_duplicates_cached(scan.hashes, 40, cache)
features = packaged_lite0_features()
start = time.monotonic()
fine = image_embeddings(images.root, images.paths, [r.digest for r in scan.records], features, cache)
print(f"{len(fine)} images; full embeddings in {time.monotonic() - start:.0f} s (cached if fast)", flush=True)
coarse = {s: [] for s in sides}
seconds = dict.fromkeys(sides, 0.0)
with torch.inference_mode():
    for first in range(0, len(images.paths), 8):
        rgbs = [load_rgb(images.root / p) for p in images.paths[first : first + 8]]
        for s in sides:
            t = time.perf_counter()
            v = torch.from_numpy(np.concatenate([views(rgb, side=s, mirror=True) for rgb in rgbs])).permute(0, 3, 1, 2)
            e = torch.nn.functional.normalize(features(v).float(), dim=1)
            pooled = torch.nn.functional.normalize(e.view(len(rgbs), -1, e.shape[1]).mean(1), dim=1)
            coarse[s].append(pooled.numpy())
            seconds[s] += time.perf_counter() - t
fine_pairs = np.array([(i, j) for i, j, _ in similar_pairs(fine, 0.94)]).reshape(-1, 2)
new = fine_pairs[groups[fine_pairs[:, 0]] != groups[fine_pairs[:, 1]]]
print(f"full judge: {len(fine_pairs)} pairs >= 0.94, {len(new)} not grouped by the hashes, "
      f"{len(np.unique(new))} images in them")
for s in sides:
    c = np.concatenate(coarse[s])
    sims = np.einsum("ij,ij->i", c[new[:, 0]], c[new[:, 1]]) if len(new) else np.zeros(0)
    print(f"\nside {s}: {1000 * seconds[s] / len(c):.1f} ms/img (views + network); least coarse similarity "
          f"of a new full pair {sims.min() if len(sims) else float('nan'):.4f}")
    print("coarse threshold | recall of new full pairs | candidate pairs not hash-grouped | images to embed fully")
    for t in (0.80, 0.84, 0.86, 0.88, 0.90, 0.92, 0.94):
        cand = np.array([(i, j) for i, j, _ in similar_pairs(c, t)]).reshape(-1, 2)
        cand = cand[groups[cand[:, 0]] != groups[cand[:, 1]]]
        recall = float((sims >= t).mean()) if len(sims) else float("nan")
        print(f"{t:.2f} | {recall:.4f} | {len(cand)} | {len(np.unique(cand))}")

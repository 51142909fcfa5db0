"""Issue 36 part 1: the judge's views without the mirror (8 turns of 45 degrees) at 160, 128 and 112 px, against
today's 16 views at 160 px, on the full butterfly set at cosine 0.94 and 0.95: pairs joined, shared with today's,
pairs across species, images regrouped beyond the hash groups, and the cost per image (views + network).
Run from the repository root after a run has cached today's embeddings and the scan:
    python docs/logs/judge_views_full.py ../shared/data/butterfly_full
Ran at commit 4550713, when ``image_embeddings`` (the cached "today's" embeddings here) was the 16-view
160 px judge; since ad63291 it is the 8-view 128 px one.
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch

from fgclass.data.duplicates import group_near_duplicates_cached, join_groups
from fgclass.data.embeddings import image_embeddings, similar_pairs, views
from fgclass.data.images import load_rgb
from fgclass.data.scan import cache_file_for, scan_images
from fgclass.data.sources import find_butterfly_images
from fgclass.models.features import packaged_lite0_features

torch.set_num_threads(2)
images = find_butterfly_images(Path(sys.argv[1]))
cache = Path(".cache/fgclass")
scan = scan_images(images.root, images.paths, cache_file_for(cache, images.root))
hash_groups = group_near_duplicates_cached(scan.hashes, 40, cache)
labels = np.array(images.labels)
features = packaged_lite0_features()
today = image_embeddings(images.root, images.paths, [r.digest for r in scan.records], features, cache)
SIDES = (160, 128, 112)
out = {s: [] for s in SIDES}
seconds = dict.fromkeys(SIDES, 0.0)
with torch.inference_mode():
    for first in range(0, len(images.paths), 8):
        rgbs = [load_rgb(images.root / p) for p in images.paths[first : first + 8]]
        for s in SIDES:
            t = time.perf_counter()
            v = torch.from_numpy(np.concatenate([views(rgb, side=s, mirror=False) for rgb in rgbs]))
            e = torch.nn.functional.normalize(features(v.permute(0, 3, 1, 2)).float(), dim=1)
            pooled = torch.nn.functional.normalize(e.view(len(rgbs), 8, -1).mean(1), dim=1)
            out[s].append(pooled.numpy())
            seconds[s] += time.perf_counter() - t


def summary(embeddings: np.ndarray, threshold: float, reference: set) -> str:
    pairs = similar_pairs(embeddings, threshold)
    found = {(i, j) for i, j, _ in pairs}
    cross = sum(labels[i] != labels[j] for i, j in found)
    groups = join_groups(hash_groups, pairs)
    moved = int((np.bincount(groups)[groups] > np.bincount(hash_groups)[hash_groups]).sum())
    return (f"{len(found)} pairs, {len(found & reference)} shared with today's, {cross} across species, "
            f"{moved} images in a larger group than the hashes', largest group {np.bincount(groups).max()}")


n = len(images.paths)
for t in (0.94, 0.95):
    reference = {(i, j) for i, j, _ in similar_pairs(today, t)}
    print(f"\ncosine >= {t}; today's judge (16 views, 160 px, cached): {summary(today, t, reference)}")
    for s in SIDES:
        print(f"  8 turns, {s} px ({1000 * seconds[s] / n:.1f} ms/img): {summary(np.concatenate(out[s]), t, reference)}")

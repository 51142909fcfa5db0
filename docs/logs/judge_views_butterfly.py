"""Issue 36: would a 2-view embedding judge (the disc as is and mirrored, no turns: 1/8 of the 16 views)
find the butterfly set's copies? Its pairs against today's 16-view judge on the full butterfly set
(today's embeddings read from the cache the runs filled; the 2-view ones computed here, timed).
    PYTHONPATH=. python docs/logs/judge_views_butterfly.py"""

import hashlib
import time

import numpy as np
import torch

from fgclass.data.duplicates import group_near_duplicates, join_groups
from fgclass.data.embeddings import _VERSION, ANGLES, MIRROR, SIDE, similar_pairs, views
from fgclass.data.images import load_rgb
from fgclass.data.scan import scan_images
from fgclass.data.sources import find_butterfly_images
from fgclass.models.features import packaged_lite0_features

features = packaged_lite0_features()
images = find_butterfly_images("../shared/data/butterfly_full")
labels = np.array(images.labels)
scan = scan_images(images.root, images.paths, None)
key = hashlib.sha1(f"{_VERSION}:{SIDE}:{ANGLES}:{MIRROR}:{features.name}".encode())
for record in scan.records:
    key.update(record.digest.encode())
today = np.load(f".cache/fgclass/embeddings-{key.hexdigest()[:20]}.npy")
hash_groups = group_near_duplicates(scan.hashes, 40)

start = time.perf_counter()
chunks = []
with torch.inference_mode():
    for first in range(0, len(images.paths), 32):
        batch = [views(load_rgb(images.root / p), side=160, angles=(0,), mirror=True) for p in images.paths[first : first + 32]]
        f = torch.nn.functional.normalize(features(torch.from_numpy(np.concatenate(batch)).permute(0, 3, 1, 2)), dim=1)
        chunks.append(torch.nn.functional.normalize(f.view(len(batch), 2, -1).mean(1), dim=1).numpy())
two = np.concatenate(chunks)
print(f"{len(labels)} images; 2-view embeddings in {time.perf_counter() - start:.0f} s "
      f"({1000 * (time.perf_counter() - start) / len(labels):.1f} ms/img, decoding included)", flush=True)


def describe(name, pairs):
    groups = join_groups(hash_groups, pairs)
    sizes = np.bincount(groups)
    mixed = sum(len(set(labels[groups == g])) > 1 for g in np.flatnonzero(sizes > 1))
    beyond = int((sizes[groups] > 1).sum() - (np.bincount(hash_groups)[hash_groups] > 1).sum())
    cross = sum(labels[i] != labels[j] for i, j, _ in pairs)
    return f"{name}: {len(pairs)} pairs, {cross} across species, largest group {sizes.max()}, {mixed} mixed groups, {beyond} images regrouped beyond the hashes"


reference = {t: {(i, j) for i, j, _ in similar_pairs(today, t)} for t in (0.94, 0.96, 0.97, 0.98)}
for t, pairs in reference.items():
    print(describe(f"16 views >= {t}", [(i, j, 0) for i, j in pairs]))
for t in (0.90, 0.92, 0.94, 0.95, 0.96, 0.97):
    pairs = similar_pairs(two, t)
    found = {(i, j) for i, j, _ in pairs}
    overlap = ", ".join(f"{len(found & ref)}/{len(ref)} of 16-view >= {r}" for r, ref in reference.items() if r >= 0.96)
    print(describe(f"2 views >= {t}", pairs) + f"; finds {overlap}")
# the 16-view copies (>= 0.97) that 2 views miss at 0.94: how close do they come?
cos = np.array([two[i] @ two[j] for i, j in reference[0.97]])
print("2-view cosine of the 16-view >= 0.97 pairs: percentiles 1/5/25/50:", np.percentile(cos, [1, 5, 25, 50]).round(3))

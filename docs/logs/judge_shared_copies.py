"""Issue 36 part 1: flips and quarter turns share one embedding (``image_embeddings(..., hashes)``).

1. Fish sample re-saved as 590x445 PNGs with faint noise (the full fish set's format): the judge's pass as the
   data module runs it, with and without the scan's hashes, and the pass issue 36 timed (16 views at 160 px,
   eager PyTorch; ``benchmarks.bench_embeddings.issue_baseline``), interleaved; per image of the dataset.
   Then what each links at 0.93-0.95 and the leak against the correlation judge's copies (split seeds 0-9).
2. Full butterfly set plus 400 planted twins (photos turned by a random angle, mirrored half the time, saved
   again as JPEG): the images embedded, the least similarity of a twin to its photo, and the pairs of photos
   linked at 0.94, every image embedded against shared.
    PYTHONPATH=. python docs/logs/judge_shared_copies.py ../shared/data/fish ../shared/data/butterfly_full
"""

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.bench_embeddings import issue_baseline
from benchmarks.common import as_png, interleave, machine, paired_ratio
from benchmarks.validate_near_duplicates import judge_similarity, leak
from fgclass.data.duplicates import group_near_duplicates, join_groups
from fgclass.data.embeddings import COPY_BITS, image_embeddings, similar_pairs
from fgclass.data.placement import assign_splits
from fgclass.data.scan import DIHEDRAL, scan_images
from fgclass.data.sources import find_butterfly_images, find_fish_images
from fgclass.data.splits import SplitConfig
from fgclass.errors import DataError
from fgclass.models.features import BackboneFeatures, PACKAGED_LITE0

print(machine(), f"COPY_BITS {COPY_BITS}", flush=True)
features = BackboneFeatures(PACKAGED_LITE0)

# 1. fish sample as PNGs
fish = find_fish_images(sys.argv[1])
labels = np.array(fish.labels)
root = Path(tempfile.mkdtemp())
names = as_png(fish.root, fish.paths, (590, 445), 1, root)
start = time.perf_counter()
scan = scan_images(root, names)
print(f"fish sample: {len(names)} PNGs scanned in {time.perf_counter() - start:.1f} s", flush=True)
digests = [r.digest for r in scan.records]
first = group_near_duplicates(scan.hashes[:, :DIHEDRAL], COPY_BITS)
print(f"flips/quarter turns within {COPY_BITS} bits: {len(names) - len(np.unique(first))} of {len(names)} share", flush=True)
out = {}
ways = {
    "every image embedded": lambda: image_embeddings(root, names, digests, features, None),
    "flips and quarter turns shared (the judge now)": lambda: image_embeddings(root, names, digests, features, None, scan.hashes),
    "issue 36's judge (16 views, 160 px, eager)": lambda: issue_baseline([root / n for n in names]),
}


def timed(name):
    def once():
        t = time.perf_counter(); out[name] = ways[name](); return time.perf_counter() - t
    return once


seconds = interleave({k: timed(k) for k in ways}, 2)
base = seconds["issue 36's judge (16 views, 160 px, eager)"]
for k, s in seconds.items():
    print(f"| {k} | {1000 * statistics.median(s) / len(names):.1f} ms/img | x{paired_ratio(base, s):.2f} faster than issue 36's |", flush=True)
judge = judge_similarity([str(fish.root / p) for p in fish.paths], labels) >= 0.9
hash_groups = group_near_duplicates(scan.hashes, 40)
same, jt = labels[:, None] == labels[None, :], np.triu(judge, 1)
for k in list(ways)[:2]:
    sim = out[k] @ out[k].T
    for t in (0.93, 0.94, 0.95):
        pairs = similar_pairs(out[k], t)
        groups = join_groups(hash_groups, pairs)
        try:
            leaks = [leak(assign_splits(labels, groups, SplitConfig(seed=s)), judge) for s in range(10)]
            result = f"leak {100 * np.mean(leaks):.1f} % (worst {100 * max(leaks):.1f} %)"
        except DataError:
            result = "groups too large to split"
        print(f"fish, {k}, cosine >= {t}: {len(pairs)} pairs, {int(np.triu((sim >= t) & ~same, 1).sum())} across species, "
              f"correlation judge's {int(jt.sum())} copies found {int((np.triu(sim >= t, 1) & jt).sum())}, largest group "
              f"{np.bincount(groups).max()}, {result}", flush=True)

# 2. full butterfly + planted twins
bf = find_butterfly_images(sys.argv[2])
rng = np.random.default_rng(0)
chosen = rng.choice(len(bf.paths), 400, replace=False)
work = Path(tempfile.mkdtemp())
(work / "photos").symlink_to(bf.root.resolve())
(work / "twins").mkdir()
for k, i in enumerate(chosen):
    image = Image.open(bf.root / bf.paths[i]).convert("RGB").rotate(float(rng.uniform(0, 360)), resample=Image.BILINEAR)
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    image.save(work / "twins" / f"{k}.jpg", "JPEG", quality=90)
paths = [f"photos/{p}" for p in bf.paths] + [f"twins/{k}.jpg" for k in range(len(chosen))]
start = time.perf_counter()
scan = scan_images(work, paths)
print(f"butterfly: {len(paths)} images scanned in {time.perf_counter() - start:.0f} s", flush=True)
start = time.perf_counter()
own = image_embeddings(work, paths, [r.digest for r in scan.records], features, None)
print(f"every image embedded in {time.perf_counter() - start:.0f} s", flush=True)
first = group_near_duplicates(scan.hashes[:, :DIHEDRAL], COPY_BITS)
n, blabels = len(bf.paths), np.array(bf.labels)
for k, vectors in (("every image embedded", own), ("flips and quarter turns shared", own[first])):
    twin_sim = np.einsum("ij,ij->i", vectors[chosen], vectors[n:])
    photo_pairs = [(i, j) for i, j, _ in similar_pairs(vectors[:n], 0.94)]
    cross = sum(blabels[i] != blabels[j] for i, j in photo_pairs)
    print(f"butterfly, {k}: {len(np.unique(first)) if 'shared' in k else len(paths)} of {len(paths)} embedded; twins: least "
          f"{twin_sim.min():.4f}, 1st pct {np.percentile(twin_sim, 1):.4f}, {(twin_sim >= 0.94).sum()} of {len(chosen)} at >= 0.94; "
          f"photos at >= 0.94: {len(photo_pairs)} pairs, {cross} across species", flush=True)

"""Issue 36 part 1: how many views, at what side, does the embedding judge need? Planted twins (real
butterfly photos turned by a random angle, mirrored half the time and saved again as JPEG, as the fish
set's copies were made) against the distinct photos of the full butterfly set, for the judge's 16 views
(8 turns of 45 degrees, as is and mirrored) and three subsets of them, each at 160 and 128 px. Per view
set: the least and 1st-percentile similarity of a twin to its original, the threshold that keeps the
16-view judge's twin recall at 0.94, and the pairs of distinct photos it joins there (against the
16-view judge's at 0.94). Run from the repository root:
    python docs/logs/judge_views.py ../shared/data/butterfly_full 400
"""

import io
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fgclass.data.embeddings import similar_pairs, views
from fgclass.data.images import load_rgb
from fgclass.data.sources import find_butterfly_images
from fgclass.models.features import packaged_lite0_features

torch.set_num_threads(2)
root, planted = Path(sys.argv[1]), int(sys.argv[2])
images = find_butterfly_images(root)
rng = np.random.default_rng(0)
chosen = rng.choice(len(images.paths), planted, replace=False)


def twin(rgb: np.ndarray) -> np.ndarray:
    image = Image.fromarray(rgb).rotate(float(rng.uniform(0, 360)), resample=Image.BILINEAR)
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return np.asarray(Image.open(buffer).convert("RGB"))


features = packaged_lite0_features()
SIDES = (160, 128)
SETS = {  # indices into the 16 views: 0-7 the turns by 0, 45, ... 315 degrees, 8-15 the same mirrored
    "16: 8 turns x mirror (today)": list(range(16)),
    "8: 8 turns": list(range(8)),
    "8: 4 turns x mirror": [0, 2, 4, 6, 8, 10, 12, 14],
    "4: 4 turns": [0, 2, 4, 6],
}
per_view = {s: [] for s in SIDES}
seconds = dict.fromkeys(SIDES, 0.0)
start = time.monotonic()
rgbs_all = [load_rgb(images.root / p) for p in images.paths]
twins = [twin(rgbs_all[i]) for i in chosen]
batch_images = rgbs_all + twins
with torch.inference_mode():
    for first in range(0, len(batch_images), 8):
        rgbs = batch_images[first : first + 8]
        for s in SIDES:
            t = time.perf_counter()
            v = torch.from_numpy(np.concatenate([views(rgb, side=s, mirror=True) for rgb in rgbs])).permute(0, 3, 1, 2)
            e = torch.nn.functional.normalize(features(v).float(), dim=1)
            per_view[s].append(e.view(len(rgbs), 16, -1).numpy())
            seconds[s] += time.perf_counter() - t
n = len(images.paths)
print(f"{n} photos + {planted} planted twins, embedded in {time.monotonic() - start:.0f} s; "
      + ", ".join(f"{s} px: {1000 * seconds[s] / len(batch_images):.1f} ms/img for 16 views" for s in SIDES))


def pooled(s: int, idx: list[int]) -> np.ndarray:
    x = np.concatenate(per_view[s])[:, idx].mean(1)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


reference = pooled(160, SETS["16: 8 turns x mirror (today)"])
ref_twin = np.einsum("ij,ij->i", reference[chosen], reference[n:])
ref_recall = float((ref_twin >= 0.94).mean())
ref_pairs = {(i, j) for i, j, _ in similar_pairs(reference[:n], 0.94)}
print(f"today's judge (16 views, 160 px) at 0.94: twin recall {ref_recall:.4f}, {len(ref_pairs)} pairs of photos")
print("| views | side | cost (x today) | least twin sim | 1 % twin sim | threshold at today's recall | "
      "pairs of photos there | shared with today's |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for s in SIDES:
    for name, idx in SETS.items():
        e = pooled(s, idx)
        sims = np.einsum("ij,ij->i", e[chosen], e[n:])
        kept = int(np.ceil(ref_recall * planted))  # the most similar twins today's judge finds as many of
        threshold = float(np.sort(sims)[::-1][kept - 1])
        pairs = {(i, j) for i, j, _ in similar_pairs(e[:n], threshold)}
        cost = len(idx) / 16 * (s / 160) ** 2
        print(f"| {name} | {s} | {cost:.2f} | {sims.min():.4f} | {np.quantile(sims, 0.01):.4f} | {threshold:.4f} | "
              f"{len(pairs)} | {len(pairs & ref_pairs)} |", flush=True)

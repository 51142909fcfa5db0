"""Polar (rotation-invariant by construction) views for the embedding judge: an experiment on the samples."""
# Run from the repository root: mkdir -p /tmp/fgclass_polar; PYTHONPATH=. python docs/logs/duplicates_views_polar.py fish [config ...]
import os, sys, time
import cv2, numpy as np, torch
from PIL import Image
from benchmarks.validate_near_duplicates import judge_similarity, leak
from fgclass.data.duplicates import group_near_duplicates, join_groups
from fgclass.data.images import load_rgb
from fgclass.data.scan import image_hashes
from fgclass.data.sources import find_butterfly_images, find_fish_images
from fgclass.data.splits import SplitConfig, assign_splits
from fgclass.errors import DataError
from fgclass.models.features import _network
from fgclass.models.classifier import normalize

torch.set_num_threads(2)
OUT = "/tmp/fgclass_polar"  # judge, hashes and embeddings are kept here between runs
model, mean, std = _network("timm/efficientnet_lite0")

def polar(rgb, side, angles, radii):
    h, w = rgb.shape[:2]; s = min(h, w); t, l = (h - s) // 2, (w - s) // 2
    sq = cv2.resize(rgb[t:t + s, l:l + s], (side, side), interpolation=cv2.INTER_AREA)
    c = ((side - 1) / 2, (side - 1) / 2)
    # rows: angle (0..360), cols: radius (0..side/2)
    return cv2.warpPolar(sq, (radii, angles), c, side / 2, cv2.WARP_POLAR_LINEAR | cv2.INTER_LINEAR)

@torch.inference_mode()
def embed(rgbs, side, angles, radii, pad, mirror):
    out = []
    for i in range(0, len(rgbs), 16):
        ps = [polar(r, side, angles, radii) for r in rgbs[i:i + 16]]
        views = []
        for p in ps:
            for q in ((p, p[::-1]) if mirror else (p,)):
                views.append(np.concatenate([q[-pad:], q, q[:pad]]) if pad else q)
        x = normalize(torch.from_numpy(np.stack(views)).permute(0, 3, 1, 2).contiguous(), mean, std)
        fmap = model.forward_features(x)  # (V, C, H', W')
        cut = pad // 32
        fmap = fmap[:, :, cut: fmap.shape[2] - cut] if cut else fmap
        f = torch.nn.functional.normalize(fmap.mean((2, 3)), dim=1)
        k = 2 if mirror else 1
        f = torch.nn.functional.normalize(f.view(-1, k, f.shape[1]).mean(1), dim=1)
        out.append(f.numpy())
    return np.concatenate(out)

CONFIGS = {  # side of the disc square, angle rows, radius cols, circular pad rows, mirror
    "p160_256x80_pad64_m": (160, 256, 80, 64, True),
    "p160_256x80_pad0_m": (160, 256, 80, 0, True),
    "p128_192x64_pad64_m": (128, 192, 64, 64, True),
    "p224_384x112_pad64_m": (224, 384, 112, 64, True),
}
name = sys.argv[1]; cfgs = sys.argv[2:] or list(CONFIGS)
images = (find_fish_images if name == "fish" else find_butterfly_images)(f"../shared/data/{name}")
labels = np.array(images.labels); n = len(labels)
paths = [str(images.root / p) for p in images.paths]
jf = f"{OUT}/{name}_judge.npy"
if os.path.exists(jf): judge = np.load(jf)
else: judge = judge_similarity(paths, labels) >= 0.9; np.save(jf, judge)
hf = f"{OUT}/{name}_hashes.npy"
if os.path.exists(hf): hashes = np.load(hf)
else: hashes = np.stack([image_hashes(Image.open(p).convert("RGB")) for p in paths]); np.save(hf, hashes)
hg = group_near_duplicates(hashes, 40)
same = labels[:, None] == labels[None, :]; eye = np.eye(n, dtype=bool); jt = np.triu(judge, 1)
print(name, n, "judge pairs", int(jt.sum()), "hash-only leak", np.mean([leak(assign_splits(labels, hg, SplitConfig(seed=s)), judge) for s in range(10)]), flush=True)
t0 = time.time(); rgbs = [load_rgb(p) for p in paths]; print(f"decode {1000*(time.time()-t0)/n:.1f} ms/img", flush=True)
for cfg in cfgs:
    t = time.time(); e = embed(rgbs, *CONFIGS[cfg]); ms = 1000 * (time.time() - t) / n
    np.save(f"{OUT}/{name}_{cfg}.npy", e); sim = e @ e.T
    cp = sim[jt]; other = sim[np.triu(same & ~judge & ~eye, 1)]
    print(f"{cfg}: {ms:.1f} ms/img; judge-pair cos min {cp.min():.3f} p1 {np.percentile(cp,1):.3f} p5 {np.percentile(cp,5):.3f}; other same-class p99 {np.percentile(other,99):.3f} max {other.max():.3f}; cross max {sim[~same].max():.3f}", flush=True)
    for th in [float(x) for x in os.environ.get("TS", "0.85 0.88 0.9 0.92 0.94 0.96").split()]:
        pairs = [(int(i), int(j), 0) for i, j in zip(*np.nonzero(np.triu(sim >= th, 1)))]
        g = join_groups(hg, pairs)
        try:
            lk = [leak(assign_splits(labels, g, SplitConfig(seed=s)), judge) for s in range(10)]
            r = f"leak {100*np.mean(lk):.1f}% max {100*max(lk):.1f}%"
        except DataError: r = "no split"
        print(f"   t={th}: {len(pairs)} pairs, {int(np.triu((sim>=th)&~same,1).sum())} cross, judge found {int((np.triu(sim>=th,1)&jt).sum())}, largest {np.bincount(g).max()}, {r}", flush=True)

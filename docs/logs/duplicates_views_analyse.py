import sys, numpy as np
from benchmarks.validate_near_duplicates import judge_similarity, leak
from fgclass.data.duplicates import group_near_duplicates, join_groups
from fgclass.data.sources import find_fish_images, find_butterfly_images
from fgclass.data.placement import assign_splits
from fgclass.data.splits import SplitConfig
from fgclass.errors import DataError
name = sys.argv[1]; cfgs = sys.argv[2:]
images = (find_fish_images if name == "fish" else find_butterfly_images)(f"../shared/data/{name}")
labels = np.array(images.labels); n = len(labels)
import os
jf = f"/tmp/fgclass_views/{name}_judge.npy"
if os.path.exists(jf): judge = np.load(jf)
else: judge = judge_similarity([str(images.root / p) for p in images.paths], labels) >= 0.9; np.save(jf, judge)
hashes = np.load(f"/tmp/fgclass_views/{'butterfly_full' if name=='butterfly_full' else name}_hashes.npy")
hg = group_near_duplicates(hashes, 40)
same = labels[:, None] == labels[None, :]; eye = np.eye(n, dtype=bool); jt = np.triu(judge, 1)
print(name, n, "judge pairs", int(jt.sum()), "hash-only leak", np.mean([leak(assign_splits(labels, hg, SplitConfig(seed=s)), judge) for s in range(10)]))
for cfg in cfgs:
    e = np.load(f"/tmp/fgclass_views/{name}_{cfg}.npy"); sim = e @ e.T
    cp = sim[jt]; other = sim[np.triu(same & ~judge & ~eye, 1)]
    print(f"{cfg}: judge-pair cos min {cp.min():.3f} p1 {np.percentile(cp,1):.3f} p5 {np.percentile(cp,5):.3f}; other same-class p99 {np.percentile(other,99):.3f} max {other.max():.3f}; cross max {sim[~same].max():.3f}")
    for t in [float(x) for x in __import__("os").environ.get("TS", "0.85 0.88 0.9 0.92 0.94 0.96").split()]:
        pairs = [(int(i), int(j), 0) for i, j in zip(*np.nonzero(np.triu(sim >= t, 1)))]
        g = join_groups(hg, pairs)
        try:
            lk = [leak(assign_splits(labels, g, SplitConfig(seed=s)), judge) for s in range(10)]
            r = f"leak {100*np.mean(lk):.1f}% max {100*max(lk):.1f}%"
        except DataError: r = "no split"
        print(f"   t={t}: {len(pairs)} pairs, {int(np.triu((sim>=t)&~same,1).sum())} cross, judge found {int((np.triu(sim>=t,1)&jt).sum())}, largest {np.bincount(g).max()}, {r}")

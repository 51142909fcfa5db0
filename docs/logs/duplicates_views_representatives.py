import sys, numpy as np
from benchmarks.validate_near_duplicates import leak
from fgclass.data.duplicates import group_near_duplicates, join_groups
from fgclass.data.splits import SplitConfig, assign_splits
from fgclass.errors import DataError
labels = np.load("/tmp/fgclass_views/fish_labels.npy"); judge = np.load("/tmp/fgclass_views/fish_judge.npy")
hg = group_near_duplicates(np.load("/tmp/fgclass_views/fish_hashes.npy"), 40); reps = np.unique(hg)
for name in sys.argv[1:]:
    e = np.load(f"/tmp/fgclass_views/{name}.npy")
    if len(e) != len(reps): e = e[reps]  # full-set embeddings: keep the representatives
    sim = e @ e.T; rl = labels[reps]
    for t in (0.92, 0.93, 0.94, 0.95, 0.96):
        i, j = np.nonzero(np.triu(sim >= t, 1))
        g = join_groups(hg, [(int(reps[a]), int(reps[b]), 0) for a, b in zip(i, j)])
        cross = int((rl[i] != rl[j]).sum())
        try:
            lk = [leak(assign_splits(labels, g, SplitConfig(seed=s)), judge) for s in range(10)]
            r = f"leak {100*np.mean(lk):.1f}% max {100*max(lk):.1f}%"
        except DataError: r = "no split"
        print(f"{name} reps t={t}: {len(i)} links, {cross} cross, largest {np.bincount(g).max()}, {r}")

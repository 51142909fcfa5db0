"""The one-image-group fast path of fgclass.data.placement.place_groups against the code before it
(commit 9cc4378's fgclass/data/splits.py, saved as /tmp/prof/splits_old.py): identical splits on 120 generated
datasets, then both at 100,000 one-image groups (300 classes). Run beside a training at nice 19, so the times
are slowed alike; the ratio is what counts.
    git show 9cc4378:fgclass/data/splits.py > /tmp/prof/splits_old.py
    python docs/logs/placement_singletons_same.py
Output (2026-12-07, 2-core AMD EPYC, beside a training): identical on 120 (a first run, against
fgclass.data.splits before the move, also passed); old 41.5 s / new 4.7 s in the first run, 31.7 / 7.4 s in
the second."""
import sys, time, numpy as np
sys.path.insert(0, "/tmp/prof")
import splits_old
from fgclass.data import placement as new
rng = np.random.default_rng(1)
for trial in range(120):
    n = int(rng.integers(30, 3000)); k = int(rng.integers(1, 40))
    labels = [f"c{v}" for v in rng.integers(0, k, n)]
    kind = trial % 4
    if kind == 0: groups = None
    elif kind == 1: groups = rng.integers(0, max(1, n // 3), n)
    elif kind == 2: groups = np.arange(n); groups[rng.integers(0, n, n // 5)] = rng.integers(0, n, n // 5)
    else: groups = rng.integers(0, n, n)
    fr = np.array([0.8, 0.1, 0.1]) if trial % 2 else np.array([0.7, 0.15, 0.15])
    names = ("train", "val", "test")
    try:
        a = splits_old.place_groups(labels, groups, names, fr, trial)
    except Exception as e:
        a = type(e).__name__
    try:
        b = new.place_groups(labels, groups, names, fr, trial)
    except Exception as e:
        b = type(e).__name__
    assert (a == b) if isinstance(a, str) or isinstance(b, str) else (a == b).all(), trial
print("identical on", trial + 1)
labels = [f"c{v}" for v in rng.integers(0, 300, 100000)]
for mod in (splits_old, new):
    t = time.perf_counter(); mod.place_groups(labels, None, ("train","val","test"), np.array([.8,.1,.1]), 0); print(mod.__name__, time.perf_counter() - t)

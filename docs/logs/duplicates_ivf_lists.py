"""Issue 29: fewer, larger inverted lists with fewer probes, against today's 2 sqrt(N) lists x 32 probes.

Recall over every planted pair (benchmarks.bench_duplicates' generated hashes), wall seconds on both cores.

    python docs/logs/duplicates_ivf_lists.py N factor:probes [factor:probes ...]
"""

import math
import sys
import time

import faiss
import numpy as np

from benchmarks.bench_duplicates import planted_hashes
from fgclass.data import duplicates
from fgclass.data.duplicates import DEFAULT_THRESHOLD, near_duplicate_pairs, pair_distances

n = int(sys.argv[1])
settings = [(float(f), int(p)) for f, p in (a.split(":") for a in sys.argv[2:])]
faiss.omp_set_num_threads(2)
planted: list = []
hashes = planted_hashes(n, np.random.default_rng(n), planted)
pairs = np.array(sorted({(min(a, b), max(a, b)) for a, b in planted}), dtype=np.int64)
distance = np.minimum(pair_distances(hashes, pairs), pair_distances(hashes, pairs[:, ::-1]))
truth = {(int(a), int(b)) for (a, b), d in zip(pairs, distance) if d <= DEFAULT_THRESHOLD}
print(f"{n:,} images, {len(truth):,} planted pairs within {DEFAULT_THRESHOLD} bits", flush=True)
original = duplicates.binary_index
for factor, probes in settings:

    def make(codes, images, factor=factor, probes=probes):
        if images <= duplicates.EXHAUSTIVE_UP_TO:
            return original(codes, images)
        index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(256), 256, max(1, round(factor * math.sqrt(images))))
        index.cp.niter = 10
        index.cp.max_points_per_centroid = 64
        index.train(codes)
        index.nprobe = probes
        return index

    duplicates.binary_index = make
    start, cpu = time.perf_counter(), time.process_time()
    found = {(i, j) for i, j, _ in near_duplicate_pairs(hashes, DEFAULT_THRESHOLD)}
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    missed = len(truth - found)
    print(
        f"lists {factor:g} sqrtN, {probes} probes: {wall:.1f} s wall ({cpu:.1f} s CPU), {len(found):,} pairs, "
        f"planted recall {100 * (1 - missed / len(truth)):.3f} % ({missed} missed)",
        flush=True,
    )

"""Issue 29: the hash search at 1 M generated images, recall over every planted copy (not a sample of rows).

benchmarks.bench_duplicates' planted hashes (10 % copies of another image, up to 40 bits flipped); a planted
pair counts where its exact distance (either image's stored hash against the other's variants, as fgclass
defines it) is within the threshold; the search runs at each probe count given, both cores.

    python docs/logs/duplicates_planted_recall_1m.py 1000000 32 24
"""

import sys
import time

import faiss
import numpy as np

from benchmarks.bench_duplicates import planted_hashes
from fgclass.data import duplicates
from fgclass.data.duplicates import DEFAULT_THRESHOLD, near_duplicate_pairs, pair_distances

n, probes = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
faiss.omp_set_num_threads(2)
planted: list = []
hashes = planted_hashes(n, np.random.default_rng(n), planted)
pairs = np.array(sorted({(min(a, b), max(a, b)) for a, b in planted}), dtype=np.int64)
distance = np.minimum(pair_distances(hashes, pairs), pair_distances(hashes, pairs[:, ::-1]))
truth = {(int(a), int(b)) for (a, b), d in zip(pairs, distance) if d <= DEFAULT_THRESHOLD}
print(f"{n:,} images, {len(truth):,} planted pairs within {DEFAULT_THRESHOLD} bits", flush=True)
for probe in probes:
    duplicates.PROBES = probe
    start, cpu = time.perf_counter(), time.process_time()
    found = {(i, j) for i, j, _ in near_duplicate_pairs(hashes, DEFAULT_THRESHOLD)}
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    missed = len(truth - found)
    print(
        f"{probe} probes: {wall:.0f} s wall ({cpu:.0f} s CPU), {len(found):,} pairs, planted recall "
        f"{100 * (1 - missed / len(truth)):.3f} % ({missed} missed)",
        flush=True,
    )

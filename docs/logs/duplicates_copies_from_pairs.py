"""Issue 29 / 36: the judge's flips and quarter turns taken from the split's hash pairs instead of a second
FAISS search of the flip/rotation hashes at COPY_BITS (what fgclass ran until 2026-12-08). Generated hashes
(benchmarks.bench_duplicates.planted_hashes, plus 10 % copies with 0-8 bits flipped so that some share),
both cores, wall seconds, and whether the two give the same groups.

    python docs/logs/duplicates_copies_from_pairs.py N [N ...]
"""

import sys
import time

import faiss
import numpy as np

from benchmarks.bench_duplicates import planted_hashes
from fgclass.data.duplicates import (
    DEFAULT_THRESHOLD,
    copy_groups,
    group_ids,
    group_near_duplicates,
    near_duplicate_pairs,
)
from fgclass.data.embeddings import COPY_BITS
from fgclass.data.scan import DIHEDRAL

faiss.omp_set_num_threads(2)
for n in [int(a) for a in sys.argv[1:]]:
    rng = np.random.default_rng(n)
    hashes = planted_hashes(n, rng)
    targets = rng.choice(n, n // 10, replace=False)
    sources = rng.integers(n, size=len(targets))
    hashes[targets, :DIHEDRAL] = hashes[sources][:, rng.permutation(DIHEDRAL)]
    for target in targets.tolist():
        for bit in rng.choice(256, int(rng.integers(0, 9)), replace=False).tolist():
            hashes[target, :DIHEDRAL, bit // 64] ^= np.uint64(1 << (bit % 64))
    start = time.perf_counter()
    groups_before = group_near_duplicates(hashes, DEFAULT_THRESHOLD)
    copies_before = group_near_duplicates(hashes[:, :DIHEDRAL], COPY_BITS)
    before = time.perf_counter() - start
    start = time.perf_counter()
    pairs = near_duplicate_pairs(hashes, DEFAULT_THRESHOLD)
    groups_now, copies_now = group_ids(n, pairs), copy_groups(hashes, pairs, COPY_BITS)
    now = time.perf_counter() - start
    print(
        f"{n:,} images: two searches {before:.1f} s, one search + copies from its pairs {now:.1f} s "
        f"({before / now:.2f}x); {n - len(set(copies_now.tolist())):,} share an embedding; same groups: "
        f"{np.array_equal(groups_before, groups_now)}, same copies: {np.array_equal(copies_before, copies_now)}",
        flush=True,
    )

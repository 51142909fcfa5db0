"""Issue 29: the embedding index's growth. Today: an inverted file of 2 sqrt(N) lists (flat coarse
quantizer), 32 probed. Tried: lists in proportion to N (about 100 embeddings per list) behind an HNSW
coarse quantizer, so that a query's cost stays near constant as N grows.

Generated embeddings (benchmarks.bench_duplicates.planted_embeddings), recall against the brute force on
sampled rows, wall seconds on both cores.

    python docs/logs/duplicates_embedding_lists.py ROWS N [N ...]
"""

import math
import sys
import time

import faiss
import numpy as np

from benchmarks.bench_duplicates import COSINE, brute_embedding_pairs, planted_embeddings, _sample_starts, _BLOCK
from fgclass.data import embeddings
from fgclass.data.embeddings import similar_pairs

rows, sizes = int(sys.argv[1]), [int(a) for a in sys.argv[2:]]
faiss.omp_set_num_threads(2)


def hnsw_ivf(vectors: np.ndarray, per_list: int, probes: int) -> faiss.Index:
    dim = vectors.shape[1]
    lists = max(1, round(len(vectors) / per_list))
    quantizer = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter, index.cp.max_points_per_centroid = 10, 64
    index.train(vectors)
    index.nprobe = probes
    return index


def search(vectors: np.ndarray, index: faiss.Index | None) -> set:
    if index is None:
        return {(i, j) for i, j, _ in similar_pairs(vectors, COSINE)}
    index.add(vectors)
    lims, _, ids = index.range_search(vectors, COSINE - 1e-4)
    found = np.sort(np.stack([np.repeat(np.arange(len(vectors)), np.diff(lims).astype(np.int64)), ids], 1), 1)
    found = found[found[:, 0] < found[:, 1]]
    keep = np.einsum("ij,ij->i", vectors[found[:, 0]], vectors[found[:, 1]]) >= COSINE
    return {(int(i), int(j)) for i, j in found[keep]}


for n in sizes:
    vectors = planted_embeddings(n, np.random.default_rng(n))
    reference, _ = brute_embedding_pairs(vectors, rows if n > 10_000 else 0)
    sampled = {i for s in _sample_starts(n, rows if n > 10_000 else 0) for i in range(s, min(s + _BLOCK, n))}
    print(f"{n:,} embeddings, {len(reference):,} brute-force pairs in the sampled rows", flush=True)
    for name, make in [
        ("today: 2 sqrtN lists, 32 probes", lambda v: None),
        ("HNSW quantizer, N/100 lists, 8 probes", lambda v: hnsw_ivf(v, 100, 8)),
        ("HNSW quantizer, N/100 lists, 16 probes", lambda v: hnsw_ivf(v, 100, 16)),
        ("HNSW quantizer, N/200 lists, 8 probes", lambda v: hnsw_ivf(v, 200, 8)),
    ]:
        start = time.perf_counter()
        found = search(vectors, make(vectors))
        wall = time.perf_counter() - start
        mine = {(i, j) for i, j in found if i in sampled}
        print(f"  {name}: {wall:.1f} s wall, recall {100 * len(mine & reference) / max(1, len(reference)):.2f} %, "
              f"{len(found):,} pairs", flush=True)

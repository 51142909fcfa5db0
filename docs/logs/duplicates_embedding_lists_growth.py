"""Issue 29: embedding lists in proportion to N behind an HNSW coarse quantizer, cheap k-means, at growing N;
recall against the brute force on sampled rows (benchmarks.bench_duplicates.planted_embeddings).

    python docs/logs/duplicates_embedding_lists_growth.py ROWS N [N ...]
"""
import sys, time
import faiss, numpy as np
from benchmarks.bench_duplicates import COSINE, brute_embedding_pairs, planted_embeddings, _sample_starts, _BLOCK
faiss.omp_set_num_threads(2)
rows = int(sys.argv[1])
for n in [int(a) for a in sys.argv[2:]]:
    vectors = planted_embeddings(n, np.random.default_rng(n))
    t = time.perf_counter(); reference, _ = brute_embedding_pairs(vectors, rows); print(f"{n}: brute {time.perf_counter()-t:.0f}s {len(reference)}", flush=True)
    sampled = {i for s in _sample_starts(n, rows) for i in range(s, min(s + _BLOCK, n))}
    dim = vectors.shape[1]
    for per_list, probes, niter, mppc in [(50, 8, 4, 16), (50, 12, 0, 1), (50, 8, 2, 8)]:
        lists = round(n / per_list)
        q = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        ix = faiss.IndexIVFFlat(q, dim, lists, faiss.METRIC_INNER_PRODUCT)
        ix.cp.niter, ix.cp.max_points_per_centroid = niter, mppc
        ix.cp.min_points_per_centroid = 1
        t0 = time.perf_counter(); ix.train(vectors); t1 = time.perf_counter(); ix.add(vectors); t2 = time.perf_counter()
        ix.nprobe = probes
        lims, _, ids = ix.range_search(vectors, COSINE - 1e-4); t3 = time.perf_counter()
        found = np.sort(np.stack([np.repeat(np.arange(n), np.diff(lims).astype(np.int64)), ids], 1), 1)
        found = {(int(i), int(j)) for i, j in found[found[:, 0] < found[:, 1]] if i in sampled}
        print(f"  N/{per_list} lists, {probes} probes, niter {niter}, {mppc}/centroid: total {t3-t0:.1f} s (train {t1-t0:.1f} add {t2-t1:.1f} search {t3-t2:.1f}), recall {100*len(found & reference)/len(reference):.2f} % of {len(reference)}", flush=True)
    del vectors

"""The FAISS phases of near_duplicate_pairs on generated hashes (issue 29): queries in index order
or sorted by their nearest inverted list, and the IVF built on the first WORDS 64-bit words only.
    PYTHONPATH=. python docs/logs/duplicates_ivf_locality.py N PROBES plain,sorted [WORDS]"""
import math, sys, time
import numpy as np
import faiss
from benchmarks.bench_duplicates import planted_hashes
from fgclass.data import duplicates as d
from fgclass.data.scan import DIHEDRAL

n = int(sys.argv[1]); probes = int(sys.argv[2]); modes = sys.argv[3].split(","); words = int(sys.argv[4]) if len(sys.argv) > 4 else 4
h = planted_hashes(n, np.random.default_rng(0))

def run(queries, indexed, sort, threshold=40):
    t = time.perf_counter()
    images, variants = indexed.shape[:2]
    codes = d._codes(np.ascontiguousarray(queries[..., :words]))
    bits = codes.shape[1] * 8
    index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(bits), bits, max(1, round(2 * math.sqrt(images))))
    index.cp.niter = 10; index.cp.max_points_per_centroid = 64
    index.train(codes); index.nprobe = probes
    index.add(d._codes(np.ascontiguousarray(indexed[..., :words]))); t1 = time.perf_counter()
    order = np.arange(images)
    if sort:
        _, nearest = index.quantizer.search(codes, 1)
        order = np.argsort(nearest[:, 0], kind="stable")
    t2 = time.perf_counter()
    lims, _, ids = index.range_search(np.ascontiguousarray(codes[order]), threshold + 1); t3 = time.perf_counter()
    rows = order[np.repeat(np.arange(images), np.diff(lims).astype(np.int64))]
    print(f"   build {t1-t:.1f} sort {t2-t1:.1f} search {t3-t2:.1f}", flush=True)
    return np.stack([rows, ids // variants], axis=1)

for mode in modes:
    sort = mode == "sorted"
    t0 = time.perf_counter(); c0 = time.process_time()
    found = [run(h[:, 0], h[:, :DIHEDRAL], sort), run(h[:, DIHEDRAL], h[:, DIHEDRAL:], sort)]
    t1 = time.perf_counter()
    pairs = np.sort(np.concatenate(found), axis=1)
    print("   candidates", len(pairs), flush=True)
    pairs = np.unique(pairs[pairs[:, 0] < pairs[:, 1]], axis=0)
    t2 = time.perf_counter()
    dist = d.pair_distances(h, pairs)
    print(f"   unique {t2-t1:.1f} distances {time.perf_counter()-t2:.1f} on {len(pairs)}", flush=True)
    print(f"n={n} probes={probes} {mode}: wall {time.perf_counter()-t0:.1f} s cpu {time.process_time()-c0:.1f} s pairs {int((dist<=40).sum())}", flush=True)

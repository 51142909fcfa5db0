"""Issue 29: the hash search at 1 M generated images with lists_factor sqrt(N) lists and the given probes, each stage timed.

    python docs/logs/duplicates_ivf_lists_1m.py 1000000 1 16
"""
import math, sys, time, faulthandler
import faiss, numpy as np
from benchmarks.bench_duplicates import planted_hashes
from fgclass.data import duplicates
faiss.omp_set_num_threads(2)
faulthandler.dump_traceback_later(120, repeat=True)
n = int(sys.argv[1]); factor = float(sys.argv[2]); probes = int(sys.argv[3])
h = planted_hashes(n, np.random.default_rng(n))
def make(codes, images):
    t = time.perf_counter()
    ix = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(256), 256, round(factor * math.sqrt(images)))
    ix.cp.niter = 10; ix.cp.max_points_per_centroid = 64; ix.train(codes); ix.nprobe = probes
    print(f"train {time.perf_counter()-t:.1f}s", flush=True); return ix
duplicates.binary_index = make
orig = duplicates._candidates
def cand(*a):
    t = time.perf_counter(); r = orig(*a); print(f"candidates {time.perf_counter()-t:.1f}s {len(r)}", flush=True); return r
duplicates._candidates = cand
t = time.perf_counter(); p = duplicates.near_duplicate_pairs(h, 40); print(f"total {time.perf_counter()-t:.1f}s {len(p)}")

import sys, time, math
import numpy as np, faiss
sys.path.insert(0, "/work/main")
from benchmarks.bench_duplicates import planted_hashes, brute_hash_pairs
from fgclass.data.duplicates import _codes, DEFAULT_THRESHOLD
from fgclass.data.scan import DIHEDRAL
faiss.omp_set_num_threads(1)
n = int(sys.argv[1]); mode = sys.argv[2]
rng = np.random.default_rng(n)
h = planted_hashes(n, rng)
ref, _ = brute_hash_pairs(h, int(__import__("os").environ.get("ROWS", 1024)))
def cand(q, idx_codes, variants, make):
    t = time.process_time()
    index = make(q)
    index.add(idx_codes)
    tb = time.process_time() - t
    lims, D, I = index.range_search(q, DEFAULT_THRESHOLD + 1)
    rows = np.repeat(np.arange(len(q)), np.diff(lims).astype(np.int64))
    return np.stack([rows, I // variants], 1), tb
def mk(q):
    if mode == "ivf":
        nl = int(sys.argv[3]); npb = int(sys.argv[4])
        quant = faiss.IndexBinaryFlat(256) if len(sys.argv) < 6 else faiss.IndexBinaryHNSW(256, 16)
        ix = faiss.IndexBinaryIVF(quant, 256, nl); ix.cp.niter = 10; ix.cp.max_points_per_centroid = 64
        ix.train(q); ix.nprobe = npb; return ix
    if mode == "mh":
        nh, b, nf = map(int, sys.argv[3:6]); ix = faiss.IndexBinaryMultiHash(256, nh, b); ix.nflip = nf; return ix
t0 = time.process_time()
q = _codes(h[:, 0]); c = _codes(h[:, :DIHEDRAL])
p1, tb = cand(q, c, 8, mk)
q2 = _codes(h[:, DIHEDRAL]); c2 = _codes(h[:, DIHEDRAL:])
p2, _ = cand(q2, c2, 4, mk)
p = np.sort(np.concatenate([p1, p2]), 1); p = np.unique(p[p[:, 0] < p[:, 1]], axis=0)
from fgclass.data.duplicates import pair_distances
d = pair_distances(h, p); keep = p[d <= DEFAULT_THRESHOLD]
el = time.process_time() - t0
mine = {(int(i), int(j)) for i, j in keep}
print(f"{mode} {sys.argv[3:]} n={n} cpu={el:.1f}s build={tb:.1f} cands={len(p)} recall={len(mine & ref)/len(ref):.4f} of {len(ref)}", flush=True)

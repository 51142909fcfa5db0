import sys, time
import numpy as np, faiss
sys.path.insert(0, "/work/main")
from benchmarks.bench_duplicates import planted_hashes, brute_hash_pairs, _sample_starts, _BLOCK
from fgclass.data import duplicates
from fgclass.data.duplicates import near_duplicate_pairs, DEFAULT_THRESHOLD
faiss.omp_set_num_threads(1)
n = int(sys.argv[1]); rows = int(sys.argv[2])
h = planted_hashes(n, np.random.default_rng(n))
t = time.process_time(); ref, _ = brute_hash_pairs(h, rows); print(f"brute {time.process_time()-t:.0f}s, {len(ref)} pairs", flush=True)
sampled = {i for s in _sample_starts(n, rows) for i in range(s, min(s + _BLOCK, n))}
orig = duplicates.binary_index
for factor, probes in [(2, 16), (2, 32), (4, 32), (4, 24), (3, 24)]:
    def make(codes, images, factor=factor, probes=probes):
        import math
        if images <= duplicates.EXHAUSTIVE_UP_TO: return faiss.IndexBinaryFlat(codes.shape[1] * 8)
        ix = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(256), 256, round(factor * math.sqrt(images)))
        ix.cp.niter = 10; ix.cp.max_points_per_centroid = 64; ix.train(codes); ix.nprobe = probes; return ix
    duplicates.binary_index = make
    t = time.process_time(); pairs = near_duplicate_pairs(h, DEFAULT_THRESHOLD); el = time.process_time() - t
    mine = {(i, j) for i, j, _ in pairs if i in sampled}
    print(f"lists {factor}sqrtN probes {probes}: {el:.1f} CPU s, recall {len(mine & ref)}/{len(ref)} = {len(mine & ref)/len(ref):.4f}", flush=True)

"""Issue 29, a probe that did not pay: a self-join instead of queries. Every code goes into its `spill` nearest
inverted lists (the IVF quantizer of fgclass), and hashes are compared only within each list (a flat FAISS range
search per list), so a pair is found when the two codes share a list. Recall over every planted pair.

    python docs/logs/duplicates_spill_join.py N spill:lists_factor [...]
"""
import math, sys, time
import faiss, numpy as np
from benchmarks.bench_duplicates import planted_hashes
from fgclass.data.duplicates import DEFAULT_THRESHOLD, DIHEDRAL, _codes, near_duplicate_pairs, pair_distances
faiss.omp_set_num_threads(2)
n = int(sys.argv[1])
planted = []
h = planted_hashes(n, np.random.default_rng(n), planted)
pairs = np.array(sorted({(min(a, b), max(a, b)) for a, b in planted}), dtype=np.int64)
dist = np.minimum(pair_distances(h, pairs), pair_distances(h, pairs[:, ::-1]))
truth = {(int(a), int(b)) for (a, b), d in zip(pairs, dist) if d <= DEFAULT_THRESHOLD}
print(f"{n} images, {len(truth)} planted", flush=True)

def join(queries, indexed, spill, factor):
    images, variants = indexed.shape[:2]
    nlist = round(factor * math.sqrt(images))
    ivf = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(256), 256, nlist)
    ivf.cp.niter = 10; ivf.cp.max_points_per_centroid = 64
    qc = _codes(queries); ic = _codes(indexed)
    ivf.train(qc)
    _, qa = ivf.quantizer.search(qc, spill)
    _, ia = ivf.quantizer.search(ic, spill)
    # group by list
    q_list = qa.ravel(); q_id = np.repeat(np.arange(len(qc)), spill)
    i_list = ia.ravel(); i_id = np.repeat(np.arange(len(ic)), spill)
    qo = np.argsort(q_list, kind="stable"); io = np.argsort(i_list, kind="stable")
    qb = np.searchsorted(q_list[qo], np.arange(nlist + 1)); ib = np.searchsorted(i_list[io], np.arange(nlist + 1))
    out = []
    for l in range(nlist):
        qs = q_id[qo[qb[l]:qb[l + 1]]]; xs = i_id[io[ib[l]:ib[l + 1]]]
        if len(qs) == 0 or len(xs) == 0: continue
        flat = faiss.IndexBinaryFlat(256); flat.add(ic[xs])
        lims, _, ids = flat.range_search(qc[qs], DEFAULT_THRESHOLD + 1)
        rows = np.repeat(qs, np.diff(lims).astype(np.int64))
        out.append(np.stack([rows, xs[ids] // variants], 1))
    return np.concatenate(out)

for spill, factor in [(int(a.split(":")[0]), float(a.split(":")[1])) for a in sys.argv[2:]]:
    t = time.perf_counter()
    found = [join(h[:, 0], h[:, :DIHEDRAL], spill, factor), join(h[:, DIHEDRAL], h[:, DIHEDRAL:], spill, factor)]
    p = np.sort(np.concatenate(found), 1); p = np.unique(p[p[:, 0] < p[:, 1]], axis=0)
    d = pair_distances(h, p); p = p[d <= DEFAULT_THRESHOLD]
    wall = time.perf_counter() - t
    got = {(int(a), int(b)) for a, b in p}
    print(f"spill {spill}, lists {factor} sqrtN: {wall:.1f} s, {len(got)} pairs, recall {100*(1-len(truth-got)/len(truth)):.3f} % ({len(truth-got)} missed)", flush=True)

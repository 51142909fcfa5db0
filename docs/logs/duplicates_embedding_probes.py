"""Issue 29: how many inverted lists the embedding search must probe.

Today's index (fgclass.data.embeddings.similar_pairs: 2 sqrt(N) lists, flat coarse quantizer) probed in 8, 16
and 32 lists, on generated embeddings (benchmarks.bench_duplicates.planted_embeddings; recall against the brute
force on sampled rows) and on a real judge's embeddings (a .npy of the embedding cache; recall against the
exhaustive index), wall seconds on both cores.

    python docs/logs/duplicates_embedding_probes.py ROWS N [N ...] [--real embeddings.npy] [--probes 8 16 32]
"""

import argparse
import time

import faiss
import numpy as np

from benchmarks.bench_duplicates import _BLOCK, COSINE, _sample_starts, brute_embedding_pairs, planted_embeddings
from fgclass.data import embeddings
from fgclass.data.embeddings import similar_pairs

parser = argparse.ArgumentParser()
parser.add_argument("rows", type=int)
parser.add_argument("sizes", type=int, nargs="*")
parser.add_argument("--real")
parser.add_argument("--probes", type=int, nargs="+", default=[8, 16, 32])
args = parser.parse_args()
faiss.omp_set_num_threads(2)


def sweep(vectors: np.ndarray, reference: set, sampled: set | None) -> None:
    for probes in args.probes:
        embeddings.PROBES = probes
        start = time.perf_counter()
        found = {(i, j) for i, j, _ in similar_pairs(vectors, COSINE)}
        wall = time.perf_counter() - start
        mine = found if sampled is None else {(i, j) for i, j in found if i in sampled}
        print(
            f"  {probes} probes: {wall:.1f} s wall, recall {100 * len(mine & reference) / max(1, len(reference)):.2f} % "
            f"of {len(reference):,}, {len(found):,} pairs, {len(mine - reference)} not in the reference",
            flush=True,
        )


if args.real:
    vectors = np.load(args.real).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exhaustive = faiss.IndexFlatIP(vectors.shape[1])
    exhaustive.add(vectors)
    lims, _, ids = exhaustive.range_search(vectors, COSINE - 1e-4)
    rows = np.repeat(np.arange(len(vectors)), np.diff(lims).astype(np.int64))
    reference = {(int(i), int(j)) for i, j in zip(rows, ids) if i < j and float(vectors[i] @ vectors[j]) >= COSINE}
    print(f"{args.real}: {len(vectors):,} real embeddings, {len(reference):,} pairs by the exhaustive index", flush=True)
    sweep(vectors, reference, None)
for n in args.sizes:
    vectors = planted_embeddings(n, np.random.default_rng(n))
    reference, _ = brute_embedding_pairs(vectors, args.rows)
    sampled = {i for s in _sample_starts(n, args.rows) for i in range(s, min(s + _BLOCK, n))}
    print(f"{n:,} generated embeddings, {len(reference):,} brute-force pairs in {args.rows:,} sampled rows", flush=True)
    sweep(vectors, reference, sampled)

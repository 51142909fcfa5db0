"""Group images that are flipped, rotated or re-encoded copies of one another.

Two images are near-duplicates when the Hamming distance between the 256-bit perceptual hash of
one and the closest of the 8 flip/rotation hashes of the other is at most ``threshold`` bits, or
when their orientation-normalised hashes (central disc turned to its dominant gradient angle,
which catches copies rotated by arbitrary angles) are that close. On the real fish and butterfly
samples, different species never come closer than 58 bits by either measure, while re-encoded
copies differ by under 10 and copies rotated by 2-3° by 30-60: the default of 40 separates them.

The search runs on FAISS binary indexes: every flip/rotation hash of every image is indexed and
each image's stored hash is a range query. Up to :data:`EXHAUSTIVE_UP_TO` images the index is
exhaustive (``IndexBinaryFlat``: every pair of the brute force); above, an inverted file
(``IndexBinaryIVF``, about ``2 sqrt(N)`` lists, :data:`PROBES` probed per query) compares each hash
with its own neighbourhood only, so the time grows as N^1.5 instead of N^2. Either way every pair
an index proposes is checked by its exact distance, so no pair beyond ``threshold`` is ever linked;
the inverted file may miss a pair, which ``benchmarks/bench_duplicates.py`` measures (recall
against the brute force, ``docs/honest_splits.md``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from pathlib import Path

import faiss
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fgclass.data.scan import DIHEDRAL
from fgclass.files import cached_array

DEFAULT_THRESHOLD = 40
EXHAUSTIVE_UP_TO = 5_000  # images; the flat index costs about 1 s per 2,000^2 pairs on 2 cores
PROBES = 32  # inverted lists searched per query: recall 0.999 on uniformly random hashes at 10 k
_TRAIN_ITERATIONS = 10


def _codes(hashes: np.ndarray) -> np.ndarray:
    """``(..., words)`` uint64 hashes as FAISS's binary codes: one row of bytes per hash."""
    words = hashes.shape[-1]
    return np.ascontiguousarray(hashes, dtype=np.uint64).view(np.uint8).reshape(-1, words * 8)


def binary_index(codes: np.ndarray, images: int) -> faiss.IndexBinary:
    """An empty FAISS index for ``codes`` of ``images`` images: exhaustive up to
    :data:`EXHAUSTIVE_UP_TO` images, else an inverted file trained on ``codes``."""
    bits = codes.shape[1] * 8
    if images <= EXHAUSTIVE_UP_TO:
        return faiss.IndexBinaryFlat(bits)
    index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(bits), bits, max(1, round(2 * math.sqrt(images))))
    index.cp.niter = _TRAIN_ITERATIONS
    index.cp.max_points_per_centroid = 64  # k-means on a sample: 64 codes per list are plenty
    index.train(codes)
    index.nprobe = PROBES
    return index


def _candidates(queries: np.ndarray, indexed: np.ndarray, threshold: int) -> np.ndarray:
    """``(image, other image)`` rows where the hash ``queries[image]`` is within ``threshold`` bits
    of one of ``indexed[other]``'s hashes by the index (exact or not: checked later)."""
    images, variants = indexed.shape[:2]
    index = binary_index(_codes(queries), images)
    index.add(_codes(indexed))
    lims, _, ids = index.range_search(_codes(queries), threshold + 1)  # FAISS keeps distance < radius
    rows = np.repeat(np.arange(images), np.diff(lims).astype(np.int64))
    return np.stack([rows, ids // variants], axis=1)


def pair_distances(hashes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Bits between image ``i``'s stored hash and the closest flip/rotation of image ``j``'s, for each
    row ``(i, j)`` of ``pairs`` (and between their upright-disc hashes, where ``hashes`` has them)."""
    first, second = hashes[pairs[:, 0]], hashes[pairs[:, 1]]
    distance = np.bitwise_count(first[:, None, 0] ^ second[:, :DIHEDRAL]).sum(axis=2).min(axis=1)
    if hashes.shape[1] > DIHEDRAL:
        upright = np.bitwise_count(first[:, None, DIHEDRAL] ^ second[:, DIHEDRAL:]).sum(axis=2).min(axis=1)
        distance = np.minimum(distance, upright)
    return distance.astype(np.int64)


def near_duplicate_pairs(hashes: np.ndarray, threshold: int) -> list[tuple[int, int, int]]:
    """Every pair ``(i, j, distance)``, ``i < j``, within ``threshold`` bits, sorted.

    ``hashes`` is ``(N, variants, words)`` uint64 from :func:`fgclass.data.scan.image_hashes`: the
    8 flip/rotation hashes, optionally followed by the orientation-normalised ones. Pairs found from
    either image's query count; each is kept by its exact distance as the brute force defines it.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    if len(hashes) < 2:
        return []
    found = [_candidates(hashes[:, 0], hashes[:, :DIHEDRAL], threshold)]
    if hashes.shape[1] > DIHEDRAL:
        found.append(_candidates(hashes[:, DIHEDRAL], hashes[:, DIHEDRAL:], threshold))
    pairs = np.sort(np.concatenate(found), axis=1)
    pairs = np.unique(pairs[pairs[:, 0] < pairs[:, 1]], axis=0)
    distance = pair_distances(hashes, pairs)
    keep = distance <= threshold
    return [(int(i), int(j), int(d)) for (i, j), d in zip(pairs[keep], distance[keep])]


def group_ids(n: int, pairs: Iterable[tuple[int, int, int]]) -> np.ndarray:
    """Connected components of the pair graph: ``ids[i] == ids[j]`` iff linked by a chain of pairs.

    Ids are the smallest member index of each group, so they are stable for a fixed input order.
    """
    edges = np.array([(i, j) for i, j, _ in pairs], dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(edges), dtype=bool), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    _, first = np.unique(component, return_index=True)  # each component's smallest member
    return first[component]


def join_groups(groups: np.ndarray, pairs: list[tuple[int, int, int]]) -> np.ndarray:
    """``groups`` merged wherever one of ``pairs`` links two of them."""
    first: dict[int, int] = {}
    members = [(first.setdefault(g, i), i, 0) for i, g in enumerate(groups.tolist())]
    return group_ids(len(groups), [*members, *pairs])


def group_near_duplicates(hashes: np.ndarray, threshold: int) -> np.ndarray:
    """Group id per image; images in one group are (chains of) near-duplicates."""
    return group_ids(len(hashes), near_duplicate_pairs(hashes, threshold))


def copy_groups(hashes: np.ndarray, pairs: list[tuple[int, int, int]], bits: int) -> np.ndarray:
    """Group id per image, linking those of ``pairs`` (from :func:`near_duplicate_pairs` at a threshold
    of at least ``bits``) that are flips or quarter turns of one another: within ``bits`` by the 8
    flip/rotation hashes alone. No second search: the pairs already hold every such copy."""
    rows = np.array([(i, j) for i, j, _ in pairs], dtype=np.int64).reshape(-1, 2)
    flips = pair_distances(np.asarray(hashes, dtype=np.uint64)[:, :DIHEDRAL], rows)
    return group_ids(len(hashes), [pair for pair, d in zip(pairs, flips.tolist()) if d <= bits])


def near_duplicate_pairs_cached(
    hashes: np.ndarray, threshold: int, cache_dir: str | Path | None
) -> list[tuple[int, int, int]]:
    """:func:`near_duplicate_pairs`, remembered in ``cache_dir`` for identical hashes + threshold
    (:func:`~fgclass.files.cached_array`: computed once by runs that start together)."""
    path = None
    if cache_dir is not None:
        key = hashlib.sha1(np.ascontiguousarray(hashes).tobytes() + str(threshold).encode()).hexdigest()
        path = Path(cache_dir) / f"pairs-{key[:20]}.npy"

    def compute() -> np.ndarray:
        return np.array(near_duplicate_pairs(hashes, threshold), dtype=np.int64).reshape(-1, 3)

    def valid(pairs: np.ndarray) -> bool:
        return (
            pairs.dtype == np.int64
            and pairs.ndim == 2
            and pairs.shape[1] == 3
            and bool(((pairs[:, :2] >= 0) & (pairs[:, :2] < len(hashes))).all())
        )

    return [(i, j, d) for i, j, d in cached_array(path, compute, valid).tolist()]

"""Group images that are flipped, rotated or re-encoded copies of one another.

Two images are near-duplicates when the Hamming distance between the 256-bit perceptual hash of
one and the closest of the 8 flip/rotation hashes of the other is at most ``threshold`` bits, or
when their orientation-normalised hashes (central disc turned to its dominant gradient angle,
which catches copies rotated by arbitrary angles) are that close. On the real fish and butterfly
samples, different species never come closer than 58 bits by either measure, while re-encoded
copies differ by under 10 and copies rotated by 2-3° by 30-60: the default of 40 separates them.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fgclass.data.scan import DIHEDRAL
from fgclass.files import save_cache

DEFAULT_THRESHOLD = 40
_CHUNK = 64


def _closest(rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``(len(rows), len(others))`` bits between each row hash and the closest variant of each other
    image; ``rows`` is ``(R, words)``, ``others`` ``(words, N, variants)``."""
    dist = np.zeros((len(rows), others.shape[1], others.shape[2]), dtype=np.uint16)
    for w in range(len(others)):  # word by word: 3x faster than one (R, N, variants, words) temporary
        dist += np.bitwise_count(rows[:, w, None, None] ^ others[w])
    return dist.min(axis=2)


def near_duplicate_pairs(hashes: np.ndarray, threshold: int) -> Iterator[tuple[int, int, int]]:
    """Yield ``(i, j, distance)`` for every pair ``i < j`` within ``threshold`` bits.

    ``hashes`` is ``(N, variants, words)`` uint64 from :func:`fgclass.data.scan.image_hashes`: the
    8 flip/rotation hashes, optionally followed by the orientation-normalised ones.
    """
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    by_word = np.ascontiguousarray(hashes.transpose(2, 0, 1))  # (words, N, variants)
    oriented = hashes.shape[1] > DIHEDRAL
    for start in range(0, n, _CHUNK):
        block = hashes[start : start + _CHUNK]
        # each row's stored orientation against every orientation of every later image
        dist = _closest(block[:, 0], by_word[:, start:, :DIHEDRAL])
        if oriented:  # and its upright disc against theirs
            dist = np.minimum(dist, _closest(block[:, DIHEDRAL], by_word[:, start:, DIHEDRAL:]))
        local_i, local_j = np.nonzero(dist <= threshold)
        for a, b in zip(local_i.tolist(), local_j.tolist()):
            i, j = start + a, start + b
            if j > i:
                yield i, j, int(dist[a, b])


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


def group_near_duplicates_cached(
    hashes: np.ndarray, threshold: int, cache_dir: str | Path | None
) -> np.ndarray:
    """:func:`group_near_duplicates`, remembered in ``cache_dir`` for identical hashes + threshold."""
    if cache_dir is None:
        return group_near_duplicates(hashes, threshold)
    key = hashlib.sha1(np.ascontiguousarray(hashes).tobytes() + str(threshold).encode()).hexdigest()
    path = Path(cache_dir) / f"groups-{key[:20]}.npy"
    if path.is_file():
        return np.load(path)
    ids = group_near_duplicates(hashes, threshold)
    buffer = io.BytesIO()
    np.save(buffer, ids)
    save_cache(path, buffer.getvalue())
    return ids

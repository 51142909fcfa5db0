"""Rotation-pooled ImageNet embeddings: a second near-duplicate judge beside the hashes.

The fish dataset also turns photos by arbitrary angles, which the perceptual hashes catch only in
part. Here each image's central disc, at 128 px, is shown to an ImageNet feature extractor (given by
the caller, :class:`ImageFeatures`; the configs give the packaged EfficientNet-Lite0) at 8 rotations
(45° steps); the unit-length features of the 8 views are averaged.
A copy turned by any angle, or mirrored (the network's features barely change with a mirror once
averaged over the turns), then lands close to its original (cosine near 1), while different photos of
one species stay further apart (views, side and threshold measured in ``docs/honest_splits.md``).
Told which images are flips or quarter turns of another (within :data:`COPY_BITS` of the hashes,
as the fish set's augmented copies are) is not embedded: it takes that image's embedding, nearly its own.
Embeddings are cached in the cache folder, keyed by the images' content digests; the pass shows a
progress bar and logs its time. Pairs are found with a FAISS inner-product index (:func:`similar_pairs`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import cv2
import faiss
import numpy as np
import torch
from tqdm import tqdm

from fgclass.data.duplicates import EXHAUSTIVE_UP_TO
from fgclass.data.images import load_rgb
from fgclass.files import cached_array

log = logging.getLogger(__name__)
SIDE = 128
ANGLES = tuple(range(0, 360, 45))
MIRROR = False  # mirrored views too (twice the cost) found no more copies: docs/honest_splits.md
_VERSION = 1
_BATCH = 8  # images per forward pass
# a flip or quarter turn of an image within this many of the 256 hash bits shares its embedding: on the
# fish sample such copies' own embeddings are at cosine 0.976 or more (mirrored), 0.994 (turned)
COPY_BITS = 4
# inverted lists searched per embedding query: 8 find every pair 32 find, on the full butterfly set and on
# generated embeddings, in a third of the time (docs/honest_splits.md, "Pair search with FAISS")
PROBES = 8


class ImageFeatures(Protocol):
    """A feature extractor: ``uint8`` images ``(N, 3, H, W)`` in, features ``(N, F)`` out, called from
    several threads at once (one batch each). ``name`` keys the embedding cache, so it must change
    whenever the features do."""

    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


@functools.cache
def _disc(side: int) -> np.ndarray:
    """The inscribed disc of a ``side`` square: the corners that rotation would bring in are black."""
    y, x = np.mgrid[:side, :side] - (side - 1) / 2
    return (x**2 + y**2 <= (side / 2) ** 2)[..., None]


def views(
    rgb: np.ndarray, side: int = SIDE, angles: Sequence[float] = ANGLES, mirror: bool = MIRROR
) -> np.ndarray:
    """The views of an RGB image's central disc at ``side`` px, ``(V, side, side, 3)``: turned by each
    of ``angles`` (counterclockwise), as is (and mirrored, with ``mirror``). Turns by a multiple of 90°
    from one already made are exact quarter turns of it (the same pixels as resampling, for less)."""
    height, width = rgb.shape[:2]
    crop = min(height, width)
    top, left = (height - crop) // 2, (width - crop) // 2
    square = cv2.resize(rgb[top : top + crop, left : left + crop], (side, side), interpolation=cv2.INTER_AREA)
    disc = (square * _disc(side)).astype(np.uint8)
    centre = ((side - 1) / 2, (side - 1) / 2)
    out = []
    for image in (disc, np.ascontiguousarray(disc[:, ::-1])) if mirror else (disc,):
        turned: dict[float, np.ndarray] = {}  # by angle mod 90
        for angle in angles:
            base = angle % 90
            if base not in turned:
                matrix = cv2.getRotationMatrix2D(centre, base, 1.0)
                turned[base] = image if base == 0 else cv2.warpAffine(image, matrix, (side, side))
            out.append(np.rot90(turned[base], int((angle - base) // 90)))
    return np.stack(out)


def pool_views(per_view: torch.Tensor, images: int) -> torch.Tensor:
    """``(images, F)``: the unit-length mean of the unit-length features ``per_view`` of each image's
    views, ``(images * V, F)`` with one image's ``V`` views after another's."""
    per_view = torch.nn.functional.normalize(per_view.float(), dim=1)
    return torch.nn.functional.normalize(per_view.view(images, -1, per_view.shape[1]).mean(1), dim=1)


def _pooled(root: Path, paths: Sequence[str], features: ImageFeatures) -> np.ndarray:
    """:func:`pool_views` of each image's views."""
    batch = [views(load_rgb(root / p)) for p in paths]
    with torch.inference_mode():
        return pool_views(
            features(torch.from_numpy(np.concatenate(batch)).permute(0, 3, 1, 2)), len(batch)
        ).numpy()


def _embed(
    root: Path, paths: Sequence[str], features: ImageFeatures, workers: int | None = None
) -> np.ndarray:
    """Embeddings of ``paths``, :data:`_BATCH` images per call of ``features``, ``workers`` calls
    (default: torch's thread count) side by side in threads, in order; the first batch alone, so that a
    network built on first use is built once. An error stops the pass: batches not started are dropped."""
    workers = workers or torch.get_num_threads()
    batches = [paths[first : first + _BATCH] for first in range(0, len(paths), _BATCH)]
    out = []
    start = time.monotonic()
    bar = tqdm(total=len(paths), desc="Embedding images", unit="img", disable=None, delay=1.0)
    with bar, ThreadPoolExecutor(workers) as pool:
        if batches:
            out.append(_pooled(root, batches[0], features))
            bar.update(len(batches[0]))
        # in order; an error in one batch cancels those not started
        rest = pool.map(lambda batch: _pooled(root, batch, features), batches[1:])
        for batch, pooled in zip(batches[1:], rest):
            out.append(pooled)
            bar.update(len(batch))
    seconds = time.monotonic() - start
    log.info(
        "Embedded %d images for the near-duplicate judge in %.1f s (%.1f images/s; cached)",
        len(paths),
        seconds,
        len(paths) / max(seconds, 1e-9),
    )
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def image_embeddings(
    root: Path,
    paths: Sequence[str],
    digests: Sequence[str],
    features: ImageFeatures,
    cache_dir: str | Path | None = None,
    copies: np.ndarray | None = None,
) -> np.ndarray:
    """Unit-length rotation-pooled embedding of each (readable) image ``root / paths[i]`` by
    ``features``; ``digests`` (their content digests, from the scan) and ``features.name`` key the
    cache, and ``features`` is only called on a cache miss. With ``copies`` (per image, the index of the
    first image of its group of flips and quarter turns within :data:`COPY_BITS`, as
    :func:`~fgclass.data.duplicates.copy_groups` gives), each group is embedded once, by that first
    image, whose embedding the others share."""
    first = np.arange(len(paths)) if copies is None else np.asarray(copies)
    embedded, row = np.unique(first, return_inverse=True)  # the images embedded; each image's row of them
    key = hashlib.sha1(f"{_VERSION}:{SIDE}:{ANGLES}:{MIRROR}:{features.name}".encode())
    for i in embedded:
        key.update(digests[i].encode())
    path = Path(cache_dir) / f"embeddings-{key.hexdigest()[:20]}.npy" if cache_dir else None

    def valid(array: np.ndarray) -> bool:
        return array.dtype == np.float32 and array.ndim == 2 and len(array) == len(embedded)

    def compute() -> np.ndarray:
        if len(embedded) < len(paths):
            log.info(
                "%d of %d images are flips or quarter turns of another: they share its embedding",
                len(paths) - len(embedded),
                len(paths),
            )
        return _embed(root, [paths[i] for i in embedded], features)

    return cached_array(path, compute, valid)[row]


def similar_pairs(embeddings: np.ndarray, threshold: float) -> list[tuple[int, int, int]]:
    """Pairs ``(i, j, 0)``, ``i < j``, whose embeddings' cosine similarity is at least ``threshold``.

    Found by a FAISS inner-product range search (exhaustive up to
    :data:`~fgclass.data.duplicates.EXHAUSTIVE_UP_TO` images, else an inverted file of about
    ``2 sqrt(N)`` lists searched in :data:`PROBES`), each pair kept by its exact similarity.
    """
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    if len(vectors) < 2:
        return []
    dim = vectors.shape[1]
    if len(vectors) <= EXHAUSTIVE_UP_TO:
        index = faiss.IndexFlatIP(dim)
    else:
        lists = max(1, round(2 * math.sqrt(len(vectors))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter, index.cp.max_points_per_centroid = 10, 64
        index.train(vectors)
        index.nprobe = PROBES
    index.add(vectors)
    lims, _, ids = index.range_search(vectors, threshold - 1e-4)  # FAISS keeps similarity > radius
    rows = np.repeat(np.arange(len(vectors)), np.diff(lims).astype(np.int64))
    pairs = np.sort(np.stack([rows, ids], axis=1), axis=1)
    pairs = np.unique(pairs[pairs[:, 0] < pairs[:, 1]], axis=0)
    similarity = np.einsum("ij,ij->i", vectors[pairs[:, 0]], vectors[pairs[:, 1]])
    return [(int(i), int(j), 0) for i, j in pairs[similarity >= threshold]]

"""Rotation-pooled ImageNet embeddings: a second near-duplicate judge beside the hashes.

The fish dataset also turns photos by arbitrary angles, which the perceptual hashes catch only in
part. Here each image's central disc is shown to an ImageNet feature extractor (given by the caller,
:class:`ImageFeatures`; the configs give the packaged EfficientNet-Lite0) at 8 rotations (45° steps),
as is and mirrored; the unit-length features of the 16 views are averaged.
A copy turned by any angle or mirrored then lands close to its original (cosine near 1), while
different photos of one species stay further apart (thresholds measured in ``docs/honest_splits.md``).
Embeddings are cached in the cache folder, keyed by the images' content digests.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from fgclass.data.images import load_rgb
from fgclass.files import save_cache

log = logging.getLogger(__name__)
SIDE = 160
ANGLES = tuple(range(0, 360, 45))
_VERSION = 1
_Y, _X = np.mgrid[:SIDE, :SIDE] - (SIDE - 1) / 2
_DISC = (_X**2 + _Y**2 <= (SIDE / 2) ** 2)[..., None]  # corners that rotation would bring in: black


class ImageFeatures(Protocol):
    """A feature extractor: ``uint8`` images ``(N, 3, H, W)`` in, features ``(N, F)`` out. ``name``
    keys the embedding cache, so it must change whenever the features do."""

    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


def views(rgb: np.ndarray) -> np.ndarray:
    """The 16 views of an RGB image's central disc: 8 rotations, as is and mirrored, ``(16, S, S, 3)``."""
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = cv2.resize(rgb[top : top + side, left : left + side], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    disc = (square * _DISC).astype(np.uint8)
    centre = ((SIDE - 1) / 2, (SIDE - 1) / 2)
    return np.stack(
        [
            cv2.warpAffine(
                np.ascontiguousarray(image), cv2.getRotationMatrix2D(centre, angle, 1.0), (SIDE, SIDE)
            )
            for image in (disc, disc[:, ::-1])
            for angle in ANGLES
        ]
    )


@torch.inference_mode()
def _embed(root: Path, paths: Sequence[str], features: ImageFeatures) -> np.ndarray:
    out = []
    for i, path in enumerate(paths):
        per_view = features(torch.from_numpy(views(load_rgb(root / path))).permute(0, 3, 1, 2))
        pooled = torch.nn.functional.normalize(per_view, dim=1).mean(0)
        out.append(torch.nn.functional.normalize(pooled, dim=0).numpy())
        if (i + 1) % 500 == 0:
            log.info("Embedded %d of %d images", i + 1, len(paths))
    return np.array(out, dtype=np.float32)


def image_embeddings(
    root: Path,
    paths: Sequence[str],
    digests: Sequence[str],
    features: ImageFeatures,
    cache_dir: str | Path | None = None,
) -> np.ndarray:
    """Unit-length rotation-pooled embedding of each (readable) image ``root / paths[i]`` by
    ``features``; ``digests`` (their content digests, from the scan) and ``features.name`` key the
    cache, and ``features`` is only called on a cache miss."""
    key = hashlib.sha1(f"{_VERSION}:{SIDE}:{ANGLES}:{features.name}".encode())
    for digest in digests:
        key.update(digest.encode())
    path = Path(cache_dir) / f"embeddings-{key.hexdigest()[:20]}.npy" if cache_dir else None
    if path is not None and path.is_file():
        return np.load(path)
    log.info("Embedding %d images for the near-duplicate judge (16 views each; cached)", len(paths))
    embeddings = _embed(root, paths, features)
    if path is not None:
        buffer = io.BytesIO()
        np.save(buffer, embeddings)
        save_cache(path, buffer.getvalue())
    return embeddings


def similar_pairs(embeddings: np.ndarray, threshold: float, chunk: int = 1024) -> list[tuple[int, int, int]]:
    """Pairs ``(i, j, 0)``, ``i < j``, whose embeddings' cosine similarity is at least ``threshold``."""
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, len(embeddings), chunk):
        similarity = embeddings[start : start + chunk] @ embeddings.T
        rows, cols = np.nonzero(similarity >= threshold)
        rows += start
        keep = cols > rows
        pairs += [(int(i), int(j), 0) for i, j in zip(rows[keep], cols[keep])]
    return pairs

"""Rotation-pooled ImageNet embeddings: a second near-duplicate judge beside the hashes.

The fish dataset also turns photos by arbitrary angles, which the perceptual hashes catch only in
part. Here each image's central disc is shown to the packaged ImageNet EfficientNet-Lite0 at 8
rotations (45° steps), as is and mirrored; the unit-length features of the 16 views are averaged.
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

import cv2
import numpy as np
import torch

from fgclass.data.scan import save_cache

log = logging.getLogger(__name__)
BACKBONE = "timm/efficientnet_lite0"  # ImageNet weights that install with fgclass: no download
SIDE = 160
ANGLES = tuple(range(0, 360, 45))
_VERSION = 1
_Y, _X = np.mgrid[:SIDE, :SIDE] - (SIDE - 1) / 2
_DISC = (_X**2 + _Y**2 <= (SIDE / 2) ** 2)[..., None]  # corners that rotation would bring in: black


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


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@torch.inference_mode()
def _embed(root: Path, paths: Sequence[str]) -> np.ndarray:
    from fgclass.models.backbones import create_backbone

    net = create_backbone(BACKBONE, "DEFAULT")
    model = net.model.eval()
    mean = torch.tensor(net.mean).view(1, 3, 1, 1)
    std = torch.tensor(net.std).view(1, 3, 1, 1)
    out = np.empty((len(paths), net.num_features), dtype=np.float32)
    for i, path in enumerate(paths):
        x = torch.from_numpy(views(_read_rgb(root / path))).permute(0, 3, 1, 2).float() / 255
        features = torch.nn.functional.normalize(model((x - mean) / std), dim=1).mean(0)
        out[i] = torch.nn.functional.normalize(features, dim=0).numpy()
        if (i + 1) % 500 == 0:
            log.info("Embedded %d of %d images", i + 1, len(paths))
    return out


def image_embeddings(
    root: Path, paths: Sequence[str], digests: Sequence[str], cache_dir: str | Path | None = None
) -> np.ndarray:
    """Unit-length rotation-pooled embedding of each (readable) image ``root / paths[i]``;
    ``digests`` (their content digests, from the scan) key the cache."""
    key = hashlib.sha1(f"{_VERSION}:{SIDE}:{ANGLES}:{BACKBONE}".encode())
    for digest in digests:
        key.update(digest.encode())
    path = Path(cache_dir) / f"embeddings-{key.hexdigest()[:20]}.npy" if cache_dir else None
    if path is not None and path.is_file():
        return np.load(path)
    log.info("Embedding %d images for the near-duplicate judge (16 views each; cached)", len(paths))
    embeddings = _embed(root, paths)
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

"""One pass over every image file: decode it fully (finds corrupt and truncated files), record its
size, a content digest and flip/rotation-invariant perceptual hashes.

Results are cached per file, keyed by path, size and modification time, so a sweep decodes each
image once however many runs it starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy.fft import dctn

from fgclass.data.images import ImageError, decode_fully, read_file
from fgclass.files import atomic_write

HASH_SIZE = 16  # 16 x 16 low DCT frequencies -> 256-bit hash
HASH_WORDS = HASH_SIZE * HASH_SIZE // 64
_THUMB = 32
log = logging.getLogger(__name__)
_CACHE_VERSION = 3  # 2: exact box-filter thumbnails; 3: orientation-normalised hashes
DIHEDRAL = 8  # hashes per image of its flips/90° rotations ...
ORIENTED = 4  # ... then of its central disc turned upright, as is, turned 180° and mirrored both ways
_DISC_SIDE = 64
_DISC_Y, _DISC_X = np.mgrid[:_DISC_SIDE, :_DISC_SIDE] - (_DISC_SIDE - 1) / 2
_DISC = _DISC_X**2 + _DISC_Y**2 <= (_DISC_SIDE / 2 - 1) ** 2
_INNER = slice(10, _DISC_SIDE - 10)  # the square inside the disc: no corner ever rotates into it


def dihedral_variants(image: np.ndarray) -> list[np.ndarray]:
    """The 8 flips/90° rotations of a 2-D array (the dihedral group D4); index 0 is ``image``."""
    flipped = np.fliplr(image)
    return [np.rot90(image, k) for k in range(4)] + [np.rot90(flipped, k) for k in range(4)]


def perceptual_hash(gray: np.ndarray) -> np.ndarray:
    """256-bit DCT perceptual hash of a square grayscale thumbnail, as ``HASH_WORDS`` uint64."""
    low = dctn(gray, norm="ortho")[:HASH_SIZE, :HASH_SIZE].ravel()
    bits = low > np.median(low[1:])
    return np.packbits(bits).view(">u8").astype(np.uint64)


def _box_rows(values: np.ndarray) -> np.ndarray:
    """Average the rows of ``values`` into ``_THUMB`` equal bins, edge rows weighted by their overlap."""
    if len(values) < _THUMB:
        values = np.repeat(values, _THUMB, axis=0)
    n = len(values)
    edges = np.arange(_THUMB + 1) * (n / _THUMB)
    whole = edges.astype(int)
    sums = np.add.reduceat(values, whole[:-1], axis=0, dtype=np.float64)  # rows whole[i]..whole[i+1]-1
    rows = np.concatenate([values, np.zeros_like(values[:1])])[whole]  # the row each edge cuts
    part = (edges - whole)[:, None] * rows  # the share of that row below the edge
    return (sums - part[:-1] + part[1:]) * (_THUMB / n)


def dihedral_hashes(image: Image.Image) -> np.ndarray:
    """``(8, HASH_WORDS)`` hashes of all flips/90° rotations of ``image`` (index 0: as stored).

    The whole image is squeezed to a square thumbnail by a float box filter, which commutes
    exactly with flips and rotations (PIL's 8-bit two-pass resize does not: it put lossless
    rotated copies of non-square images up to ~20 bits apart), so such copies hash identically.
    """
    thumb = _box_rows(_box_rows(np.asarray(image.convert("L"))).T).T
    return np.stack([perceptual_hash(v) for v in dihedral_variants(thumb)])


def oriented_hashes(gray: np.ndarray) -> np.ndarray:
    """``(ORIENTED, HASH_WORDS)`` hashes of the image's central disc turned to a canonical angle.

    The angle is the dominant gradient orientation (structure tensor) of the disc, so a copy
    rotated by any angle, as the fish dataset's are (with black corners), turns to the same
    picture up to a half turn or a mirroring, which the four hashes cover.
    """
    height, width = gray.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    thumb = cv2.resize(
        gray[top : top + side, left : left + side].astype(np.float32),
        (_DISC_SIDE, _DISC_SIDE),
        interpolation=cv2.INTER_AREA,
    )
    gy, gx = np.gradient(cv2.GaussianBlur(thumb, (0, 0), 1.5))
    jxx, jyy, jxy = (gx * gx)[_DISC].sum(), (gy * gy)[_DISC].sum(), (gx * gy)[_DISC].sum()
    angle = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))
    centre = ((_DISC_SIDE - 1) / 2, (_DISC_SIDE - 1) / 2)
    upright = cv2.warpAffine(thumb, cv2.getRotationMatrix2D(centre, angle, 1.0), (_DISC_SIDE, _DISC_SIDE))
    inner = cv2.resize(upright[_INNER, _INNER], (_THUMB, _THUMB), interpolation=cv2.INTER_AREA).astype(
        np.float64
    )
    return np.stack(
        [perceptual_hash(v) for v in (inner, np.rot90(inner, 2), np.fliplr(inner), np.flipud(inner))]
    )


def image_hashes(image: Image.Image) -> np.ndarray:
    """``(DIHEDRAL + ORIENTED, HASH_WORDS)``: :func:`dihedral_hashes` then :func:`oriented_hashes`."""
    return np.concatenate([dihedral_hashes(image), oriented_hashes(np.asarray(image.convert("L")))])


@dataclass(frozen=True)
class ImageRecord:
    """What one scan of one file found. ``error`` is set when the file cannot be fully decoded."""

    width: int
    height: int
    digest: str
    hashes: str  # hex of the (DIHEDRAL + ORIENTED, HASH_WORDS) uint64 hashes; empty if unreadable
    error: str | None = None


def scan_file(path: str | Path) -> ImageRecord:
    """Decode ``path`` completely and describe it; never raises for a bad image file.

    Decoded with PIL, not OpenCV as training reads it: the hashes (and the caches and splits made
    from them) are defined on PIL's decode and grayscale conversion.
    """
    try:
        data = read_file(path)
        image = decode_fully(path, data)
    except ImageError as exc:
        return ImageRecord(0, 0, "", "", exc.reason)
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    hashes = image_hashes(image).astype(">u8").tobytes().hex()
    return ImageRecord(image.width, image.height, digest, hashes)


@dataclass
class ScanResult:
    """Per-image scan results, aligned with the path list given to :func:`scan_images`."""

    paths: list[str]
    records: list[ImageRecord]

    @property
    def hashes(self) -> np.ndarray:
        """``(N, DIHEDRAL + ORIENTED, HASH_WORDS)`` uint64 hashes (zeros for unreadable files)."""
        per_image = DIHEDRAL + ORIENTED
        blank = bytes(per_image * HASH_WORDS * 8)
        raw = b"".join(bytes.fromhex(r.hashes) if r.hashes else blank for r in self.records)
        flat = np.frombuffer(raw, dtype=">u8").astype(np.uint64)
        return flat.reshape(len(self.records), per_image, HASH_WORDS)

    @property
    def errors(self) -> dict[str, str]:
        """Unreadable files and why, by relative path."""
        return {p: r.error for p, r in zip(self.paths, self.records) if r.error}


def _file_key(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def cache_file_for(cache_dir: str | Path, root: Path) -> Path:
    """One cache file per dataset root."""
    tag = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"scan-{tag}.json"


def _load_cache(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return content.get("files", {}) if content.get("version") == _CACHE_VERSION else {}


def save_cache(path: Path, data: str | bytes) -> None:
    """Write a cache file; a cache folder that cannot be written costs only time, so warn once."""
    try:
        atomic_write(path, data)
    except OSError as exc:
        if path.parent not in _UNWRITABLE:
            _UNWRITABLE.add(path.parent)
            log.warning(
                "Cannot write the cache folder %s (%s): the run goes on, but image scans and "
                "near-duplicate groups are not remembered for the next run. Set paths.cache_dir to a "
                "writable folder.",
                path.parent,
                exc.strerror or exc,
            )


_UNWRITABLE: set[Path] = set()


def scan_images(
    root: Path,
    paths: Sequence[str],
    cache_file: Path | None = None,
    workers: int = 0,
) -> ScanResult:
    """Scan ``root / p`` for every ``p`` in ``paths``, re-using cached results for unchanged files.

    ``workers`` > 1 decodes in that many processes; 0 uses one per CPU core.
    """
    cache = _load_cache(cache_file)
    keys = [_file_key(root / p) for p in paths]
    records: dict[str, ImageRecord] = {}
    todo = []
    for path, key in zip(paths, keys):
        hit = cache.get(path)
        if hit is not None and hit["key"] == key:
            records[path] = ImageRecord(**hit["record"])
        else:
            todo.append(path)
    if todo:
        workers = workers or os.cpu_count() or 1
        files = [root / p for p in todo]
        if workers > 1 and len(todo) > 64:
            pool = ProcessPoolExecutor(workers)
            try:
                fresh = list(pool.map(scan_file, files, chunksize=32))
            finally:  # on Ctrl-C/SIGTERM drop the queued files instead of scanning them all first
                pool.shutdown(cancel_futures=True)
        else:
            fresh = [scan_file(f) for f in files]
        records.update(zip(todo, fresh))
        if cache_file is not None:
            for path, key in zip(paths, keys):
                cache[path] = {"key": key, "record": records[path].__dict__}
            save_cache(cache_file, json.dumps({"version": _CACHE_VERSION, "files": cache}))
    return ScanResult(list(paths), [records[p] for p in paths])

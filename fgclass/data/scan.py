"""One pass over every image file: decode it fully (finds corrupt and truncated files), record its
size, a content digest and flip/rotation-invariant perceptual hashes.

Results are cached per file, keyed by path, size and modification time, so a sweep decodes each
image once however many runs it starts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy.fft import dctn
from tqdm import tqdm

from fgclass.data.images import ImageError, decode_fully, read_file
from fgclass.data.scan_cache import ScanTable, load_table, save_table
from fgclass.files import cache_lock

HASH_SIZE = 16  # 16 x 16 low DCT frequencies -> 256-bit hash
HASH_WORDS = HASH_SIZE * HASH_SIZE // 64
_THUMB = 32
log = logging.getLogger(__name__)
_CACHE_VERSION = 5  # 2: exact box-filter thumbnails; 3: orientation-normalised hashes; 4: columns in .npz
# 5: EXIF orientation applied (the hashes and size of an upright copy), huge JPEGs at half size
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
    from them) are defined on PIL's decode and grayscale conversion, of the image upright (EXIF
    orientation applied) and at the scale it is decoded at (:func:`~fgclass.data.images.open_header`).
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


_HASH_BYTES = (DIHEDRAL + ORIENTED) * HASH_WORDS * 8  # of one record's hashes in the cache
_SAVE_EVERY_S = 300.0  # a long first scan saves what it has found this often: a killed one resumes
_SCANNED = "Scanned %d images in %.1f s (%.0f images/s)"


def _file_key(path: str) -> tuple[int, int]:
    stat = os.stat(path)  # on a string: a Path per file is most of a warm scan's cost at 100 k files
    return stat.st_size, stat.st_mtime_ns


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Identity of the file at ``path`` (a rename over it changes it), ``None`` if there is none."""
    try:
        stat = path.stat()
    except OSError:  # none there, or the cache folder is not a folder (only warned about)
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def cache_file_for(cache_dir: str | Path, root: Path) -> Path:
    """One cache file per dataset root."""
    tag = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"scan-{tag}.npz"


@contextmanager
def _workers(count: int) -> Iterator[ProcessPoolExecutor | None]:
    """A pool of ``count`` scanning processes (``None`` for one), started at once: forked before a
    cache lock is taken, they hold no copy of it that could outlive a killed run."""
    if count <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(count)
    try:
        pool.submit(int).result()  # the first task starts every forked worker
        yield pool
    finally:  # on Ctrl-C/SIGTERM drop the queued files instead of scanning them all first
        pool.shutdown(cancel_futures=True)


def _scan(
    files: list[Path], pool: ProcessPoolExecutor | None, keep: Callable[[list[ImageRecord]], None]
) -> list[ImageRecord]:
    """:func:`scan_file` of each file, with a progress bar (images/s, ETA) on a terminal once it
    takes over a second; ``keep`` receives the records found so far every ``_SAVE_EVERY_S`` seconds."""
    start = last = time.monotonic()
    records: list[ImageRecord] = []
    found = pool.map(scan_file, files, chunksize=32) if pool is not None else map(scan_file, files)
    with tqdm(total=len(files), desc="Scanning images", unit="img", disable=None, delay=1.0) as bar:
        for record in found:
            records.append(record)
            bar.update()
            if time.monotonic() - last > _SAVE_EVERY_S:
                keep(records)
                last = time.monotonic()
    seconds = time.monotonic() - start
    rate = len(files) / max(seconds, 1e-9)
    log.info(_SCANNED, len(files), seconds, rate)
    return records


class DecodeCounter(logging.Handler):
    """Counts the images the scans of this process decode (their log lines), for the tests and
    benchmarks that check a cache spared the decoding; add it to this module's logger at INFO."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _SCANNED:
            self.count += record.args[0]


def _table(paths: Sequence[str], keys: np.ndarray, records: Sequence[ImageRecord]) -> ScanTable:
    fields = [(r.width, r.height, r.digest, r.hashes, r.error) for r in records]
    return ScanTable.from_fields(paths, keys, fields, _HASH_BYTES)


def scan_images(
    root: Path,
    paths: Sequence[str],
    cache_file: Path | None = None,
    workers: int = 0,
) -> ScanResult:
    """Scan ``root / p`` for every ``p`` in ``paths``, re-using cached results for unchanged files.

    A file whose path, size and modification time are in ``cache_file`` is not read again. New
    records are added under the cache's lock: a run that starts while another scans the same root
    waits for it, then reads its records instead of decoding the files again. ``workers`` > 1
    decodes in that many processes; 0 uses one per CPU core.
    """
    paths = list(paths)
    keys = np.array([_file_key(os.path.join(root, p)) for p in paths], dtype=np.int64).reshape(-1, 2)
    workers = workers or os.cpu_count() or 1
    if cache_file is None:
        with _workers(workers if len(paths) > 64 else 1) as pool:
            return ScanResult(paths, _scan([root / p for p in paths], pool, lambda _: None))
    stamp = _stamp(cache_file)
    table = load_table(cache_file, _CACHE_VERSION, _HASH_BYTES)
    rows = table.find(paths, keys)
    misses = int((rows < 0).sum())
    if misses:
        with _workers(workers if misses > 64 else 1) as pool, cache_lock(cache_file):
            if _stamp(cache_file) != stamp:  # another run saved it meanwhile: it may hold them now
                table = load_table(cache_file, _CACHE_VERSION, _HASH_BYTES)
                rows = table.find(paths, keys)
            todo = np.flatnonzero(rows < 0)
            if len(todo):
                todo_paths = [paths[i] for i in todo.tolist()]
                kept = table.without(todo_paths)

                def keep(found: list[ImageRecord]) -> None:
                    fresh = _table(todo_paths[: len(found)], keys[todo[: len(found)]], found)
                    save_table(cache_file, kept.plus(fresh), _CACHE_VERSION)

                fresh = _scan([root / p for p in todo_paths], pool, keep)
                keep(fresh)
                table = kept.plus(_table(todo_paths, keys[todo], fresh))
                rows = table.find(paths, keys)
    return ScanResult(paths, [ImageRecord(*fields) for fields in table.fields(rows)])

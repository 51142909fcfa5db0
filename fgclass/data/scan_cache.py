"""The image scan's cache: one ``.npz`` file of columns per dataset root, keyed by path, size and mtime.

A million records load and check in seconds, where the JSON document it replaces took 10 to 20 times
longer (``benchmarks/bench_scan_cache.py``, ``docs/results.md``): the relative paths are one
NUL-separated UTF-8 string (no file name holds a NUL), keys, image sizes, digests and hashes are
fixed-width arrays, and error messages (empty where the file decoded) a second NUL-separated string.
A record's fields are those of :class:`fgclass.data.scan.ImageRecord`: ``(width, height, digest hex,
hashes hex, error or None)``; the digest and hashes are empty for a file that failed to decode. A
file that fails its check (unreadable, another version or another hash width, columns of unequal
length) is ignored with a log line and rewritten by the next scan that finds something new.
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fgclass.files import save_cache

log = logging.getLogger(__name__)
DIGEST_BYTES = 16
Fields = tuple[int, int, str, str, "str | None"]


def _join(texts: Sequence[str]) -> np.ndarray:
    return np.frombuffer("\0".join(texts).encode("utf-8", "surrogateescape"), dtype=np.uint8)


def _split(blob: np.ndarray, count: int) -> list[str]:
    return blob.tobytes().decode("utf-8", "surrogateescape").split("\0") if count else []


@dataclass
class ScanTable:
    """Cached scan records, row ``i`` describing ``paths[i]`` as it was at ``keys[i]``."""

    paths: list[str]
    keys: np.ndarray  # (N, 2) int64: size in bytes, modification time in ns
    sizes: np.ndarray  # (N, 2) int32: width, height
    digests: np.ndarray  # (N, DIGEST_BYTES) uint8
    hashes: np.ndarray  # (N, hash_bytes) uint8: the big-endian bytes of the hashes
    errors: list[str]  # "" where the file decoded

    @classmethod
    def empty(cls, hash_bytes: int) -> ScanTable:
        return cls.from_fields([], np.zeros((0, 2), np.int64), [], hash_bytes)

    @classmethod
    def from_fields(
        cls, paths: Sequence[str], keys: np.ndarray, fields: Sequence[Fields], hash_bytes: int
    ) -> ScanTable:
        """The table of ``fields[i]`` (an ImageRecord's, in order) for ``paths[i]`` at ``keys[i]``."""
        count = len(paths)
        digests, hashes = np.zeros((count, DIGEST_BYTES), np.uint8), np.zeros((count, hash_bytes), np.uint8)
        ok = [i for i, f in enumerate(fields) if f[2]]  # decoded: a digest and hashes
        for column, field, width in ((digests, 2, DIGEST_BYTES), (hashes, 3, hash_bytes)):
            raw = bytes.fromhex("".join(fields[i][field] for i in ok))
            column[ok] = np.frombuffer(raw, np.uint8).reshape(len(ok), width)
        sizes = np.array([f[:2] for f in fields], dtype=np.int32).reshape(count, 2)
        errors = [(f[4] or "").replace("\0", " ") for f in fields]
        return cls(list(paths), np.asarray(keys, np.int64).reshape(count, 2), sizes, digests, hashes, errors)

    def fields(self, rows: np.ndarray) -> list[Fields]:
        """An ImageRecord's fields for each row in ``rows``."""
        width, height = self.sizes[rows].T.tolist()
        digests, hashes = self.digests[rows].tobytes().hex(), self.hashes[rows].tobytes().hex()
        d, h = 2 * DIGEST_BYTES, 2 * self.hashes.shape[1]  # hex digits per row
        out: list[Fields] = []
        for k, row in enumerate(rows.tolist()):
            if error := self.errors[row]:
                out.append((width[k], height[k], "", "", error))
            else:
                digest, hexed = digests[k * d : (k + 1) * d], hashes[k * h : (k + 1) * h]
                out.append((width[k], height[k], digest, hexed, None))
        return out

    def find(self, paths: Sequence[str], keys: np.ndarray) -> np.ndarray:
        """Row of each ``paths[i]`` whose key equals ``keys[i]``; -1 where there is none."""
        index = dict(zip(self.paths, range(len(self.paths))))
        rows = np.array([index.get(p, -1) for p in paths], dtype=np.int64)
        found = rows >= 0
        same = np.zeros(len(paths), dtype=bool)
        same[found] = (self.keys[rows[found]] == np.asarray(keys, np.int64)[found]).all(axis=1)
        return np.where(same, rows, -1)

    def without(self, paths: Sequence[str]) -> ScanTable:
        """This table less the rows of ``paths``."""
        drop = set(paths)
        keep = np.array([p not in drop for p in self.paths], dtype=bool)
        rows = np.flatnonzero(keep)
        return ScanTable(
            [self.paths[i] for i in rows.tolist()],
            self.keys[rows],
            self.sizes[rows],
            self.digests[rows],
            self.hashes[rows],
            [self.errors[i] for i in rows.tolist()],
        )

    def plus(self, other: ScanTable) -> ScanTable:
        """The rows of both tables (their paths must differ)."""
        return ScanTable(
            self.paths + other.paths,
            np.concatenate([self.keys, other.keys]),
            np.concatenate([self.sizes, other.sizes]),
            np.concatenate([self.digests, other.digests]),
            np.concatenate([self.hashes, other.hashes]),
            self.errors + other.errors,
        )


def save_table(path: Path, table: ScanTable, version: int) -> None:
    """Write ``table`` to ``path`` atomically (the folder being unwritable only warns)."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        version=np.array([version, table.hashes.shape[1], len(table.paths)], dtype=np.int64),
        paths=_join(table.paths),
        keys=table.keys,
        sizes=table.sizes,
        digests=table.digests,
        hashes=table.hashes,
        errors=_join(table.errors),
    )
    save_cache(path, buffer.getvalue())


def load_table(path: Path, version: int, hash_bytes: int) -> ScanTable:
    """The table in ``path``; empty if there is none or it fails its check (with a log line)."""
    if not path.is_file():
        return ScanTable.empty(hash_bytes)
    try:
        with np.load(path, allow_pickle=False) as content:
            header = content["version"].tolist()
            if header[:2] != [version, hash_bytes]:
                raise ValueError(f"version and hash width {header[:2]}, expected {[version, hash_bytes]}")
            count = header[2]
            table = ScanTable(
                _split(content["paths"], count),
                content["keys"],
                content["sizes"],
                content["digests"],
                content["hashes"],
                _split(content["errors"], count),
            )
        _check(table, count, hash_bytes)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("Ignoring the scan cache %s (%s); the images are scanned again.", path, exc)
        return ScanTable.empty(hash_bytes)
    return table


def _check(table: ScanTable, count: int, hash_bytes: int) -> None:
    expected = {
        "keys": ((count, 2), np.int64),
        "sizes": ((count, 2), np.int32),
        "digests": ((count, DIGEST_BYTES), np.uint8),
        "hashes": ((count, hash_bytes), np.uint8),
    }
    for name, (shape, dtype) in expected.items():
        array = getattr(table, name)
        if array.shape != shape or array.dtype != dtype:
            raise ValueError(f"{name}: {array.shape} {array.dtype}, expected {shape} {np.dtype(dtype)}")
    if len(table.paths) != count or len(table.errors) != count:
        raise ValueError(f"{len(table.paths)} paths, {len(table.errors)} errors for {count} records")

"""Writing files so that no reader (a concurrent run, another DDP rank) ever sees half of one, and
cache files that several runs share (a sweep's jobs start together on one cache folder).

A file is written to a temporary file beside it, flushed to disk and renamed over it: a reader
sees the old file or the new one, and a run killed mid-write leaves only a temporary file that no
reader opens. Where two runs would compute the same cache entry, :func:`cached_array` lets the
first compute it under a :class:`filelock.FileLock` (released by the system if its holder dies)
while the second waits and then reads it. A cache file that fails its check is ignored, with a log
line, and rebuilt.
"""

from __future__ import annotations

import glob
import io
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

log = logging.getLogger(__name__)
_UNWRITABLE: set[Path] = set()


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with open(partial, "xb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def _warn_unwritable(folder: Path, exc: OSError) -> None:
    """A cache folder that cannot be written costs only time: say so once per folder."""
    if folder not in _UNWRITABLE:
        _UNWRITABLE.add(folder)
        log.warning(
            "Cannot write the cache folder %s (%s): the run goes on, but image scans and "
            "near-duplicate groups are not remembered for the next run. Set paths.cache_dir to a "
            "writable folder.",
            folder,
            exc.strerror or exc,
        )


def save_cache(path: str | Path, data: str | bytes) -> bool:
    """Write a cache file atomically; ``False`` (and a warning, once) if its folder cannot be written."""
    path = Path(path)
    try:
        atomic_write(path, data)
    except OSError as exc:
        _warn_unwritable(path.parent, exc)
        return False
    return True


@contextmanager
def cache_lock(path: str | Path) -> Iterator[None]:
    """Hold the inter-process lock of the cache file ``path`` (``<path>.lock``; waits for another
    holder). The system releases it if its holder dies; the temporary files such a holder left are
    removed (every writer of ``path`` writes under its lock, so no live run owns one). Where the
    folder cannot be written there is no lock, nor anything to protect: the body runs unlocked,
    after the warning of :func:`save_cache`."""
    path = Path(path)
    with ExitStack() as stack:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(path.with_name(path.name + ".lock"))
            try:
                held = lock.acquire(blocking=False)
            except Timeout:
                log.info("Waiting for another run to finish writing %s (it holds %s)", path, lock.lock_file)
                held = lock.acquire()
            stack.enter_context(held)
            for stale in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
                stale.unlink(missing_ok=True)
        except OSError as exc:
            _warn_unwritable(path.parent, exc)
        yield


def load_array(path: str | Path, valid: Callable[[np.ndarray], bool]) -> np.ndarray | None:
    """The array in the ``.npy`` file ``path`` if it exists, reads whole and passes ``valid``; else ``None``
    (with a log line for a file that fails)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        array = np.load(path, allow_pickle=False)
        problem = None if valid(array) else f"unexpected shape {array.shape} or type {array.dtype}"
    except (OSError, ValueError, EOFError) as exc:
        problem = f"unreadable: {exc}"
    if problem is None:
        return array
    log.warning("Ignoring the cache file %s (%s); it is computed again.", path, problem)
    return None


def cached_array(
    path: str | Path | None, compute: Callable[[], np.ndarray], valid: Callable[[np.ndarray], bool]
) -> np.ndarray:
    """``compute()``, remembered in the ``.npy`` file ``path`` (``None``: not remembered).

    A valid file is read; else the lock of ``path`` is taken and the file checked again (a run that
    held the lock may have written it meanwhile), and only then is ``compute()`` called and its
    result written, so runs that start together compute it once.
    """
    if path is None:
        return compute()
    found = load_array(path, valid)
    if found is not None:
        return found
    with cache_lock(path):
        found = load_array(path, valid)
        if found is not None:
            return found
        result = compute()
        buffer = io.BytesIO()
        np.save(buffer, result, allow_pickle=False)
        save_cache(path, buffer.getvalue())
    return result

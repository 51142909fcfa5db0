"""What the processes that ``test_cache_concurrency`` starts run.

A spawned process imports this module to find its function, so it imports only what the cache
files need; ``fgclass.data`` (which loads torch, seconds of CPU) only where a process scans.
"""

from __future__ import annotations

import logging
import os
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path

import numpy as np

from fgclass.files import cache_lock, cached_array

SHAPE = (1000,)


def compute_once(path: Path, calls: Path, value: int, barrier: Barrier, results: Queue) -> None:
    """Ask for the cached array at ``path`` together with the other process; ``calls`` gets a line
    for each computation, which takes half a second and fills the array with ``value``."""

    def compute() -> np.ndarray:
        with calls.open("a") as log:
            log.write(f"{os.getpid()}\n")
        time.sleep(0.5)
        return np.full(SHAPE, value)

    barrier.wait()
    results.put(int(cached_array(path, compute, lambda a: a.shape == SHAPE)[0]))


def die_holding_the_lock(path: Path, ready: Event) -> None:
    """Take the lock of the cache file ``path``, leave half a temporary file beside it, wait to be killed."""
    with cache_lock(path):
        path.with_name(f".{path.name}.{os.getpid()}.0.partial").write_bytes(b"PK\x03\x04 half a cache file")
        ready.set()
        time.sleep(600)


def scan(
    root: Path, paths: list[str], cache: Path, barrier: Barrier | None, save_every: float, results: Queue
) -> None:
    """Scan ``paths`` with the cache file ``cache`` (after waiting for the other process at
    ``barrier``); put ``(pid, images decoded, records)`` in ``results``."""
    from fgclass.data import scan as module

    module._SAVE_EVERY_S = save_every
    decoded = module.DecodeCounter()
    logging.getLogger(module.__name__).addHandler(decoded)
    logging.getLogger(module.__name__).setLevel(logging.INFO)
    if barrier is not None:
        barrier.wait()
    records = module.scan_images(root, paths, cache, workers=1).records
    results.put((os.getpid(), decoded.count, records))

"""Shared cache files under concurrency: runs that start together on one cache folder compute each
entry once and never read half of one; a killed run leaves nothing a later run trusts; a cache file
that fails its check is ignored with a log line and rebuilt; an unchanged dataset is not decoded again.

The processes are real: spawned (a fresh Python) where they touch only the cache files, forked
where they scan (a spawned one would spend seconds of CPU importing torch with ``fgclass.data``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Callable, Iterator
from multiprocessing.context import BaseContext
from pathlib import Path

import numpy as np
import pytest

from fgclass.data.scan import _CACHE_VERSION, _HASH_BYTES, DecodeCounter, cache_file_for, scan_images
from fgclass.data.scan_cache import load_table, save_table
from fgclass.data.synthetic import write_noise_images
from fgclass.files import cached_array
from tests import cache_workers
from tests.cache_workers import SHAPE

SPAWN, FORK = multiprocessing.get_context("spawn"), multiprocessing.get_context("fork")


@pytest.fixture
def decoded() -> Iterator[DecodeCounter]:
    """The number of images the scans in this process decode."""
    handler = DecodeCounter()
    logger = logging.getLogger("fgclass.data.scan")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def run_together(context: BaseContext, target: Callable, *args_per_process: tuple) -> list:
    """Start ``target(*args)`` in one process per ``args``; their results, once all have ended."""
    results = context.Queue()
    processes = [context.Process(target=target, args=(*args, results)) for args in args_per_process]
    for process in processes:
        process.start()
    out: list = []
    while len(out) < len(processes):
        try:
            out.append(results.get(timeout=1))
        except queue.Empty:
            assert all(p.exitcode in (None, 0) for p in processes), "a process failed: its traceback is above"
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    return out


@pytest.mark.processes
def test_two_runs_scanning_one_root_together_decode_each_image_once(tmp_path: Path) -> None:
    root = tmp_path / "data"
    paths = write_noise_images(root, 40)
    cache = cache_file_for(tmp_path / "cache", root)
    barrier = FORK.Barrier(2)
    runs = run_together(FORK, cache_workers.scan, *[(root, paths, cache, barrier, 300.0)] * 2)

    assert len({pid for pid, _, _ in runs}) == 2
    assert sorted(count for _, count, _ in runs) == [0, len(paths)]  # the second waited, then read
    expected = scan_images(root, paths).records  # no cache
    assert all(records == expected for _, _, records in runs)
    assert load_table(cache, _CACHE_VERSION, _HASH_BYTES).paths == paths


@pytest.mark.processes
def test_a_scan_killed_midway_leaves_a_cache_the_next_scan_trusts_and_resumes(
    tmp_path: Path, decoded: DecodeCounter
) -> None:
    root = tmp_path / "data"
    paths = write_noise_images(root, 60, side=192)
    cache = cache_file_for(tmp_path / "cache", root)
    expected, before = scan_images(root, paths).records, decoded.count
    assert before == len(paths)
    results = FORK.Queue()
    run = FORK.Process(target=cache_workers.scan, args=(root, paths, cache, None, 0.0, results))
    run.start()  # saves what it has after every image
    deadline = time.monotonic() + 300
    while not cache.is_file() and time.monotonic() < deadline and run.is_alive():
        time.sleep(0.002)
    os.kill(run.pid, signal.SIGKILL)
    run.join(60)
    assert run.exitcode == -signal.SIGKILL and cache.is_file()

    assert scan_images(root, paths, cache, workers=1).records == expected
    assert decoded.count - before < len(paths)  # it resumed from what the killed scan had saved


@pytest.mark.processes
def test_two_runs_asking_for_one_cache_entry_compute_it_once(tmp_path: Path) -> None:
    path, calls = tmp_path / "cache" / "entry.npy", tmp_path / "calls.txt"
    barrier = SPAWN.Barrier(2)
    values = run_together(SPAWN, cache_workers.compute_once, *[(path, calls, k, barrier) for k in (1, 2)])

    assert len(calls.read_text().splitlines()) == 1
    assert values[0] == values[1] and np.array_equal(np.load(path), np.full(SHAPE, values[0]))


@pytest.mark.processes
def test_a_run_killed_holding_the_lock_blocks_nobody_and_its_half_file_is_never_read(
    tmp_path: Path, decoded: DecodeCounter
) -> None:
    root = tmp_path / "data"
    paths = write_noise_images(root, 6)
    cache = cache_file_for(tmp_path / "cache", root)
    expected = scan_images(root, paths).records
    ready = SPAWN.Event()
    holder = SPAWN.Process(target=cache_workers.die_holding_the_lock, args=(cache, ready))
    holder.start()
    assert ready.wait(300)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(60)

    assert scan_images(root, paths, cache, workers=1).records == expected
    assert decoded.count == 2 * len(paths)  # nothing of the dead run's was trusted
    assert not list(cache.parent.glob("*.partial"))  # and its half file is gone


@pytest.mark.parametrize("damage", ["truncated", "not a cache", "another version", "another hash width"])
def test_a_scan_cache_that_fails_its_check_is_rebuilt(
    tmp_path: Path, decoded: DecodeCounter, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    root = tmp_path / "data"
    paths = write_noise_images(root, 5)
    cache = cache_file_for(tmp_path / "cache", root)
    expected = scan_images(root, paths, cache, workers=1).records
    content = cache.read_bytes()
    table = load_table(cache, _CACHE_VERSION, _HASH_BYTES)
    if damage == "truncated":
        cache.write_bytes(content[: len(content) // 2])
    elif damage == "not a cache":
        cache.write_text("<html>Not Found</html>")
    elif damage == "another version":
        save_table(cache, table, _CACHE_VERSION - 1)
    else:
        table.hashes = table.hashes[:, :-8]
        save_table(cache, table, _CACHE_VERSION)

    assert scan_images(root, paths, cache, workers=1).records == expected
    assert decoded.count == 2 * len(paths)
    assert any(
        "Ignoring the scan cache" in r.getMessage() and str(cache) in r.getMessage() for r in caplog.records
    )
    assert scan_images(root, paths, cache, workers=1).records == expected
    assert decoded.count == 2 * len(paths)  # rebuilt: the third scan decoded nothing


def test_an_unchanged_dataset_is_not_decoded_again(tmp_path: Path, decoded: DecodeCounter) -> None:
    root = tmp_path / "data"
    paths = write_noise_images(root, 8)
    cache = cache_file_for(tmp_path / "cache", root)
    expected = scan_images(root, paths, cache, workers=1).records
    for path in paths:  # unreadable now, but with the size and time the cache knows
        stat = (root / path).stat()
        (root / path).write_bytes(b"\0" * stat.st_size)
        os.utime(root / path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    assert scan_images(root, paths, cache, workers=1).records == expected
    assert decoded.count == len(paths)  # the first scan's


@pytest.mark.parametrize("damage", ["truncated", "another shape"])
def test_a_cached_array_that_fails_its_check_is_computed_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    path = tmp_path / "entry.npy"
    cached_array(path, lambda: np.arange(1000.0), lambda a: a.shape == (1000,))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:500])
    else:
        np.save(path, np.arange(10.0))

    assert np.array_equal(
        cached_array(path, lambda: np.ones(1000), lambda a: a.shape == (1000,)), np.ones(1000)
    )
    assert any(f"Ignoring the cache file {path}" in r.getMessage() for r in caplog.records)
    assert np.array_equal(np.load(path), np.ones(1000))  # rebuilt

"""The scan cache at a million files: the old JSON document against the ``.npz`` columns, side by side.

    python -m benchmarks.bench_scan_cache [--records 1000000] [--images 2000] [--reps 2]

1. ``--records`` generated scan records (random digests and hashes of the real widths; 0.1 % of
   them unreadable files), written as a scan writes its cache and read back as a scan reads it: from
   the records to the file, and from the file to one ``ImageRecord`` per path with its key checked.
   The old format is the one of fgclass before cache version 4 (one JSON document,
   ``{"version": 3, "files": {path: {"key": [size, mtime], "record": {...}}}}``), reproduced here.
   The two alternate repetition by repetition (old first, then new first); medians, with the
   ratios of each repetition's pair.
2. A folder of ``--images`` tiny PNG files: a first (cold) scan, then a re-scan of the unchanged
   folder, which must decode nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import machine, paired_ratio, table
from fgclass.data.scan import _CACHE_VERSION, _HASH_BYTES, DecodeCounter, ImageRecord, _table, scan_images
from fgclass.data.scan_cache import load_table, save_table
from fgclass.data.synthetic import write_noise_images
from fgclass.files import save_cache

Records = tuple[list[str], np.ndarray, list[ImageRecord]]


def generate(count: int) -> Records:
    """``count`` paths in 10,000 class folders, their keys and scan records."""
    rng = np.random.default_rng(0)
    paths = [f"train/class_{i % 10_000:05d}/image_{i:07d}.jpg" for i in range(count)]
    keys = np.stack([rng.integers(1_000, 10**6, count), rng.integers(10**18, 2 * 10**18, count)], 1)
    digests = rng.integers(0, 256, (count, 16), dtype=np.uint8).tobytes().hex()
    hashes = rng.integers(0, 256, (count, _HASH_BYTES), dtype=np.uint8).tobytes().hex()
    sizes = rng.integers(32, 4_000, (count, 2)).tolist()
    d, h = 32, 2 * _HASH_BYTES
    records = [
        ImageRecord(0, 0, "", "", "cannot identify image file")
        if i % 1000 == 999
        else ImageRecord(w, hh, digests[i * d : (i + 1) * d], hashes[i * h : (i + 1) * h])
        for i, (w, hh) in enumerate(sizes)
    ]
    return paths, keys, records


def json_save(path: Path, paths: list[str], keys: np.ndarray, records: list[ImageRecord]) -> None:
    cache = {p: {"key": k, "record": r.__dict__} for p, k, r in zip(paths, keys.tolist(), records)}
    save_cache(path, json.dumps({"version": 3, "files": cache}))


def json_load(path: Path, paths: list[str], keys: np.ndarray) -> list[ImageRecord]:
    cache = json.loads(path.read_text())["files"]
    out = []
    for p, k in zip(paths, keys.tolist()):
        hit = cache.get(p)
        assert hit is not None and hit["key"] == k
        out.append(ImageRecord(**hit["record"]))
    return out


def npz_save(path: Path, paths: list[str], keys: np.ndarray, records: list[ImageRecord]) -> None:
    save_table(path, _table(paths, keys, records), _CACHE_VERSION)


def npz_load(path: Path, paths: list[str], keys: np.ndarray) -> list[ImageRecord]:
    table = load_table(path, _CACHE_VERSION, _HASH_BYTES)
    rows = table.find(paths, keys)
    assert (rows >= 0).all()
    return [ImageRecord(*fields) for fields in table.fields(rows)]


FORMATS = {
    "JSON (before)": (json_save, json_load, "scan.json"),
    "npz (now)": (npz_save, npz_load, "scan.npz"),
}


def formats(folder: Path, data: Records, reps: int) -> str:
    paths, keys, records = data
    times: dict[str, dict[str, list[float]]] = {name: {"save": [], "load": []} for name in FORMATS}
    sizes = {}
    for rep in range(reps):
        for name in FORMATS if rep % 2 == 0 else reversed(FORMATS):
            save, load, file = FORMATS[name]
            start = time.perf_counter()
            save(folder / file, paths, keys, records)
            middle = time.perf_counter()
            loaded = load(folder / file, paths, keys)
            times[name]["save"].append(middle - start)
            times[name]["load"].append(time.perf_counter() - middle)
            assert loaded == records, name
            del loaded
            sizes[name] = (folder / file).stat().st_size / 1e6
            saved, read = times[name]["save"][-1], times[name]["load"][-1]
            print(f"  rep {rep + 1} {name}: save {saved:.2f} s, load {read:.2f} s", flush=True)
    old, new = times["JSON (before)"], times["npz (now)"]
    rows = [
        [name, statistics.median(t["save"]), statistics.median(t["load"]), sizes[name]]
        for name, t in times.items()
    ]
    rows.append(
        [
            "ratio JSON / npz",
            f"{paired_ratio(old['save'], new['save']):.1f}x",
            f"{paired_ratio(old['load'], new['load']):.1f}x",
            f"{sizes['JSON (before)'] / sizes['npz (now)']:.1f}x",
        ]
    )
    return table(["format", "save s", "load + check s", "file MB"], rows)


def rescan(folder: Path, count: int) -> str:
    paths = write_noise_images(folder / "images", count, side=32, classes=10)
    decoded = DecodeCounter()
    logging.getLogger("fgclass.data.scan").addHandler(decoded)
    logging.getLogger("fgclass.data.scan").setLevel(logging.INFO)
    cache, rows = folder / "cache" / "scan.npz", []
    for name in ("cold (decodes every image)", "warm (unchanged folder)"):
        before, start = decoded.count, time.perf_counter()
        scan_images(folder / "images", paths, cache)
        seconds = time.perf_counter() - start
        rows.append([name, decoded.count - before, seconds, seconds / count * 1e6])
    rows.append(["ratio cold / warm", "", f"{rows[0][2] / rows[1][2]:.0f}x", ""])
    return table(["scan", "images decoded", "s", "µs per image"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--reps", type=int, default=2, help="alternating repetitions")
    args = parser.parse_args(argv)
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\nScan cache of {args.records:,} records, {args.reps} alternating repetitions:")
        print(formats(Path(tmp), generate(args.records), args.reps))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\nRe-scan of an unchanged folder of {args.images:,} PNG files (32 x 32 px):")
        print(rescan(Path(tmp), args.images))


if __name__ == "__main__":
    main()

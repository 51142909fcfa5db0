"""How fast fgclass scans (decodes + hashes) images, cold and from the cache, and finds pairs.

    python -m benchmarks.bench_hashing ../shared/data/fish
    python -m benchmarks.bench_hashing ../shared/data/fish --as-png 590x445 --copies 3

``--as-png`` first re-saves every image (``--copies`` times, each with faint noise so no two
files are equal) as a PNG of that size in a temporary folder: the format of the Kaggle fish
download, whose decoding dominates the cost.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import as_png
from fgclass.data.duplicates import DEFAULT_THRESHOLD, near_duplicate_pairs
from fgclass.data.listing import IMAGE_EXTENSIONS
from fgclass.data.scan import scan_images


def _images(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and " GT" not in p.parent.name
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="folder scanned recursively for images")
    parser.add_argument("--as-png", metavar="WxH", help="re-save the images as PNGs of this size first")
    parser.add_argument("--copies", type=int, default=1, help="with --as-png: files written per image")
    parser.add_argument("--workers", type=int, default=0, help="scan processes (0: one per core)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root, paths = args.root, _images(args.root)
        if args.as_png:
            size = tuple(int(v) for v in args.as_png.split("x"))
            root, paths = Path(tmp), as_png(root, paths, size, args.copies, Path(tmp))
        megabytes = sum((root / p).stat().st_size for p in paths) / 2**20
        cache = Path(tmp) / "cache" / "scan.json"
        cores = len(os.sched_getaffinity(0))
        print(f"{len(paths)} images, {megabytes:.0f} MiB, {cores} cores, load {os.getloadavg()[0]:.1f}")

        start = time.perf_counter()
        scan = scan_images(root, paths, cache, workers=args.workers)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        scan_images(root, paths, cache, workers=args.workers)
        warm = time.perf_counter() - start
    rate = len(paths) / cold
    print(f"cold scan : {cold:6.2f} s = {rate:6.0f} images/s -> 10,000 images in {10_000 / rate:5.1f} s")
    print(f"cache hit : {warm:6.2f} s")
    pairs = sum(1 for _ in near_duplicate_pairs(scan.hashes, DEFAULT_THRESHOLD))
    print(f"near-duplicate pairs within {DEFAULT_THRESHOLD} bits: {pairs}")
    hashes = np.random.default_rng(0).integers(0, 2**63, (10_000, 8, 4), dtype=np.uint64)
    start = time.perf_counter()
    sum(1 for _ in near_duplicate_pairs(hashes, DEFAULT_THRESHOLD))
    print(f"pair search over 10,000 images: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()

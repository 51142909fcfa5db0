"""fgclass at iNaturalist's scale (issue 29), one section per question, each selectable:

    python -m benchmarks.bench_scale [--only shards|scan] [--images 10000] [--reps 3] [--workers 2]

Sections (``--only``; all by default):

- ``shards``: training-loader throughput from LitData shards (``data=shards``) against the image
  folder they were packed from (``data=image_folder``), side by side in one process. ``--images``
  small JPEGs (96 px, 100 classes) are generated once under ``--root`` with a ``splits.csv`` that
  puts them all in training (no scan: both data modules read it as ``data.splits_file``), packed
  with ``fgclass.data.shards.pack_dataset``, and both data modules come from the real Hydra
  composition with the same transforms (``augment=basic`` at 64 px), batch size and loader
  workers. One repetition reads one epoch of each training loader (first repetition warm-up, so
  both read from the page cache); the order alternates. Goal: shards / image folder >= 1.0.
- ``scan``: cold and warm (cached) scan of ``--images`` small generated images, and the time the
  real training command takes to its first step, cold and warm, each in a fresh process
  (``benchmarks/bench_scale_scan.py``). Goal: cold / warm >= 50.
"""

from __future__ import annotations

import argparse
import csv
import logging
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from hydra.utils import instantiate

from benchmarks.bench_scale_scan import scan
from benchmarks.common import interleave, machine, paired_ratio, table, verdict
from fgclass.config import compose_config
from fgclass.data.shards import pack_dataset
from fgclass.data.splits import SplitTable

CLASSES = 100


def write_jpegs(root: Path, count: int, side: int = 96) -> Path:
    """``count`` small JPEGs ``root/images/c<k>/<n>.jpg`` (smooth colour fields with noise, about
    4 KB each) and ``root/splits.csv`` with all of them in training; written once."""
    splits = root / "splits.csv"
    if splits.is_file() and sum(1 for _ in splits.open()) == count + 1:
        return splits
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, side, dtype=np.float32)
    rows = []
    for n in range(count):
        path = f"c{n % CLASSES:03d}/{n:06d}.jpg"
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        image = colour * ramp[:, None, None] + rng.normal(0, 12, (side, side, 3)).astype(np.float32)
        (root / "images" / path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "images" / path), np.clip(image, 0, 255).astype(np.uint8))
        rows.append((path, f"c{n % CLASSES:03d}", "train", n))
    with splits.open("w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label", "split", "group"), *rows])
    return splits


def loader_rate(make_loader: Callable[[], Iterable[Sequence[Any]]]) -> Callable[[], float]:
    """A run: images per second over one epoch of the loader (built once, re-iterated)."""
    loader = make_loader()

    def run() -> float:
        start, images = time.perf_counter(), 0
        for batch in loader:
            images += len(batch[0])
        return images / (time.perf_counter() - start)

    return run


def shards(args: argparse.Namespace) -> None:
    """Section ``shards``: see the module docstring."""
    root = Path(args.root)
    root.mkdir(parents=True, exist_ok=True)
    splits = write_jpegs(root, args.images)
    packed = root / "shards"
    start = time.perf_counter()
    pack_dataset(SplitTable.read(splits), root / "images", packed, num_workers=args.workers)
    pack_seconds = time.perf_counter() - start
    common = [
        f"data.splits_file={splits}",
        "augment=basic",
        "data.image_size=64",
        "data.resize_size=72",
        f"data.batch_size={args.batch_size}",
        f"data.num_workers={args.workers}",
        "data.persistent_workers=true",
    ]
    modules = {
        "image folder": instantiate(
            compose_config("train", ["data=image_folder", f"data.root={root / 'images'}", *common], root).data
        ),
        "shards": instantiate(
            compose_config("train", ["data=shards", f"data.root={packed}", *common], root).data
        ),
    }
    for module in modules.values():
        module.setup("fit")
    runs = {name: loader_rate(module.train_dataloader) for name, module in modules.items()}
    rates = interleave(runs, args.reps)
    ratio = paired_ratio(rates["shards"], rates["image folder"])
    rows = [[name, statistics.median(r), min(r), max(r)] for name, r in rates.items()]
    print(f"\n### Shards vs image folder ({args.images:,} JPEGs of 96 px, packed in {pack_seconds:.1f} s)\n")
    print(table(["training loader", "img/s (median)", "min", "max"], rows))
    pairs = ", ".join(f"{a / b:.2f}" for a, b in zip(rates["shards"], rates["image folder"]))
    print(f"\nshards / image folder, paired median of {args.reps}: {ratio:.2f} (each repetition: {pairs})")
    print(verdict("shards / image folder throughput", ratio, 1.0))


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"shards": shards, "scan": scan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", choices=sorted(SECTIONS), action="append", help="sections to run (repeatable)"
    )
    parser.add_argument("--root", default="/tmp/fgclass_bench_scale", help="where the generated data goes")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="loader (and packing) processes")
    parser.add_argument("--reps", type=int, default=3, help="alternating repetitions after one warm-up")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"Machine: {machine()}")
    for name in args.only or SECTIONS:
        SECTIONS[name](args)


if __name__ == "__main__":
    main()

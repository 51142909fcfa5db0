"""Section ``scan`` of ``benchmarks/bench_scale.py`` (issue 29): the scan and its cache at 100 k images.

    python -m benchmarks.bench_scale --only scan --images 100000 --reps 2

``--images`` noise PNGs (32 px, 300 classes; :func:`fgclass.data.synthetic.write_noise_images`) are
written once under ``--root`` in the image-folder layout. Each repetition starts the real entry point
(``python -m fgclass.train data=image_folder model=tiny trainer.max_steps=1 ...``) twice in fresh
processes: cold, with an empty ``paths.cache_dir`` (every image decoded, near-duplicates grouped),
then warm, on the cache the cold run filled (each run has its own output folder, so the warm one
splits again from the cache). Two callbacks this module adds by overrides time a run: a Hydra one at
the start of the job (after the imports and composition) and a Lightning one at the first training
step; a :class:`~fgclass.data.scan.DecodeCounter` counts the images each run decodes. The near-
duplicate grouping is by hashes only (``data.split.embedding_threshold=null``: the embedding judge
runs Lite0 on 8 views of every image, 30-60 min at 100 k on 2 CPU cores). Reported: the process's time to its
first training step (goal: cold / warm >= 50), that of the data preparation alone (job start to data
module and model ready: scan, grouping, split, ``splits.csv``, datasets), the cold scan's per-image
cost (its log line) and, timed in this process afterwards, the warm scan's (cache load and key check).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig

from benchmarks.common import paired_ratio, table, verdict
from fgclass.data.scan import DecodeCounter
from fgclass.data.sources import ImageFolderLayout
from fgclass.data.split_pipeline import scan_dataset
from fgclass.data.synthetic import write_noise_images

CLASSES = 300
SIDE = 32
_MARK = "FIRST_STEP "
_DECODED = DecodeCounter()  # the images this process's scans decode
_JOB: dict[str, float] = {}


class JobClock(HydraCallback):
    """Notes when the job starts (imports and composition done) and counts the scan's decodes."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        _JOB["start"] = time.time()
        scan_log = logging.getLogger("fgclass.data.scan")
        scan_log.setLevel(logging.INFO)
        scan_log.addHandler(_DECODED)


class FirstStep(L.Callback):
    """Prints when the run was ready to train (this callback is built after the data module and the
    model) and when its first training step started and ended, as one JSON line."""

    def __init__(self) -> None:
        self.ready = time.time()

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        self.start = time.time()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == 1:
            times = {"job": _JOB.get("start"), "ready": self.ready, "step_start": self.start}
            times |= {"step_end": time.time(), "decoded": _DECODED.count}
            print(_MARK + json.dumps(times), flush=True)


def images(root: Path, count: int) -> Path:
    """``count`` noise PNGs in ``root/noise<count>/images/c<k>/`` (written once)."""
    folder = root / f"noise{count}"
    done = folder / "complete"
    if not done.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        write_noise_images(folder / "images", count, side=SIDE, classes=CLASSES)
        done.write_text(f"{count} images written in {time.perf_counter() - start:.0f} s\n")
    print(f"{folder / 'images'}: {done.read_text().strip()}", flush=True)
    return folder / "images"


def train_command(images_root: Path, cache: Path, run_dir: Path) -> list[str]:
    """The real training entry point, stopped after its first step, nothing else after it."""
    module = __name__
    return [
        sys.executable,
        "-m",
        "fgclass.train",
        "data=image_folder",
        f"data.root={images_root}",
        "data.split.embedding_threshold=null",
        "data.image_size=32",
        "data.num_workers=0",
        "model=tiny",
        "callbacks=none",
        "logger=none",
        "trainer.accelerator=cpu",
        "trainer.max_steps=1",
        "trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0",
        "trainer.enable_checkpointing=false",
        "test=false",
        "optimized_metric=train/loss",  # val/accuracy_best needs a validation epoch
        f"paths.cache_dir={cache}",
        f"hydra.run.dir={run_dir}",
        f"+hydra.callbacks.bench_clock._target_={module}.JobClock",
        f"+callbacks.bench_first_step._target_={module}.FirstStep",
    ]


def timed_run(command: list[str], log: Path) -> dict[str, float]:
    """Run ``command`` in a fresh process; seconds from its start to each mark, and its decodes."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    wall = time.time() - start
    text = log.read_text()
    if done.returncode != 0 or _MARK not in text:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}), see {log}:\n{text[-3000:]}")
    marks = json.loads(text.split(_MARK)[-1].splitlines()[0])
    scanned = [line for line in text.splitlines() if "Scanned " in line]
    return {
        "first step": marks["step_start"] - start,
        "data": marks["ready"] - marks["job"],
        "imports": marks["job"] - start,
        "step": marks["step_end"] - marks["step_start"],
        "process": wall,
        "decoded": marks["decoded"],
        "scan line": scanned[-1].split("] - ")[-1] if scanned else "",
    }


def scan(args: argparse.Namespace) -> None:
    """Section ``scan``: see the module docstring."""
    root = Path(args.root)
    images_root = images(root, args.images)
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    for rep in range(args.reps):
        cache, run_dirs = root / f"scan_cache{rep}", root / "scan_runs"
        shutil.rmtree(cache, ignore_errors=True)
        for name in runs:
            run_dir = run_dirs / f"{name}{rep}"
            shutil.rmtree(run_dir, ignore_errors=True)
            result = timed_run(train_command(images_root, cache, run_dir), run_dirs / f"{name}{rep}.log")
            runs[name].append(result)
            print(f"  rep {rep + 1} {name}: {json.dumps(result)}", flush=True)
    found = time.perf_counter()
    listed = ImageFolderLayout(images_root).find()
    found, start = time.perf_counter() - found, time.perf_counter()
    before = _DECODED.count
    logging.getLogger("fgclass.data.scan").addHandler(_DECODED)
    logging.getLogger("fgclass.data.scan").setLevel(logging.INFO)
    scan_dataset(listed, cache)
    warm_scan, warm_decoded = time.perf_counter() - start, _DECODED.count - before
    cold_scan = [float(r["scan line"].split(" in ")[1].split(" s")[0]) for r in runs["cold"]]
    keys = ("first step", "process", "data", "imports", "step")
    rows = [
        [name, *(statistics.median(r[k] for r in rs) for k in keys), rs[-1]["decoded"]]
        for name, rs in runs.items()
    ]
    rows.append(
        [
            "cold / warm",
            *(
                f"{paired_ratio([r[k] for r in runs['cold']], [r[k] for r in runs['warm']]):.1f}x"
                for k in keys
            ),
            "",
        ]
    )
    n = args.images
    print(f"\n### Scan at {n:,} images ({SIDE} px noise PNGs, {CLASSES} classes; median of {args.reps})\n")
    headers = ["run", "to first step s", "whole process s", "data ready s", "imports s", "first step s"]
    print(table([*headers, "images decoded"], rows))
    print(f"\ncold scan (its log line): {runs['cold'][-1]['scan line']}")
    print(
        table(
            ["scan", "s", "µs per image", "images decoded"],
            [
                [
                    "cold (in the training run)",
                    statistics.median(cold_scan),
                    statistics.median(cold_scan) / n * 1e6,
                    n,
                ],
                ["warm (cache load + key check)", warm_scan, warm_scan / n * 1e6, warm_decoded],
                ["listing the folder (both)", found, found / n * 1e6, ""],
            ],
        )
    )
    ratio = paired_ratio([r["first step"] for r in runs["cold"]], [r["first step"] for r in runs["warm"]])
    data = paired_ratio([r["data"] for r in runs["cold"]], [r["data"] for r in runs["warm"]])
    print(verdict("cold / warm time to first step, whole process", ratio, 50.0))
    print(verdict("cold / warm time to first step, data preparation alone", data, 50.0))

"""Frozen-feature caching: head-only epochs on cached backbone features vs re-running the backbone.

    python -m benchmarks.bench_feature_cache [--dataset fish --epochs 4 --seeds 0 1]

Runs ``fgclass.train`` itself (experiment ``<dataset>_head_only`` with ``augment=none``, random
init, the default callbacks and logger) on the real sample in ../shared/data, once with
``finetune.cache_features=false`` and once with ``true`` per seed, alternating which goes first.
An epoch is timed from its start to its end (training, validation, checkpointing); the
training part alone is also reported. Accuracy of both paths is compared across seeds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    SHARED_DATA,
    EpochStats,
    Stopwatch,
    compose_train,
    machine,
    quiet_lightning,
    table,
    verdict,
)
from fgclass.train import train

GOAL = 20.0


def run(args: Any, seed: int, cache: bool, tmp: Path) -> dict[str, Any]:
    cfg = compose_train(
        [
            f"experiment={args.dataset}_head_only",
            "augment=none",
            "model.weights=null",
            f"data.root={SHARED_DATA / args.dataset}",
            f"finetune.cache_features={cache}",
            f"trainer.max_epochs={args.epochs}",
            f"seed={seed}",
            "+callbacks.epoch_stats._target_=benchmarks.common.EpochStats",
        ],
        tmp / f"{seed}-{cache}",
    )
    with Stopwatch() as watch:
        metrics = train(cfg)
    timer = EpochStats.last
    return {
        "total": watch.seconds,
        "setup": timer.setup,
        "epoch": statistics.median(timer.epochs),
        "train": statistics.median(timer.train_parts),
        "val/acc": metrics["val/acc"],
        "test/acc": metrics["test/acc"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fish", choices=["fish", "butterfly"])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args(argv)
    quiet_lightning()
    print(machine())
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i, seed in enumerate(args.seeds):
            for cache in (False, True) if i % 2 == 0 else (True, False):
                runs[cache].append(run(args, seed, cache, Path(tmp)))
    keys = ["setup", "epoch", "train", "total", "val/acc", "test/acc"]
    rows = [
        ["cached features" if cache else "frozen backbone", seed, *(r[k] for k in keys)]
        for cache, results in runs.items()
        for seed, r in zip(args.seeds, results)
    ]
    print(f"{args.dataset} sample, resnet50 (random init), head-only, {args.epochs} epochs; times in s")
    headers = ["path", "seed", "setup", "epoch (median)", "train part", "run total", "val acc", "test acc"]
    print(table(headers, rows))
    epoch = statistics.median(a["epoch"] / b["epoch"] for a, b in zip(runs[False], runs[True]))
    train_part = statistics.median(a["train"] / b["train"] for a, b in zip(runs[False], runs[True]))
    total = statistics.median(a["total"] / b["total"] for a, b in zip(runs[False], runs[True]))
    print(verdict("epoch speed-up (training + validation + checkpoint)", epoch, GOAL))
    print(f"speed-up of the training batches alone: {train_part:.1f}x; of the whole run: {total:.1f}x")
    for metric in ("val/acc", "test/acc"):
        full = [r[metric] for r in runs[False]]
        cached = [r[metric] for r in runs[True]]
        print(
            f"{metric}: frozen backbone {statistics.mean(full):.3f}, cached {statistics.mean(cached):.3f}; "
            f"largest per-seed difference {max(abs(a - b) for a, b in zip(full, cached)):.3f}"
        )


if __name__ == "__main__":
    main()

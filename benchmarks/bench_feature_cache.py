"""Frozen-feature caching: head-only epochs on cached backbone features vs re-running the backbone.

    python -m benchmarks.bench_feature_cache [--dataset butterfly --epochs 3 --seeds 0 1 --override ...]

Runs ``fgclass.train`` itself (experiment ``<dataset>_head_only`` with ``augment=none``, random
init, the default callbacks and logger) on the real sample in ../shared/data, once with
``cache_features=false`` and once with ``true`` per seed, alternating which goes first.
An epoch is timed from its start to the next (training, validation, checkpointing), with its
training and validation parts. Accuracy of both paths is compared seed by seed (with random
init, whose features are poor, it stays near chance: the equivalence of the logits themselves is
tested in tests/test_feature_cache.py).
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
    machine,
    quiet_lightning,
    table,
    verdict,
)
from fgclass.config import compose_config
from fgclass.train import train

GOAL = 20.0


def run(args: Any, seed: int, cache: bool, tmp: Path) -> dict[str, Any]:
    cfg = compose_config(
        "train",
        [
            f"experiment={args.dataset}_head_only",
            "augment=none",
            "model.weights=null",
            f"data.root={SHARED_DATA / args.dataset}",
            f"cache_features={cache}",
            f"trainer.max_epochs={args.epochs}",
            f"seed={seed}",
            "+callbacks.epoch_stats._target_=benchmarks.common.EpochStats",
            *args.override,
        ],
        tmp / f"{seed}-{cache}",
    )
    with Stopwatch() as watch:
        metrics = train(cfg)
    stats = EpochStats.last
    rest = [e - t - v for e, t, v in zip(stats.epochs, stats.train_parts, stats.val_parts)]
    return {
        "setup": stats.setup,
        "epoch": statistics.median(stats.epochs),
        "train": statistics.median(stats.train_parts),
        "val": statistics.median(stats.val_parts),
        "rest": statistics.median(rest),
        "total": watch.seconds,
        "val/accuracy": metrics["val/accuracy"],
        "test/acc": metrics["test/accuracy"],
    }


def speedup(runs: dict[bool, list[dict[str, Any]]], key: str) -> float:
    """Median over seeds of (frozen-backbone time / cached time)."""
    return statistics.median(a[key] / b[key] for a, b in zip(runs[False], runs[True]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="butterfly", choices=["fish", "butterfly"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--override", nargs="*", default=[], help="more Hydra overrides for both paths")
    args = parser.parse_args(argv)
    quiet_lightning()
    print(machine())
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i, seed in enumerate(args.seeds):
            for cache in (False, True) if i % 2 == 0 else (True, False):
                runs[cache].append(run(args, seed, cache, Path(tmp)))
    keys = ["setup", "epoch", "train", "val", "rest", "total", "val/accuracy", "test/acc"]
    rows = [
        ["cached features" if cache else "frozen backbone", seed, *(r[k] for k in keys)]
        for cache, results in runs.items()
        for seed, r in zip(args.seeds, results)
    ]
    overrides = f" {' '.join(args.override)}" if args.override else ""
    print(f"{args.dataset} sample, resnet50 (random init), head-only, {args.epochs} epochs{overrides}; in s")
    headers = ["path", "seed", "setup", "epoch", "train", "val", "rest", "run", "val acc", "test acc"]
    print(table(headers, rows))
    print("(epoch, train, val, rest: medians over epochs; rest = checkpointing, logging, hooks)")
    print(verdict("epoch speed-up (training + validation + checkpointing)", speedup(runs, "epoch"), GOAL))
    print(
        f"speed-up of the training batches: {speedup(runs, 'train'):.0f}x, of validation: "
        f"{speedup(runs, 'val'):.0f}x; of the whole run (caching, test): {speedup(runs, 'total'):.1f}x"
    )
    for metric in ("val/accuracy", "test/acc"):
        full = [r[metric] for r in runs[False]]
        cached = [r[metric] for r in runs[True]]
        print(
            f"{metric}: frozen backbone {statistics.mean(full):.3f}, cached {statistics.mean(cached):.3f}; "
            f"largest per-seed difference {max(abs(a - b) for a, b in zip(full, cached)):.3f}"
        )


if __name__ == "__main__":
    main()

"""Data pipeline: images/s of the real DataModule (decode + Albumentations + collate) on the real
images in ../shared/data, per worker count, with and without the in-memory image cache, against
the rate at which the model consumes images.

    python -m benchmarks.bench_data_pipeline [--workers 0 1 2 --epochs 3 --batch-size 32]

Part 1 iterates each configuration's training loader for ``--epochs`` epochs (the first, which
starts the workers, is not timed). Part 2 runs the model's training step at the default
precision and memory format, alternating chunks of steps on one in-memory batch with chunks fed
by the default training loader; their throughput ratio is how much the loader slows training.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from benchmarks.common import (
    SHARED_DATA,
    PlainStep,
    Stopwatch,
    checkout_cache,
    interleave,
    machine,
    paired_ratio,
    random_batch,
    table,
    verdict,
)
from fgclass.config import compose_config
from fgclass.data.loaders import default_num_workers
from fgclass.finetune import Finetuning

EXPERIMENTS = {"fish": "fish_head_only", "butterfly": "butterfly_head_only"}
GOAL = 0.95  # training fed by the default loader keeps this share of its in-memory speed


def datamodule(dataset: str, tmp: Path, overrides: list[str]) -> tuple[L.LightningDataModule, float]:
    """The experiment's data module on the shared sample, set up; and the seconds ``setup`` took."""
    cfg = compose_config(
        "train",
        [
            f"experiment={EXPERIMENTS[dataset]}",
            f"data.root={SHARED_DATA / dataset}",
            checkout_cache(),
            *overrides,
        ],
        tmp,
    )
    data = instantiate(cfg.data)
    data.prepare_data()  # scan + split, from the checkout's cache: not what is measured
    with Stopwatch() as watch:
        data.setup("fit")
    return data, watch.seconds


def loader_rate(loader: DataLoader, epochs: int) -> float:
    """Images/s over all epochs but the first."""
    seconds, images = [], 0
    for epoch in range(epochs):
        with Stopwatch() as watch:
            count = sum(len(batch[0]) for batch in loader)
        if epoch:
            seconds.append(watch.seconds)
            images = count
    return images / statistics.median(seconds)


def forever(loader: DataLoader) -> Iterator[Any]:
    while True:
        yield from loader


def images_per_s(step: PlainStep, batches: Iterator[Any]) -> float:
    """Train on ``batches``; images/s."""
    sizes = []

    def counted() -> Iterator[Any]:
        for batch in batches:
            sizes.append(len(batch[0]))
            yield batch

    seconds = step.seconds(counted())
    return sum(sizes) / seconds


def part1(args: Any, tmp: Path) -> list[list[object]]:
    rows = []
    for dataset, in_memory, workers in itertools.product(args.datasets, (False, True), args.workers):
        overrides = [f"data.num_workers={workers}", f"data.in_memory={in_memory}"]
        overrides.append(f"data.batch_size={args.batch_size}")
        data, setup = datamodule(dataset, tmp / dataset, overrides)
        rate = loader_rate(data.train_dataloader(), args.epochs)
        rows.append([dataset, workers, in_memory, len(data.datasets["train"]), setup, rate])
    return rows


def part2(args: Any, tmp: Path) -> tuple[list[list[object]], list[str]]:
    dataset = args.datasets[-1]
    data, _ = datamodule(dataset, tmp / dataset, [f"data.batch_size={args.batch_size}"])
    cfg = compose_config("train", [f"experiment={EXPERIMENTS[dataset]}", "model.weights=null"], tmp / dataset)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batch = random_batch(args.batch_size, data.image_size, data.num_classes)
    fed = forever(data.train_dataloader())
    rows, verdicts = [], []
    for mode, steps in (("head_only", args.head_steps), ("full", args.full_steps)):
        torch.manual_seed(0)
        model = instantiate(cfg.model, num_classes=data.num_classes)
        if mode == "head_only":
            Finetuning(freeze_backbone=True).freeze_before_training(model)
        step = PlainStep(model, cfg.trainer.precision, device)
        rates = interleave(
            {
                "in memory": lambda s=step, n=steps: images_per_s(s, itertools.repeat(batch, n)),
                "loader": lambda s=step, n=steps: images_per_s(s, itertools.islice(fed, n)),
            },
            args.reps,
        )
        ratio = paired_ratio(rates["loader"], rates["in memory"])
        rows.append([mode, statistics.median(rates["in memory"]), statistics.median(rates["loader"]), ratio])
        verdicts.append(verdict(f"{mode}: fed by the default loader / in memory", ratio, GOAL))
    return rows, verdicts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32, help="the data config's default")
    parser.add_argument("--reps", type=int, default=4, help="alternating repetitions")
    parser.add_argument("--datasets", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({0, 1, default_num_workers()}))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--head-steps", type=int, default=4, help="steps per chunk, head-only")
    parser.add_argument("--full-steps", type=int, default=2, help="steps per chunk, full fine-tuning")
    args = parser.parse_args(argv)
    print(machine())
    print(f"default num_workers: {default_num_workers()}; batch {args.batch_size}; the paper's augmentation")
    with tempfile.TemporaryDirectory() as tmp:
        rows1 = part1(args, Path(tmp))
        print(table(["dataset", "workers", "in_memory", "train images", "setup s", "loader img/s"], rows1))
        rows2, verdicts = part2(args, Path(tmp))
    print(f"model step on {args.datasets[-1]} ({args.reps} alternating reps), default loader settings:")
    print(table(["mode", "in-memory batch img/s", "fed by loader img/s", "ratio"], rows2))
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()

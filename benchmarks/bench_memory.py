"""Memory: peak and per-epoch memory of head-only and full fine-tuning runs at the default batch size.

    python -m benchmarks.bench_memory [--dataset butterfly --epochs 5 --train-fraction 0.25]

Each run is ``fgclass.train`` (experiment ``<dataset>_head_only``, random init, default data
loader, callbacks and logger) in a fresh process, so peaks are its own: the peak resident set
of the training process, and at the end of every epoch the anonymous memory of it and its loader
workers, after handing freed heap back to the OS (:func:`benchmarks.common.memory_mb`). A run
must not grow from its second epoch to its last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    SHARED_DATA,
    EpochStats,
    checkout_cache,
    machine,
    memory_mb,
    quiet_lightning,
    table,
    verdict,
)
from fgclass.config import compose_config
from fgclass.train import train

MODES = {
    "head_only": ["augment=none"],
    "head_only+cache": ["augment=none", "cache_features=true"],
    "full": ["finetune=full"],
}
GROWTH_MB = 16.0  # allowed change from the second epoch to the last


def child(args: Any) -> dict[str, Any]:
    """Train one run in this process; its memory figures."""
    quiet_lightning()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(
            "train",
            [
                f"experiment={args.dataset}_head_only",
                *MODES[args.child],
                "model.weights=null",
                f"data.root={SHARED_DATA / args.dataset}",
                checkout_cache(),  # the scan and the judge's embeddings are not what is measured
                f"data.train_fraction={args.train_fraction}",
                f"trainer.max_epochs={args.epochs}",
                "callbacks.early_stopping=null",
                "+callbacks.epoch_stats._target_=benchmarks.common.EpochStats",
                "+callbacks.epoch_stats.memory=true",
            ],
            tmp,
        )
        train(cfg)
    stats = EpochStats.last
    return {
        "batch_size": cfg.data.batch_size,
        "epochs": [m["anon"] for m in stats.memory],
        "peak": memory_mb()["peak"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="butterfly", choices=["fish", "butterfly"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-fraction", type=float, default=0.25, help="of the sample's training split")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    print(machine())
    rows, verdicts = [], []
    for mode in args.modes:
        command = [sys.executable, "-m", "benchmarks.bench_memory", "--child", mode]
        command += ["--dataset", args.dataset, "--epochs", str(args.epochs)]
        command += ["--train-fraction", str(args.train_fraction)]
        done = subprocess.run(
            command, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1]
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        per_epoch = result["epochs"]
        growth = per_epoch[-1] - per_epoch[1]
        rows.append([mode, result["batch_size"], result["peak"], *(round(m) for m in per_epoch), growth])
        verdicts.append(verdict(f"{mode}: MiB gained from epoch 2 to the last", growth, GROWTH_MB, False))
    print(f"{args.dataset} sample ({args.train_fraction:.0%} of train), resnet50; MiB (anon. at epoch ends)")
    epochs = [f"epoch {i + 1}" for i in range(args.epochs)]
    print(table(["mode", "batch", "peak RSS (trainer)", *epochs, "growth 2 -> last"], rows))
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()

"""What the evaluation's figures cost: a short run with ``eval.figures=true`` against ``false``.

    python -m benchmarks.bench_eval_figures [--reps 3]

Whole ``fgclass.train`` runs of the tiny backbone on the synthetic fish data (9 classes, 32 px,
one epoch of 3 batches, 2 noise levels, no Grad-CAM), alternating the two settings repetition by
repetition. (A run's ``eval_minutes`` cannot tell: it is taken before the report files are written.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import interleave, machine, paired_ratio, quiet_lightning, table
from fgclass.config import compose_config
from fgclass.data.synthetic import write_fish_dataset
from fgclass.train import train

SETTINGS = [
    "model=tiny",
    "model.weights=null",
    "data.image_size=32",
    "data.resize_size=36",
    "data.num_workers=0",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "trainer.enable_progress_bar=false",
    "eval.noise_sigmas=[0,0.2]",
    "eval.gradcam.enabled=false",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="alternating repetitions")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the test suite runs them
    quiet_lightning()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        root = write_fish_dataset(Path(tmp) / "fish", photos_per_class=4, image_size=32)

        def run(figures: bool) -> float:
            out = tempfile.mkdtemp(dir=tmp)
            cfg = compose_config("train", [*SETTINGS, f"data.root={root}", f"eval.figures={figures}"], out)
            start = time.perf_counter()
            train(cfg)
            return time.perf_counter() - start

        runs = interleave({True: lambda: run(True), False: lambda: run(False)}, args.reps)
    rows = [[f"eval.figures={str(f).lower()}", statistics.median(runs[f])] for f in (True, False)]
    print(table(["setting", "run s (median)"], rows))
    extra = statistics.median(a - b for a, b in zip(runs[True], runs[False]))
    print(
        f"figures: +{extra:.2f} s per run, x{paired_ratio(runs[True], runs[False]):.2f} the run without them"
    )


if __name__ == "__main__":
    main()

"""Validation accuracy of a trained checkpoint at several eval resolutions (shorter side, crop).

A model trained on random crops smaller than the test images sees objects at another apparent
size than the eval pipeline shows them (Touvron et al., "Fixing the train-test resolution
discrepancy"). This measures that on the run's own *validation* split, so the eval resolution can
be chosen without looking at the test split:

    python -m benchmarks.val_resolution --ckpt outputs/runs/.../checkpoints/last.ckpt --sizes 224/256 192/219
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from fgclass.inference.runs import run_datamodule, run_folder
from fgclass.models.loading import load_classifier


def val_accuracy(ckpt: Path, image_size: int, resize_size: int) -> float:
    """Top-1 accuracy of ``ckpt`` on its run's validation split at this eval resolution."""
    model = load_classifier(ckpt)
    with tempfile.TemporaryDirectory() as out:
        data = run_datamodule(run_folder(ckpt.resolve()), out, image_size=image_size, resize_size=resize_size)
        correct = total = 0
        with torch.no_grad():
            for images, targets, _ in data.eval_loader(data.datasets["val"]):
                correct += int((model(images).argmax(1) == targets).sum())
                total += len(targets)
    return correct / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, required=True)
    parser.add_argument("--sizes", nargs="+", default=["224/256"], help="crop/shorter-side pairs")
    args = parser.parse_args()
    print("| eval crop / shorter side | val accuracy |\n| --- | --- |")
    for pair in args.sizes:
        crop, side = (int(v) for v in pair.split("/"))
        print(f"| {crop} / {side} | {val_accuracy(args.ckpt, crop, side):.4f} |", flush=True)


if __name__ == "__main__":
    main()

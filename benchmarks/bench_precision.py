"""Precision and memory format: a training step in fp32 vs bf16 autocast, contiguous vs channels_last.

    python -m benchmarks.bench_precision [--backbone resnet50 --batch-size 16 --image-size 224]

Times the hand-written step (:class:`benchmarks.common.PlainStep`) on fgclass's Classifier for
every combination, head-only and full fine-tuning, alternating the combinations repetition by
repetition; speed-ups are medians of ratios to the fp32 + contiguous step timed next to them.
Then checks that the trainer default (``fgclass.precision.best_precision`` with
``model.channels_last``) is the fastest combination on this machine.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile

import torch
from hydra.utils import instantiate

from benchmarks.common import (
    PlainStep,
    interleave,
    machine,
    paired_ratio,
    random_batch,
    step_args,
    table,
)
from fgclass.config import compose_config
from fgclass.finetune import Finetuning
from fgclass.models.backbones import has_depthwise_convolutions
from fgclass.precision import best_precision

NUM_CLASSES = 75
Combo = tuple[str, bool]  # (precision, channels_last)


def combos(device: torch.device) -> list[Combo]:
    """Precision x memory format; the first is the fp32 + contiguous baseline."""
    low = "bf16-mixed"
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        low = "16-mixed"
    return list(itertools.product(("32-true", low), (False, True)))


def measure(args: object, device: torch.device) -> dict[str, dict[Combo, list[float]]]:
    """Images/s per mode and combination, one value per repetition."""
    batch = random_batch(args.batch_size, args.image_size, NUM_CLASSES)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config("train", [f"model={args.backbone}", "model.weights=null"], tmp)
    results = {}
    for mode, steps in (("head_only", args.head_steps), ("full", args.full_steps)):
        models = {}
        for channels_last in (False, True):
            torch.manual_seed(0)
            model = instantiate(cfg.model, num_classes=NUM_CLASSES, channels_last=channels_last)
            if mode == "head_only":
                Finetuning(freeze_backbone=True).freeze_before_training(model)
            models[channels_last] = model
        runs = {combo: PlainStep(models[combo[1]], combo[0], device) for combo in combos(device)}
        results[mode] = interleave(
            {
                combo: (lambda s=step, n=steps: n * args.batch_size / s.seconds(itertools.repeat(batch, n)))
                for combo, step in runs.items()
            },
            args.reps,
        )
    return results


def name(combo: Combo) -> str:
    return f"{combo[0]} + {'channels_last' if combo[1] else 'contiguous'}"


def main(argv: list[str] | None = None) -> None:
    parser = step_args(__doc__.splitlines()[0], reps=6)
    parser.add_argument("--head-steps", type=int, default=2, help="timed steps per repetition, head-only")
    parser.add_argument("--full-steps", type=int, default=1, help="timed steps per repetition, full")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(machine())
    print(f"{args.backbone}, batch {args.batch_size}, {args.image_size} px, {args.reps} alternating reps")
    results = measure(args, device)

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config("train", [f"model={args.backbone}"], tmp)
    rows, verdicts, defaults = [], [], []
    for mode, by_combo in results.items():
        # the resolver's choice for this backbone, when it trains (full) and when it is frozen
        depthwise = mode == "full" and has_depthwise_convolutions(cfg.model.backbone)
        precision = best_precision(device.type, lambda: depthwise)  # noqa: B023 (called at once)
        default = (precision, bool(cfg.model.channels_last))
        defaults.append(f"{mode} {name(default)}")
        baseline = by_combo[combos(device)[0]]
        for combo, rates in by_combo.items():
            mark = " (default)" if combo == default else ""
            rows.append([mode, name(combo) + mark, statistics.median(rates), paired_ratio(rates, baseline)])
        worst = min(paired_ratio(by_combo[default], rates) for c, rates in by_combo.items() if c != default)
        verdicts.append(
            f"{mode}: default {name(default)} vs the next best combination: x{worst:.2f} "
            f"(goal >= 0.95): {'PASS' if worst >= 0.95 else 'FAIL'}"
        )
    print(table(["mode", "precision + memory format", "img/s (median)", "x fp32 contiguous"], rows))
    print(f"trainer default on this machine ({device.type}): {', '.join(defaults)}")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()

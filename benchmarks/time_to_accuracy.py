"""Time to accuracy of finished runs: validation accuracy against minutes of fit, and the test result.

    python -m benchmarks.time_to_accuracy RUN_FOLDER [...] --figure docs/images/time_to_accuracy.png

Reads each run folder's TensorBoard events (``val/accuracy`` per epoch, with its wall-clock time)
and ``metrics.json`` (``fit_minutes``, test ``accuracy``). The fit's start is its end (the last
validation) minus ``fit_minutes``, so the minutes include everything the fit did before its first
epoch (sanity check, a warm start). Prints one markdown row per run and draws all curves in one figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

THRESHOLDS = (0.90, 0.93, 0.95)


def val_curve(run: Path) -> tuple[list[float], list[float]]:
    """Minutes since the fit started and validation accuracy, one point per epoch."""
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    points = events.Scalars("val/accuracy")
    fit_minutes = json.loads((run / "metrics.json").read_text())["fit_minutes"]
    start = points[-1].wall_time - 60 * fit_minutes
    return [(p.wall_time - start) / 60 for p in points], [p.value for p in points]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--figure", type=Path, default=Path("time_to_accuracy.png"))
    args = parser.parse_args()
    header = " | ".join(f"min to val {t:.0%}" for t in THRESHOLDS)
    print(f"| run | epochs | fit min | best val | {header} | test accuracy |")
    print("|---|---:|---:|---:|" + "---:|" * len(THRESHOLDS) + "---:|")
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for run in args.runs:
        minutes, accuracy = val_curve(run)
        metrics = json.loads((run / "metrics.json").read_text())
        reached = [next((f"{m:.1f}" for m, a in zip(minutes, accuracy) if a >= t), "-") for t in THRESHOLDS]
        print(
            f"| {run.name} | {len(accuracy)} | {metrics['fit_minutes']:.1f} | {max(accuracy):.2%} | "
            f"{' | '.join(reached)} | {metrics['accuracy']:.2%} |"
        )
        axes.plot(minutes, accuracy, marker="o", label=f"{run.name} (test {metrics['accuracy']:.2%})")
    axes.set(xlabel="minutes of fit", ylabel="validation accuracy", title="Time to accuracy")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(args.figure, dpi=120)
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()

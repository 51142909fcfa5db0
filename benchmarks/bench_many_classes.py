"""What a test report costs at 100, 1,000 and 10,000 classes: the dense report against the sparse one.

    python -m benchmarks.bench_many_classes [--classes 100 1000 10000] [--samples 5000] [--reps 2]

Generated logits (a model right 60 % of the time) are reported both ways, alternating repetition by
repetition: ``dense`` writes a dense confusion matrix whole to confusion_matrix.csv, as every report
did before issue 29, ``sparse`` is today's above ``eval.matrix_max_classes`` (sparse counts,
confusions.csv of the 1,000 most frequent confusions). The per-class scores are today's in both
(above 1,000 classes counted per class, ``fgclass.metrics.CountedScore``; the figures in
benchmarks/RESULTS.md before that change had torchmetrics' C x C-counting scores in ``dense`` and
scikit-learn's in ``sparse``). Both write the classification report and predictions.csv. Seconds
and the peak resident memory above what the process held before (the logits included) are medians
over the repetitions; ``figures s`` is the sparse report's figures (top confusions, F1 histogram,
reliability), which the dense figures cannot match beyond ~100 classes (a 10,000-class matrix
would be a 4-million-pixel-wide image). Linux only (the peak is read from /proc).

``--whole 200000 10000``: the issue's size (its logits alone would be 8 GB), the sparse report only:
the logits are generated and reduced 1,000 images at a time as the test loop does
(:mod:`fgclass.outputs`), then reported and drawn; time of each part and the peak above the start.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from benchmarks.common import interleave, machine, memory_mb, quiet_lightning, reset_peak, table
from fgclass.evaluation.evaluate import write_figures, write_reports
from fgclass.metrics import compute_results
from fgclass.outputs import Outputs, concatenate, num_classes, reduce_logits


def outputs(classes: int, num_samples: int, seed: int = 0, batch: int = 1000) -> tuple[Outputs, float]:
    """What the test loop keeps of the logits of a model right 60 % of the time: generated and
    reduced ``batch`` images at a time, as they leave the model (the full logits never exist);
    and the seconds spent reducing them."""
    gen = torch.Generator().manual_seed(seed)
    parts, reducing = [], 0.0
    for start in range(0, num_samples, batch):
        n = min(batch, num_samples - start)
        targets = torch.randint(0, classes, (n,), generator=gen)
        wrong = torch.randint(0, classes, (n,), generator=gen)
        preds = torch.where(torch.rand(n, generator=gen) < 0.6, targets, wrong)
        logits = torch.randn(n, classes, generator=gen)
        logits[torch.arange(n), preds] += 4.0
        begin = time.perf_counter()
        parts.append(reduce_logits(logits, targets, torch.arange(start, start + n)))
        reducing += time.perf_counter() - begin
    return concatenate(parts), reducing


def report(trainer: L.Trainer, data: Outputs, dense: bool, figures: bool, out: Path) -> dict[str, float]:
    """Seconds, peak memory above the start (MiB) and MiB written of one report."""
    classes, num_samples = num_classes(data), len(data.targets)
    names = [f"species {i:05d}" for i in range(classes)]
    paths = [f"images/{i:06d}.jpg" for i in range(num_samples)]
    limit = classes if dense else 0  # the matrix written (and its memory) or not
    before = reset_peak()
    start = time.perf_counter()
    results = compute_results(data, dense=dense)
    write_reports(trainer, out, names, paths, results, results.summary, 5, 1000, limit, None)
    seconds = time.perf_counter() - start
    peak = memory_mb()["peak"] - before
    written = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    drawn = float("nan")
    if figures:
        start = time.perf_counter()
        write_figures(trainer, out, names, results, [], None, 0, 1.5)
        drawn = time.perf_counter() - start
    for f in out.iterdir():
        f.unlink()
    return {"s": seconds, "peak": peak, "MiB": written, "figures": drawn}


def whole(trainer: L.Trainer, tmp: Path, classes: int, samples: int) -> list[object]:
    """The whole evaluation of ``samples`` images at ``classes`` classes, from the first logits to the
    last figure (sparse report): seconds reducing the logits (in a run, part of the test loop; the
    time to generate them is left out), reporting and drawing, and the peak memory above the start."""
    before = reset_peak()
    data, reduced = outputs(classes, samples)
    out = tmp / "whole"
    out.mkdir()
    row = report(trainer, data, False, True, out)
    peak = max(memory_mb()["peak"] - before, row["peak"])
    total = reduced + row["s"] + row["figures"]
    return [f"{samples:,}", f"{classes:,}", reduced, row["s"], row["figures"], total, round(peak)]


def compare(trainer: L.Trainer, tmp: Path, classes: int, samples: int, reps: int) -> list[object]:
    """One table row: both reports of the same logits, ``reps`` times each, alternating."""
    data, _ = outputs(classes, samples)
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}

    def run(dense: bool) -> float:
        out = tmp / ("dense" if dense else "sparse")
        out.mkdir(exist_ok=True)
        runs[dense].append(report(trainer, data, dense, not dense, out))
        return runs[dense][-1]["s"]

    interleave({True: lambda: run(True), False: lambda: run(False)}, reps, warmup_reps=0)

    def median(dense: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs[dense])

    return [
        f"{classes:,}",
        median(True, "s"),
        median(False, "s"),
        f"x{median(True, 's') / median(False, 's'):.1f}",
        round(median(True, "peak")),
        round(median(False, "peak")),
        f"x{median(True, 'peak') / max(median(False, 'peak'), 1):.1f}",
        median(True, "MiB"),
        median(False, "MiB"),
        median(False, "figures"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=2, help="alternating repetitions")
    parser.add_argument(
        "--whole", type=int, nargs=2, metavar=("IMAGES", "CLASSES"), help="only the whole evaluation (sparse)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    quiet_lightning()
    print(machine())
    print(f"{args.samples:,} test images; dense = before issue 29, sparse = above eval.matrix_max_classes")
    trainer = L.Trainer(logger=False, accelerator="cpu", enable_progress_bar=False)
    if args.whole:
        with tempfile.TemporaryDirectory() as tmp:
            row = whole(trainer, Path(tmp), args.whole[1], args.whole[0])
        header = ["images", "classes", "reduce s", "report s", "figures s", "total s", "peak MiB"]
        print(table(header, [row]))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for classes in args.classes:
            rows.append(compare(trainer, Path(tmp), classes, args.samples, args.reps))
            print(f"{classes:,} classes done", flush=True)
    header = ["classes", "dense s", "sparse s", "dense/sparse", "dense peak MiB", "sparse peak MiB"]
    header += ["dense/sparse", "dense files MiB", "sparse files MiB", "sparse figures s"]
    print(table(header, rows))


if __name__ == "__main__":
    main()

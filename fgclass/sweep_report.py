"""Aggregate a Hydra multirun folder into one table: ``python -m fgclass.sweep_report DIR``.

One row per configuration (the swept values except the seeds: ``seed``, ``data.split.seed``),
metrics as mean ± std over seeds,
noise robustness per sigma, failed runs listed with their error. Writes ``report.csv``,
``report.md`` and a plot per numeric swept value into DIR. The sweep callback
(:class:`SweepReport`) runs this when a multirun finishes.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fgclass.evaluation import plots
from fgclass.metrics import ACCURACY, LOSS, SUMMARY
from fgclass.run_files import ERROR_FILE, METRICS_FILE, NOISE_FILE
from fgclass.text import markdown_table

log = logging.getLogger(__name__)
METRICS = (*SUMMARY, LOSS, "fit_minutes", "eval_minutes")
SEED_KEYS = ("seed", "data.split.seed")  # repetitions of one configuration, averaged over


@dataclass
class Run:
    """One job of a multirun: its folder, overrides and results (or error)."""

    folder: Path
    overrides: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    noise: dict[float, float] = field(default_factory=dict)
    error: str | None = None


def _read_run(folder: Path) -> Run:
    overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text()) or []
    pairs = dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)
    run = Run(folder, pairs)
    if (folder / METRICS_FILE).is_file():
        run.metrics = json.loads((folder / METRICS_FILE).read_text())
    if (folder / NOISE_FILE).is_file():
        with (folder / NOISE_FILE).open() as handle:
            run.noise = {float(r["sigma"]): float(r[ACCURACY]) for r in csv.DictReader(handle)}
    if (folder / ERROR_FILE).is_file():
        run.error = (folder / ERROR_FILE).read_text().strip().splitlines()[0]
    elif not run.metrics:
        run.error = "no metrics.json (run interrupted, or trained without testing)"
    return run


def collect_runs(sweep_dir: str | Path) -> list[Run]:
    """Every job folder (one holding ``.hydra/overrides.yaml``) below ``sweep_dir``, in job order."""
    folders = sorted(
        (p.parent.parent for p in Path(sweep_dir).glob("*/.hydra/overrides.yaml")),
        key=lambda p: (int(p.name.split("_")[0]) if p.name.split("_")[0].isdigit() else math.inf, p.name),
    )
    return [_read_run(f) for f in folders]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _replicate(run: Run) -> str:
    """Which repetition a run is: its training seed and/or split seed, e.g. ``1`` or ``1/42``."""
    return "/".join(run.overrides[k] for k in SEED_KEYS if k in run.overrides) or "default"


def summarize(runs: list[Run]) -> tuple[list[str], list[dict[str, Any]]]:
    """Swept keys (varying across runs, seed excluded) and one row per configuration."""
    keys = sorted({k for r in runs for k in r.overrides})
    swept = [k for k in keys if k not in SEED_KEYS and len({r.overrides.get(k) for r in runs}) > 1]
    cells: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        if run.error is None:
            cells[tuple(run.overrides.get(k, "") for k in swept)].append(run)
    sigmas = sorted({s for r in runs for s in r.noise})
    rows = []
    for values, members in cells.items():
        row: dict[str, Any] = dict(zip(swept, values))
        row["runs"] = len(members)
        row["seeds"] = ",".join(sorted(_replicate(r) for r in members))
        for metric in METRICS:
            found = [r.metrics[metric] for r in members if metric in r.metrics]
            if found:
                row[f"{metric}_mean"], row[f"{metric}_std"] = _mean_std(found)
        for sigma in sigmas:
            found = [r.noise[sigma] for r in members if sigma in r.noise]
            if found:
                row[f"noise_{sigma:g}_acc_mean"], row[f"noise_{sigma:g}_acc_std"] = _mean_std(found)
        rows.append(row)
    return swept, rows


def _cell(row: dict[str, Any], measure: str, runs: int) -> str:
    """``mean ± std``; a single run's value alone (a spread of one run means nothing)."""
    if measure + "_mean" not in row:
        return ""
    mean = f"{row[measure + '_mean']:.4f}"
    return f"{mean} ± {row[measure + '_std']:.4f}" if runs > 1 else mean


def _markdown(swept: list[str], rows: list[dict[str, Any]], failed: list[Run]) -> str:
    measures = [
        c.removesuffix("_mean") for c in dict.fromkeys(k for r in rows for k in r) if c.endswith("_mean")
    ]
    cells = [
        [*(row.get(k, "") for k in swept), row["runs"], *(_cell(row, m, row["runs"]) for m in measures)]
        for row in rows
    ]
    lines = markdown_table([*swept, "runs", *measures], cells)
    if failed:
        lines += ["", f"**{len(failed)} failed run(s):**", ""]
        lines += [f"- `{r.folder.name}`: {r.error}" for r in failed]
    return "\n".join(lines) + "\n"


def _plots(sweep_dir: Path, swept: list[str], rows: list[dict[str, Any]]) -> list[Path]:
    written = []
    for key in swept:
        numeric = [(_number(str(r[key])), r) for r in rows]
        if rows and all(x is not None for x, _ in numeric) and len({x for x, _ in numeric}) > 1:
            others = [k for k in swept if k != key]
            written.append(
                plots.save(
                    plots.sweep_figure(key, numeric, others),
                    sweep_dir / f"report_{key.replace('/', '-')}.png",
                )
            )
    if any(k.startswith("noise_") for r in rows for k in r):
        written.append(plots.save(plots.sweep_noise_figure(swept, rows), sweep_dir / "report_noise.png"))
    return written


def write_report(sweep_dir: str | Path) -> list[Run]:
    """Write ``report.csv``, ``report.md`` and plots for the multirun in ``sweep_dir``; returns its runs."""
    sweep_dir = Path(sweep_dir)
    runs = collect_runs(sweep_dir)
    if not runs:
        raise FileNotFoundError(
            f"No runs found in '{sweep_dir}': expected Hydra multirun job folders (each with "
            ".hydra/overrides.yaml), e.g. outputs/multiruns/<date>/<time>_<id>_<name>."
        )
    swept, rows = summarize(runs)
    failed = [r for r in runs if r.error is not None]
    columns = list(dict.fromkeys(k for r in rows for k in r)) or [*swept, "runs"]
    with (sweep_dir / "report.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*columns, "failed", "error"])
        writer.writeheader()
        writer.writerows(rows)
        for run in failed:
            writer.writerow(
                {
                    **{k: run.overrides.get(k, "") for k in swept},
                    "runs": 0,
                    "failed": run.folder.name,
                    "error": run.error,
                }
            )
    (sweep_dir / "report.md").write_text(_markdown(swept, rows, failed))
    _plots(sweep_dir, swept, rows)
    log.info("Sweep report: %s (%d runs, %d failed)", sweep_dir / "report.md", len(runs), len(failed))
    return runs


class SweepReport(Callback):
    """Hydra callback: write the report when a multirun ends; exit non-zero if a run failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        runs = write_report(config.hydra.sweep.dir)
        failed = [r for r in runs if r.error is not None]
        if failed:
            log.error(
                "%d of %d runs failed; see %s/report.md", len(failed), len(runs), config.hydra.sweep.dir
            )
            raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    """``python -m fgclass.sweep_report DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        runs = write_report(args.sweep_dir)
    except FileNotFoundError as exc:
        print(f"fgclass.sweep_report: {exc}", file=sys.stderr)
        return 1
    print((args.sweep_dir / "report.md").read_text())
    return 1 if any(r.error for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())

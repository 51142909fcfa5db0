"""The audit report: :class:`~fgclass.data.audit_findings.DatasetAudit` as Markdown (printed and
``audit.md``) and its per-class table as ``audit.csv``."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from fgclass.data.audit_findings import COLUMNS, DatasetAudit
from fgclass.text import counted, listing, markdown_table

AUDIT_MD, AUDIT_CSV = "audit.md", "audit.csv"


def _lines(items: list[str]) -> list[str]:
    return listing(items, indent="").splitlines()


def problems(audit: DatasetAudit) -> list[str]:
    """One line per finding that deserves attention."""
    found = [] if audit.splits is not None else [f"no split: {audit.split_note}"]
    n = len(audit.paths)
    if audit.corrupt.any():
        found.append(
            f"{counted(int(audit.corrupt.sum()), 'corrupt file')} (training refuses them: remove or replace"
            " them)"
        )
    if audit.tiny.any():
        found.append(
            f"{counted(int(audit.tiny.sum()), 'image')} with a side under {audit.options.min_size} px"
        )
    ratio = audit.imbalance()
    if ratio > audit.options.imbalance_ratio:
        limit = audit.options.imbalance_ratio
        found.append(f"class imbalance: largest/smallest class = {ratio:.2f} (above {limit})")
    copies = sum(len(s) - 1 for s in audit.byte_sets)
    if copies:
        found.append(f"{copies} byte-identical {'copy' if copies == 1 else 'copies'} of other files")
    mixed = [g for g in audit.groups if len({audit.labels[i] for i in g}) > 1]
    if mixed:
        found.append(
            f"{len(mixed)} near-duplicate groups mix classes (label errors, or too loose a threshold)"
        )
    if audit.groups:
        grouped = sum(len(g) for g in audit.groups)
        found.append(f"{grouped} of {n} images ({100 * grouped / n:.1f} %) are in near-duplicate groups")
    total = audit.class_rows()[-1]
    if total["val_leaked"] or total["test_leaked"]:
        found.append(
            f"{total['val_leaked'] + total['test_leaked']} val/test images ({total['leaked_pct']} %) "
            "have a near-duplicate in train: their scores overstate accuracy"
        )
    return found


def to_markdown(audit: DatasetAudit) -> str:
    """The whole report as Markdown."""
    opts, rows = audit.options, audit.class_rows()
    lines = [
        f"# Data audit: {audit.root}",
        "",
        f"{len(audit.paths)} images in {len(audit.classes)} classes. Near-duplicates: perceptual-hash "
        f"distance at most {opts.threshold} of 256 bits, under any flip or 90° rotation. "
        f"Split: {audit.split_note if audit.splits is not None else 'none (see findings)'}.",
        "",
        "## Findings",
        "",
        *(_lines(problems(audit)) or ["- nothing to report"]),
        "",
        "## Per class",
        "",
        "byte_copies: files with a byte-identical copy; flip_rotation_twins: files identical to another "
        "up to a flip/rotation (hash distance 0, not byte-identical); groups/in_groups: near-duplicate "
        "groups of 2+ images and the images in them; *_leaked: val/test images with a near-duplicate "
        "in train; leaked_pct: their share of val+test.",
        "",
        *markdown_table(list(rows[0]), [r.values() for r in rows]),
        "",
        f"Class sizes: {min(r['images'] for r in rows[:-1])} to {max(r['images'] for r in rows[:-1])} "
        f"(ratio {audit.imbalance():.2f}; flagged above {opts.imbalance_ratio}).",
        "",
        "## Near-duplicate groups",
        "",
    ]
    sizes = sorted(Counter(len(g) for g in audit.groups).items())
    lines.append(
        f"{len(audit.groups)} groups hold {sum(len(g) for g in audit.groups)} images; sizes: "
        + (", ".join(f"{count} of {size}" for size, count in sizes) or "none")
        + "."
    )
    mixed = [g for g in audit.groups if len({audit.labels[i] for i in g}) > 1]
    if mixed:
        lines += ["", "Groups that mix classes:", ""]
        lines += _lines([", ".join(f"{audit.paths[i]} ({audit.labels[i]})" for i in g) for g in mixed])
    lines += ["", "## Exact duplicates", ""]
    lines.append(f"Byte-identical sets: {len(audit.byte_sets)}.")
    lines += _lines([", ".join(audit.paths[i] for i in s) for s in audit.byte_sets])
    lines.append(f"\nPairs identical up to a flip/90° rotation: {len(audit.twin_links)}.")
    lines += _lines([f"{audit.paths[i]} = {audit.paths[j]}" for i, j, _ in audit.twin_links])
    if audit.splits is not None:
        lines += ["", "## Leaked val/test images", ""]
        examples = [
            f"{audit.splits[i]}: {audit.paths[i]} ~ train: {audit.paths[j]} ({d} bits)"
            for a, b, d in audit.links
            for i, j in ((a, b), (b, a))
            if audit.leaked[i] and audit.splits[j] == "train"
        ]
        lines += _lines(examples) or ["None."]
    if audit.corrupt.any():
        lines += ["", "## Corrupt files", ""]
        lines += _lines([f"{p}: {why}" for p, why in audit.scan.errors.items()])
    if audit.tiny.any():
        lines += ["", "## Tiny images", ""]
        records = audit.scan.records
        lines += _lines(
            [f"{audit.paths[i]}: {records[i].width}x{records[i].height}" for i in np.flatnonzero(audit.tiny)]
        )
    return "\n".join(lines) + "\n"


def write_audit(audit: DatasetAudit, output_dir: str | Path) -> tuple[Path, Path]:
    """Write ``audit.md`` and ``audit.csv`` (the per-class table) into ``output_dir``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    md, table = output_dir / AUDIT_MD, output_dir / AUDIT_CSV
    md.write_text(to_markdown(audit))
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(audit.class_rows())
    return md, table

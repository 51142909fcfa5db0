"""Measure ``fgclass.audit audit.label_issues=true`` against planted label errors.

    python benchmarks/label_noise.py make ../shared/data/butterfly_full /tmp/butterfly_noisy --rate 0.05
    python -m fgclass.audit data=butterfly data.root=/tmp/butterfly_noisy audit.label_issues=true
    python benchmarks/label_noise.py score /tmp/butterfly_noisy/flips.csv outputs/runs/.../label_issues.csv

``make`` copies a butterfly-layout dataset (``Training_set.csv`` + ``train/``) with the images as
symbolic links and a share ``--rate`` of its labels, drawn at random (``--seed``), changed to another
class drawn at random; ``flips.csv`` beside it lists them. ``score`` prints the precision and recall
of the flagged images against the flips, overall and within the top of the ranking.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def make(source: Path, target: Path, rate: float, seed: int) -> None:
    with (source / "Training_set.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    classes = sorted({row["label"] for row in rows})
    rng = np.random.default_rng(seed)
    flipped = sorted(rng.choice(len(rows), round(rate * len(rows)), replace=False).tolist())
    (target / "train").mkdir(parents=True, exist_ok=False)
    for image in sorted((source / "train").iterdir()):
        (target / "train" / image.name).symlink_to(image.resolve())
    flips = []
    for i in flipped:
        true = rows[i]["label"]
        rows[i]["label"] = rng.choice([c for c in classes if c != true])
        flips.append(
            {"path": f"train/{rows[i]['filename']}", "true_label": true, "given_label": rows[i]["label"]}
        )
    for name, table in (("Training_set.csv", rows), ("flips.csv", flips)):
        with (target / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    print(f"{target}: {len(rows)} images, {len(flips)} labels changed ({100 * rate:g} %, seed {seed})")


def score(flips_csv: Path, issues_csv: Path) -> None:
    with flips_csv.open(newline="") as handle:
        flips = {row["path"]: row["true_label"] for row in csv.DictReader(handle)}
    with issues_csv.open(newline="") as handle:
        flagged = list(csv.DictReader(handle))
    hits = [row["path"] in flips for row in flagged]
    found = sum(hits)
    print(f"planted {len(flips)}, flagged {len(flagged)}, flagged and planted {found}")
    print(f"precision {found / max(len(flagged), 1):.3f}, recall {found / len(flips):.3f}")
    fixed = sum(row["suggested_label"] == flips[row["path"]] for row in flagged if row["path"] in flips)
    print(f"suggested label = the true one for {fixed} of the {found} planted flips found")
    for top in (25, 50, 100, 200, len(flips)):
        if top <= len(flagged):
            print(
                f"top {top}: precision {sum(hits[:top]) / top:.3f}, recall {sum(hits[:top]) / len(flips):.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    make_args = commands.add_parser("make", help="a copy with planted label errors")
    make_args.add_argument("source", type=Path)
    make_args.add_argument("target", type=Path)
    make_args.add_argument("--rate", type=float, default=0.05)
    make_args.add_argument("--seed", type=int, default=0)
    score_args = commands.add_parser("score", help="precision and recall of label_issues.csv")
    score_args.add_argument("flips", type=Path)
    score_args.add_argument("issues", type=Path)
    args = parser.parse_args()
    if args.command == "make":
        make(args.source, args.target, args.rate, args.seed)
    else:
        score(args.flips, args.issues)


if __name__ == "__main__":
    main()

"""How many images two runs' splits share, per split (issue 30: the 16-view judge's split against the 8-view
judge's, both seed 0 of butterfly_fast on the Xeon). Run from the repository root:
    python docs/logs/split_overlap.py RUN_A/splits.csv RUN_B/splits.csv
"""

import csv
import sys


def split_of(path: str) -> dict[str, str]:
    with open(path) as handle:
        return {row["path"]: row["split"] for row in csv.DictReader(handle)}


a, b = split_of(sys.argv[1]), split_of(sys.argv[2])
for name in ("train", "val", "test"):
    first = {p for p, s in a.items() if s == name}
    second = {p for p, s in b.items() if s == name}
    print(f"{name}: {len(first)} and {len(second)} images, {len(first & second)} in both")

"""Decode time of ``fgclass.data.images.load_rgb`` before and after the size check moved into the
one PIL open, side by side on real JPEGs: same process, files in the page cache, before and after
alternating file by file; CPU time of the process (``time.process_time``), so a loaded machine that
takes the core away between calls does not count.

    python docs/logs/decode_once.py [--root ../shared/data/butterfly_full/train] [--count 500]
        [--before <commit>] [--reps 5]

"before" is ``fgclass/data/images.py`` at ``--before`` (loaded from git), "after" the working tree.
Both must give the same pixels for every file; ``verify`` is predict's and export's path, the plain
load the data module's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
import types
from pathlib import Path

import numpy as np

from fgclass.data import images as after
from fgclass.provenance import cpu_name


def load_before(commit: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{commit}:fgclass/data/images.py"], capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType("images_before")
    exec(compile(source, "images_before.py", "exec"), module.__dict__)
    return module


def seconds(modules: dict[str, types.ModuleType], files: list[Path], verify: bool) -> dict[str, float]:
    """CPU seconds of each module's ``load_rgb`` over ``files``, the modules taking turns per file."""
    spent = dict.fromkeys(modules, 0.0)
    for index, path in enumerate(files):
        for name in list(modules)[:: 1 if index % 2 == 0 else -1]:
            start = time.process_time()
            modules[name].load_rgb(path, verify=verify)
            spent[name] += time.process_time() - start
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default="../shared/data/butterfly_full/train")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--before", default="HEAD")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    before = load_before(args.before)
    files = sorted(Path(args.root).glob("*.jpg"))[: args.count]
    for path in files:  # same pixels; warms the page cache and both modules
        for verify in (False, True):
            assert np.array_equal(before.load_rgb(path, verify=verify), after.load_rgb(path, verify=verify))
    print(f"{cpu_name()}; {len(files)} JPEGs from {args.root}; {args.reps} alternating repetitions")
    for verify in (False, True):
        times: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.reps):
            for name, spent in seconds({"before": before, "after": after}, files, verify).items():
                times[name].append(spent)
        ratios = [b / a for b, a in zip(times["before"], times["after"])]
        per_image = {name: statistics.median(t) / len(files) * 1e6 for name, t in times.items()}
        print(
            f"load_rgb(verify={verify}): CPU before {per_image['before']:.0f} us/image, after "
            f"{per_image['after']:.0f} us/image; before/after per repetition "
            f"{', '.join(f'{r:.3f}' for r in ratios)} (median {statistics.median(ratios):.3f})"
        )


if __name__ == "__main__":
    main()

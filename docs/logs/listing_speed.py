"""Issue 29 part 2: folder listing before (pathlib rglob) and after (fgclass.data.listing), side by side
on the 100,000-image tree of bench_scale --only scan, then warm training runs to the first step with the
cache that benchmark's cold run filled. Run from the repository root:
    PYTHONPATH=. flock /tmp/fgclass_cpu.lock nice -n 10 .venv/bin/python docs/logs/listing_speed.py > docs/logs/listing_speed.log 2>&1
"""

import json
import statistics
import time
from pathlib import Path

from benchmarks.bench_scale_scan import timed_run, train_command
from benchmarks.common import machine
from fgclass.data.listing import IMAGE_EXTENSIONS, image_files

ROOT = Path("/tmp/fgclass_bench_scale")
IMAGES = ROOT / "noise100000" / "images"


def before(base: Path) -> list[str]:
    """The listing of fgclass.data.sources.find_folder_images up to commit c1c1b1e."""
    paths = []
    for class_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(
            p
            for p in class_dir.rglob("*")
            if p.is_file()
            and p.suffix.lower() in IMAGE_EXTENSIONS
            and not any(part.startswith(".") for part in p.relative_to(base).parts)
        )
        paths += [p.relative_to(base).as_posix() for p in images]
    return paths


def after(base: Path) -> list[str]:
    classes = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [path for class_dir in classes for path in image_files(class_dir, base)]


print(machine())
times = {"pathlib rglob (before)": [], "os.scandir (after)": []}
for rep in range(3):
    for name, find in (
        zip(times, (before, after)) if rep % 2 == 0 else reversed(list(zip(times, (before, after))))
    ):
        start = time.perf_counter()
        found = find(IMAGES)
        times[name].append(time.perf_counter() - start)
        print(f"rep {rep} {name}: {len(found):,} files in {times[name][-1]:.2f} s", flush=True)
assert before(IMAGES) == after(IMAGES)
print("same paths in the same order: yes")
for name, values in times.items():
    print(f"{name}: median {statistics.median(values):.2f} s")
ratios = [b / a for b, a in zip(*times.values())]
print(f"listing speed-up, paired median: {statistics.median(ratios):.1f}x")
for rep in range(2):
    run_dir = ROOT / "scan_runs" / f"warm_after{rep}"
    result = timed_run(
        train_command(IMAGES, ROOT / "scan_cache1", run_dir), ROOT / "scan_runs" / f"warm_after{rep}.log"
    )
    print(f"warm run {rep}: {json.dumps(result)}", flush=True)

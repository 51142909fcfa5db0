"""The full butterfly set's default split, recomputed by today's code (8 embedding probes, flips and quarter turns
from the split's hash pairs) from the judge's cache, against the splits.csv a run wrote before those changes.

    python docs/logs/butterfly_split_unchanged.py BUTTERFLY_ROOT CACHE_DIR EARLIER_SPLITS_CSV
"""

import filecmp
import sys
import tempfile
from pathlib import Path

from hydra.utils import instantiate

from fgclass.config import compose_config

root, cache, earlier = sys.argv[1:4]
with tempfile.TemporaryDirectory() as out:
    cfg = compose_config(
        "train", ["experiment=butterfly_fast", f"data.root={root}", f"paths.cache_dir={cache}"], output_dir=out
    )
    data = instantiate(cfg.data)
    data.prepare_data()
    print(f"{data.splits_path} identical to {earlier}: {filecmp.cmp(data.splits_path, earlier, shallow=False)}")
    print(Path(data.splits_path).read_text().count("\n"), "lines")

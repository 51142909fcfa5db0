"""The judge's shared embeddings on the real sets: copies from the split's pairs against the separate search of the
flip/rotation hashes that fgclass ran until 2026-12-08. The scans come from their caches (paths below).

    python docs/logs/duplicates_copies_from_pairs_real.py ../shared/data/fish
"""
import sys, time
import numpy as np
from fgclass.data.duplicates import DEFAULT_THRESHOLD, copy_groups, group_near_duplicates, near_duplicate_pairs
from fgclass.data.embeddings import COPY_BITS
from fgclass.data.sources import find_butterfly_images, find_fish_images
from fgclass.data.split_pipeline import scan_dataset
for name, find, root, cache in [("butterfly_full", find_butterfly_images, "../shared/data/butterfly_full", "/tmp/tmp.ewA3GlnTU1"), ("fish sample", find_fish_images, sys.argv[1], "/tmp/fish_cache")]:
    images = find(root)
    scan = scan_dataset(images, cache)
    t = time.perf_counter(); old = group_near_duplicates(scan.hashes[:, :8], COPY_BITS); t_old = time.perf_counter() - t
    t = time.perf_counter(); pairs = near_duplicate_pairs(scan.hashes, DEFAULT_THRESHOLD); t_pairs = time.perf_counter() - t
    t = time.perf_counter(); new = copy_groups(scan.hashes, pairs, COPY_BITS); t_new = time.perf_counter() - t
    print(f"{name}: {len(new)} images, {len(new) - len(set(new.tolist()))} share an embedding; identical to the separate search: {np.array_equal(old, new)}; separate search {t_old:.2f} s, copies from the pairs {t_new:.3f} s (the pairs themselves {t_pairs:.2f} s, searched anyway)")

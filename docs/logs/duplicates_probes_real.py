import sys
from pathlib import Path
sys.path.insert(0, "/work/main")
from fgclass.data import duplicates
from fgclass.data.scan import cache_file_for, scan_images
from fgclass.data.sources import ButterflyLayout
root = Path("../shared/data/butterfly_full")
found = ButterflyLayout(root).find()
result = scan_images(found.root, found.paths, cache_file_for(".cache/fgclass", found.root))
h = result.hashes
out = {}
for probes in (8, 16, 32):
    duplicates.HASH_PROBES = probes
    out[probes] = duplicates.near_duplicate_pairs(h, duplicates.DEFAULT_THRESHOLD)
    print(probes, len(out[probes]), flush=True)
print("16 == 32:", out[16] == out[32], " 8 == 32:", out[8] == out[32])

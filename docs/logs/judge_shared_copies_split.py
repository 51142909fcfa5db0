"""Issue 36 part 1: does sharing one embedding among flips and quarter turns change the default split of the full
butterfly set? The split pipeline's steps (hash groups at 40 bits, embedding links at 0.94, placement with the
default SplitConfig, seed 0-2) with every image embedded and with the copies sharing.
    PYTHONPATH=. python docs/logs/judge_shared_copies_split.py ../shared/data/butterfly_full
"""

import sys

import numpy as np

from fgclass.data.duplicates import group_near_duplicates, join_groups
from fgclass.data.embeddings import COPY_BITS, image_embeddings, similar_pairs
from fgclass.data.placement import assign_splits
from fgclass.data.scan import DIHEDRAL, scan_images
from fgclass.data.sources import find_butterfly_images
from fgclass.data.splits import SplitConfig
from fgclass.models.features import packaged_lite0_features

images = find_butterfly_images(sys.argv[1])
labels = np.array(images.labels)
scan = scan_images(images.root, images.paths)
own = image_embeddings(images.root, images.paths, [r.digest for r in scan.records], packaged_lite0_features())
first = group_near_duplicates(scan.hashes[:, :DIHEDRAL], COPY_BITS)
hash_groups = group_near_duplicates(scan.hashes, 40)
print(f"{len(images.paths)} images; {len(images.paths) - len(np.unique(first))} share a flip's or quarter turn's embedding "
      f"(within {COPY_BITS} bits); all of them in its hash group: {bool((hash_groups == hash_groups[first]).all())}")
ways = {"every image embedded": own, "shared": own[first]}
pairs = {k: {(i, j) for i, j, _ in similar_pairs(v, 0.94)} for k, v in ways.items()}
groups = {k: join_groups(hash_groups, [(i, j, 0) for i, j in pairs[k]]) for k in ways}
print(f"pairs at 0.94: {len(pairs['every image embedded'])} and {len(pairs['shared'])}, "
      f"{len(pairs['every image embedded'] ^ pairs['shared'])} in one only")
print(f"same groups: {bool((groups['every image embedded'] == groups['shared']).all())}")
for seed in range(3):
    a, b = (assign_splits(labels, groups[k], SplitConfig(seed=seed)) for k in ways)
    print(f"split seed {seed}: {(a != b).sum()} images placed differently")

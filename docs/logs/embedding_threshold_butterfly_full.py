"""Issue 36: the embedding judge's threshold on the full butterfly set, within and across species, from the
cached 16-view embeddings (a run of the default split must have embedded the set first).
    python docs/logs/embedding_threshold_butterfly_full.py > docs/logs/embedding_threshold_butterfly_full.log"""
import hashlib, numpy as np
from fgclass.data.sources import find_butterfly_images
from fgclass.data.split_pipeline import scan_dataset
from fgclass.data.duplicates import group_near_duplicates, join_groups
from fgclass.data.embeddings import ANGLES, MIRROR, SIDE, _VERSION, similar_pairs
images = find_butterfly_images("../shared/data/butterfly_full"); labels = np.array(images.labels)
scan = scan_dataset(images, ".cache/fgclass"); digests = [r.digest for r in scan.records]
key = hashlib.sha1(f"{_VERSION}:{SIDE}:{ANGLES}:{MIRROR}:timm/efficientnet_lite0".encode())
for d in digests: key.update(d.encode())
e = np.load(f".cache/fgclass/embeddings-{key.hexdigest()[:20]}.npy")
hg = group_near_duplicates(scan.hashes, 40)
p94 = similar_pairs(e, 0.94)
for same in (0.94, 0.96):
  for across in (0.94, 0.96, 0.97, 0.98, 1.01):
    p = [(i, j, k) for i, j, k in p94 if (labels[i] == labels[j] and e[i] @ e[j] >= same) or (labels[i] != labels[j] and e[i] @ e[j] >= across)]
    g = join_groups(hg, p); sizes = np.bincount(g)
    mixed = sum(len(set(labels[g == k])) > 1 for k in np.flatnonzero(sizes > 1))
    print(f"same>={same} across>={across}: {len(p)} pairs, {sum(labels[i] != labels[j] for i, j, _ in p)} across, largest {sizes.max()}, mixed groups {mixed}, images in 2+ {int((sizes[g] > 1).sum())}, top sizes {sorted(sizes)[-5:]}")
from collections import Counter
for same, across in ((0.94, 0.94), (0.94, 1.01), (0.96, 0.96)):
    p = [(i, j, k) for i, j, k in p94 if (labels[i] == labels[j] and e[i] @ e[j] >= same) or (labels[i] != labels[j] and e[i] @ e[j] >= across)]
    g = join_groups(hg, p); sizes = np.bincount(g)
    counts = Counter(labels.tolist())
    print(same, across)
    for k in np.argsort(sizes)[-4:]:
        c = Counter(labels[g == k].tolist())
        print("   group", sizes[k], {l: f"{n}/{counts[l]}" for l, n in c.most_common(4)})

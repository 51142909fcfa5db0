"""Issue 36 part 1: does the 8-view 128 px judge (at 0.94) still link the pairs the 16-view 160 px judge put at
>= 0.97 and >= 0.98 on the full butterfly set (copies: re-crops, re-encodings, one photo filed under two
species)? From the two judges' cached embedding files (given as arguments, old then new), in image order.
    python docs/logs/judge_views_strong_pairs.py ../shared/data/butterfly_full OLD.npy NEW.npy
"""

import sys

import numpy as np

from fgclass.data.embeddings import similar_pairs
from fgclass.data.sources import find_butterfly_images

labels = np.array(find_butterfly_images(sys.argv[1]).labels)
old, new = np.load(sys.argv[2]), np.load(sys.argv[3])
for strong in (0.97, 0.98):
    pairs = np.array([(i, j) for i, j, _ in similar_pairs(old, strong)])
    cross = labels[pairs[:, 0]] != labels[pairs[:, 1]]
    sims = np.einsum("ij,ij->i", new[pairs[:, 0]], new[pairs[:, 1]])
    print(f"16-view pairs >= {strong}: {len(pairs)} ({cross.sum()} across species); the 8-view judge puts "
          f"{(sims >= 0.94).sum()} of them at >= 0.94 ({(sims[cross] >= 0.94).sum()} of those across species); "
          f"least {sims.min():.4f}, 1st percentile {np.percentile(sims, 1):.4f}")

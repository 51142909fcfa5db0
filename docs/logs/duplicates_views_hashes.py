"""The fish sample's scan hashes for the view harness (duplicates_views_analyse.py), in /tmp/fgclass_views."""

import numpy as np
from PIL import Image

from fgclass.data.scan import image_hashes
from fgclass.data.sources import find_fish_images

images = find_fish_images("../shared/data/fish")
hashes = [image_hashes(Image.open(images.root / p).convert("RGB")) for p in images.paths]
np.save("/tmp/fgclass_views/fish_hashes.npy", np.stack(hashes))

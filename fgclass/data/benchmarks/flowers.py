"""Oxford Flowers-102 as its three downloads unpack into one folder: ``jpg/image_NNNNN.jpg``,
``imagelabels.mat`` (``labels``: the class, 1 to 102, of image ``i`` at index ``i - 1``) and
``setid.mat`` (``trnid``, ``valid``, ``tstid``: 1-based image numbers of the official training,
validation and test sets; the test set is the 6,149-image one). The publisher ships no class
names in these files: the classes are named by their numbers, ``001`` to ``102``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from fgclass.data.benchmarks.publisher_files import check_images_exist, load_mat, mat_vector
from fgclass.data.sources import LabelledImages, Layout
from fgclass.errors import DataError
from fgclass.text import listing

SETS = {"trnid": "train", "valid": "val", "tstid": "test"}


@dataclass(frozen=True)
class FlowersLayout(Layout):
    """Flowers-102: 8,189 images of 102 flower species; 1,020 train, 1,020 val, 6,149 test."""

    def find(self) -> LabelledImages:
        labels_file, sets_file = self.root / "imagelabels.mat", self.root / "setid.mat"
        labels = mat_vector(
            labels_file, load_mat(labels_file, ["labels"], "the class of every image"), "labels"
        )
        sets = load_mat(sets_file, list(SETS), "the official split's image numbers")
        numbers = {key: mat_vector(sets_file, sets, key) for key in SETS}
        listed = Counter(n for values in numbers.values() for n in values.tolist())
        twice = [f"image {n}" for n, count in sorted(listed.items()) if count > 1]
        beyond = [f"image {n}" for n in sorted(listed) if n > len(labels)]
        if twice or beyond:
            raise DataError(
                f"{sets_file}: trnid, valid and tstid should name each of the {len(labels)} images of "
                f"{labels_file} once; these are {'named twice' if twice else 'beyond it'}:\n"
                f"{listing(twice or beyond)}\nRestore both files from the dataset's downloads."
            )
        order = np.concatenate(list(numbers.values()))
        official = [SETS[key] for key, values in numbers.items() for _ in values]
        paths = [f"jpg/image_{n:05d}.jpg" for n in order.tolist()]
        check_images_exist(self.root, paths, sets_file)
        return LabelledImages(self.root, paths, [f"{labels[n - 1]:03d}" for n in order.tolist()], official)

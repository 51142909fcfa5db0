"""The Oxford-IIIT Pet dataset as its two downloads unpack into one folder: ``images/<Breed>_<n>.jpg``
and ``annotations/trainval.txt`` / ``annotations/test.txt`` (``<image> <class id> <species>
<breed id>``, class ids 1 to 37; ``#`` lines are comments). A breed's name is its images' name
without the number (cats capitalised, dogs not, as the publisher names them)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from fgclass.data.benchmarks.publisher_files import REEXTRACT, check_images_exist, numbered, read_rows
from fgclass.data.sources import LabelledImages, Layout
from fgclass.errors import DataError
from fgclass.text import listing

SETS = {"train": "trainval.txt", "test": "test.txt"}
LINE = "<image> <class id> <species> <breed id>"


@dataclass(frozen=True)
class PetsLayout(Layout):
    """Oxford-IIIT Pet: 7,349 images of 37 cat and dog breeds, 3,680 trainval, 3,669 test."""

    def find(self) -> LabelledImages:
        paths, labels, official, breeds, bad = [], [], [], {}, []
        for split, name in SETS.items():
            path = self.root / "annotations" / name
            for number, row in enumerate(read_rows(path, 4, LINE), start=1):
                if row[0].startswith("#"):
                    continue
                image, class_id = row[0], row[1]
                breed = image.rpartition("_")[0]
                if not class_id.isdigit() or breeds.setdefault(class_id, breed) != breed:
                    bad.append(f"{name} line {number}: '{' '.join(row)}'")
                    continue
                paths.append(f"images/{image}.jpg")
                labels.append(numbered(int(class_id), breed))
                official.append(split)
        if bad:
            raise DataError(
                f"These lines of {self.root / 'annotations'} are not '{LINE}' with one class id per breed:\n"
                f"{listing(bad)}\n{REEXTRACT}"
            )
        twice = sorted(p for p, n in Counter(paths).items() if n > 1)
        if twice:
            raise DataError(
                f"These images are listed in both trainval.txt and test.txt:\n{listing(twice)}\n{REEXTRACT}"
            )
        check_images_exist(self.root, paths, self.root / "annotations")
        return LabelledImages(self.root, paths, labels, official)

"""Stanford Dogs as its downloads unpack into one folder: ``Images/<wnid>-<breed>/<file>.jpg``,
``train_list.mat`` and ``test_list.mat`` (``file_list``: paths under ``Images/``; ``labels``: the
1-based breed, in the sorted order of the breed folders) and ``Annotation/<wnid>-<breed>/<file>``
(PASCAL VOC XML without a suffix: one ``<object><bndbox>`` per dog, 1-based pixels)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fgclass.data.benchmarks.publisher_files import (
    BOXES_FIX,
    REEXTRACT,
    check_images_exist,
    load_mat,
    mat_vector,
    require_file,
)
from fgclass.data.sources import LabelledImages, Layout
from fgclass.errors import DataError
from fgclass.text import listing

SETS = {"train": "train_list.mat", "test": "test_list.mat"}
CORNERS = ("xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True)
class DogsLayout(Layout):
    """Stanford Dogs: 20,580 images of 120 breeds, 12,000 train (100 a breed), 8,580 test. A class is
    its folder name (``n02085620-Chihuahua``), so names sort in the publisher's label order."""

    def images_root(self) -> Path:
        return self.root / "Images"

    def find(self) -> LabelledImages:
        paths, labels, official = [], [], []
        for split, name in SETS.items():
            path = self.root / name
            data = load_mat(path, ["file_list", "labels"], "the set's file_list and labels")
            files = [str(f) for f in np.atleast_1d(data["file_list"])]
            numbers = mat_vector(path, data, "labels", len(files))
            folders = [f.split("/")[0] for f in files]
            paths += files
            labels += folders
            official += [split] * len(files)
            check_images_exist(self.images_root(), files, path)
            by_label: dict[int, set[str]] = {}
            for folder, number in zip(folders, numbers.tolist()):
                by_label.setdefault(number, set()).add(folder)
            mixed = [f"label {n}: {', '.join(sorted(f))}" for n, f in sorted(by_label.items()) if len(f) > 1]
            if mixed:
                raise DataError(
                    f"{path}: one label should be one breed folder; these are not:\n{listing(mixed)}\n"
                    + REEXTRACT
                )
        return LabelledImages(self.images_root(), paths, labels, official)

    def boxes(self) -> dict[str, tuple[float, float, float, float]]:
        """The box around all the dogs of each image (most show one)."""
        boxes = {}
        for path in self.find().paths:
            file = require_file(
                self.root / "Annotation" / path.removesuffix(".jpg"),
                "the image's PASCAL VOC boxes",
                BOXES_FIX,
            )
            try:
                corners = np.array(
                    [
                        [float(box.findtext(c)) for c in CORNERS]
                        for box in ET.parse(file).getroot().iter("bndbox")
                    ]
                )
            except (ET.ParseError, TypeError, ValueError) as exc:
                raise DataError(
                    f"{file}: not PASCAL VOC XML with numeric bndbox corners ({exc}). {BOXES_FIX}"
                ) from None
            if not len(corners):
                raise DataError(f"{file}: holds no <bndbox>. {BOXES_FIX}")
            x0, y0 = corners[:, :2].min(axis=0)
            x1, y1 = corners[:, 2:].max(axis=0)
            boxes[path] = (float(x0) - 1, float(y0) - 1, float(x1), float(y1))  # 1-based, inclusive
        return boxes

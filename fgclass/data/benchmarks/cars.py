"""Stanford Cars as its downloads unpack into one folder: ``cars_train/``, ``cars_test/`` and the
devkit's ``devkit/cars_meta.mat`` (``class_names``: the 196 names in the publisher's order),
``devkit/cars_train_annos.mat`` and ``cars_test_annos_withlabels.mat`` (in ``devkit/`` or beside
it): ``annotations``, one struct per image with ``bbox_x1``, ``bbox_y1``, ``bbox_x2``, ``bbox_y2``
(1-based pixels), ``class`` (1-based) and ``fname``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fgclass.data.benchmarks.publisher_files import (
    REEXTRACT,
    check_images_exist,
    load_mat,
    numbered,
    require_file,
)
from fgclass.data.sources import LabelledImages, Layout
from fgclass.errors import DataError

FIELDS = ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")
SETS = {
    "train": ("cars_train", "cars_train_annos.mat"),
    "test": ("cars_test", "cars_test_annos_withlabels.mat"),
}


def annotations(path: Path, classes: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """File names, 1-based classes and ``(N, 4)`` boxes of an annotations file."""
    records = np.atleast_1d(load_mat(path, ["annotations"], "one struct per image")["annotations"])
    names = records.dtype.names or ()
    missing = [f for f in FIELDS if f not in names]
    if missing:
        raise DataError(
            f"{path}: its annotations lack the fields {', '.join(missing)} (they have "
            f"{', '.join(names) or 'none'}). {REEXTRACT}"
        )
    try:
        boxes = np.array([[float(r[f]) for f in FIELDS[:4]] for r in records])
        labels = np.array([int(r["class"]) for r in records])
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{path}: boxes and classes should be one number each per image ({exc}). {REEXTRACT}"
        ) from None
    bad = np.flatnonzero(
        (labels < 1) | (labels > classes) | (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    )
    if len(bad):
        raise DataError(
            f"{path}: annotation {bad[0] + 1} ('{records[bad[0]]['fname']}') has class {labels[bad[0]]} "
            f"(1 to {classes}) or an empty box {boxes[bad[0]].tolist()}. {REEXTRACT}"
        )
    return [str(r["fname"]) for r in records], labels, boxes


@dataclass(frozen=True)
class CarsLayout(Layout):
    """Stanford Cars: 16,185 images of 196 models (make, model, year), 8,144 train, 8,041 test."""

    def annotation_file(self, name: str) -> Path:
        for candidate in (self.root / "devkit" / name, self.root / name):
            if candidate.is_file():
                return candidate
        return require_file(self.root / "devkit" / name, "the devkit's annotations of one set")

    def class_names(self) -> list[str]:
        meta = self.annotation_file("cars_meta.mat")
        return [
            str(n)
            for n in np.atleast_1d(load_mat(meta, ["class_names"], "the 196 class names")["class_names"])
        ]

    def sets(self, classes: int) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        """File names, classes and boxes of each official set."""
        return {split: annotations(self.annotation_file(file), classes) for split, (_, file) in SETS.items()}

    def find(self) -> LabelledImages:
        names = self.class_names()
        paths, labels, official = [], [], []
        for split, (files, classes, _) in self.sets(len(names)).items():
            folder, file = SETS[split]
            paths += [f"{folder}/{f}" for f in files]
            labels += [numbered(c, names[c - 1]) for c in classes.tolist()]
            official += [split] * len(files)
            check_images_exist(self.root, [f"{folder}/{f}" for f in files], self.annotation_file(file))
        return LabelledImages(self.root, paths, labels, official)

    def boxes(self) -> dict[str, tuple[float, float, float, float]]:
        return {
            f"{SETS[split][0]}/{f}": (x0 - 1, y0 - 1, x1, y1)  # 1-based, inclusive
            for split, (files, _, boxes) in self.sets(len(self.class_names())).items()
            for f, (x0, y0, x1, y1) in zip(files, boxes.tolist())
        }

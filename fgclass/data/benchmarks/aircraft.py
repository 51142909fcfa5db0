"""FGVC-Aircraft 2013b as its archive unpacks (``fgvc-aircraft-2013b/data/``): ``images/<id>.jpg``,
``images_<level>_{train,val,test}.txt`` (``<id> <class name>``) and ``<level>s.txt`` (the class
names in the publisher's order) for each level (variant, family, manufacturer), and
``images_box.txt`` (``<id> <xmin> <ymin> <xmax> <ymax>``, 1-based pixels). Every image carries a
20-pixel copyright banner at the bottom, which the publisher advises removing: it is cut off."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fgclass.data.benchmarks.publisher_files import (
    BOXES_FIX,
    check_images_exist,
    dataset_base,
    numbered,
    read_rows,
    require_file,
)
from fgclass.data.sources import LabelledImages, Layout
from fgclass.errors import ConfigError, DataError
from fgclass.text import listing

LEVELS = {"variant": "variants", "family": "families", "manufacturer": "manufacturers"}
SPLIT_FILES = ("train", "val", "test")  # trainval.txt is train + val: not read


@dataclass(frozen=True)
class AircraftLayout(Layout):
    """FGVC-Aircraft: 10,000 images of 100 variants (70 families, 30 manufacturers), 3,334 train,
    3,333 val and 3,333 test. ``level`` picks the classes: ``variant``, ``family`` or ``manufacturer``."""

    level: str = "variant"
    bottom_trim = 20

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ConfigError(f"data.level={self.level}: use one of {', '.join(LEVELS)}.")

    @cached_property
    def data(self) -> Path:
        return dataset_base(self.root, "fgvc-aircraft-2013b", "data/images_box.txt", "FGVC-Aircraft") / "data"

    def images_root(self) -> Path:
        return self.data / "images"

    def find(self) -> LabelledImages:
        names_file = require_file(
            self.data / f"{LEVELS[self.level]}.txt", f"the {self.level} names, one a line"
        )
        names = [line.strip() for line in names_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        label_of = {name: numbered(i, name) for i, name in enumerate(names, start=1)}
        paths, labels, official, seen = [], [], [], {}
        for split in SPLIT_FILES:
            path = self.data / f"images_{self.level}_{split}.txt"
            rows = read_rows(path, 2, f"<image id> <{self.level} name>")
            unknown = [
                f"line {n}: '{name}'" for n, (_, name) in enumerate(rows, start=1) if name not in label_of
            ]
            if unknown:
                raise DataError(
                    f"{path}: these {self.level} names are not in {names_file}:\n{listing(unknown)}\n"
                    "Restore both files from the dataset's archive."
                )
            twice = [f"{image} ({seen[image]} and {path.name})" for image, _ in rows if image in seen]
            if twice:
                raise DataError(f"These images are listed in two split files:\n{listing(twice)}")
            seen.update((image, path.name) for image, _ in rows)
            paths += [f"{image}.jpg" for image, _ in rows]
            labels += [label_of[name] for _, name in rows]
            official += [split] * len(rows)
        check_images_exist(self.images_root(), paths, self.data / f"images_{self.level}_*.txt")
        return LabelledImages(self.images_root(), paths, labels, official)

    def boxes(self) -> dict[str, tuple[float, float, float, float]]:
        line = "<image id> <xmin> <ymin> <xmax> <ymax>"
        path = require_file(self.data / "images_box.txt", f"one '{line}' line per image", BOXES_FIX)
        boxes, bad = {}, []
        for number, row in enumerate(read_rows(path, 5, line), start=1):
            try:
                x0, y0, x1, y1 = map(float, row[1:])
            except ValueError:
                x0 = y0 = x1 = y1 = 0.0
            if x1 < x0 or y1 < y0 or min(x0, y0) < 1:
                bad.append(f"line {number}: '{' '.join(row)}'")
            boxes[f"{row[0]}.jpg"] = (x0 - 1, y0 - 1, x1, y1)  # 1-based, inclusive
        if bad:
            raise DataError(f"{path}: these lines are not '{line}' (1-based pixels):\n{listing(bad)}")
        return boxes

"""iNaturalist 2021 as its archives unpack into one folder: ``train.json`` (or ``train_mini.json``)
and ``val.json`` in the COCO style (``images``: ``id``, ``file_name`` relative to the folder;
``annotations``: ``image_id``, ``category_id``; ``categories``: ``id``, ``name``,
``image_dir_name``) beside the image folders ``train/`` (``train_mini/``) and ``val/``. The test
set's labels are not published: the ``val`` set is the test split, as the literature reports it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fgclass.data.benchmarks.publisher_files import REEXTRACT, check_images_exist, require_file
from fgclass.data.sources import LabelledImages, Layout
from fgclass.errors import ConfigError, DataError
from fgclass.text import listing

SUBSETS = {"full": "train.json", "mini": "train_mini.json"}


def read_coco(path: Path) -> tuple[list[str], list[int], dict[int, str]]:
    """File names, category ids and ``{category id: class name}`` of a COCO-style file."""
    require_file(path, "the COCO-style image list (images, annotations, categories)")
    try:
        data = json.loads(path.read_bytes())
        categories = {
            int(c["id"]): str(c.get("image_dir_name") or f"{int(c['id']):05d}_{c['name']}")
            for c in data["categories"]
        }
        files = {int(i["id"]): str(i["file_name"]) for i in data["images"]}
        labels = {int(a["image_id"]): int(a["category_id"]) for a in data["annotations"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{path}: not a COCO-style file with images (id, file_name), annotations (image_id, "
            f"category_id) and categories (id, name): {type(exc).__name__} {exc}. {REEXTRACT}"
        ) from None
    unlabelled = [f"image {i}: {f}" for i, f in files.items() if labels.get(i) not in categories]
    if unlabelled:
        raise DataError(
            f"{path}: these images have no annotation of a listed category:\n{listing(unlabelled)}\n"
            + REEXTRACT
        )
    return list(files.values()), [labels[i] for i in files], categories


@dataclass(frozen=True)
class INat2021Layout(Layout):
    """iNaturalist 2021: 10,000 species; 2,686,843 training images (``subset=mini``: 500,000,
    50 a species) and 100,000 val images (10 a species), the test split."""

    subset: str = "full"

    def __post_init__(self) -> None:
        if self.subset not in SUBSETS:
            raise ConfigError(f"data.subset={self.subset}: use full (train.json) or mini (train_mini.json).")

    def find(self) -> LabelledImages:
        paths, labels, official = [], [], []
        names: dict[int, str] = {}
        for split, name in (("train", SUBSETS[self.subset]), ("test", "val.json")):
            files, categories, known = read_coco(self.root / name)
            if names and known != names:
                raise DataError(
                    f"{self.root / name} lists other categories than {self.root / SUBSETS[self.subset]}. "
                    + REEXTRACT
                )
            names = known
            check_images_exist(self.root, files, self.root / name)
            paths += files
            labels += [names[c] for c in categories]
            official += [split] * len(files)
        return LabelledImages(self.root, paths, labels, official)

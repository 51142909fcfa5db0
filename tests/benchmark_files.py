"""Tiny datasets in the exact file formats the fine-grained benchmarks' publishers ship (ids,
separators, 1-based indices, ``.mat`` field names and shapes), for tests/test_benchmark_datasets.py."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import cv2
import numpy as np
import scipy.io

SIZE = (40, 48)  # height, width of every generated photo


def write_photo(path: Path, seed: int, size: tuple[int, int] = SIZE) -> None:
    """A distinct noise photo (no two are near-duplicates), in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    cv2.imwrite(str(path), pixels)


def write_lines(path: Path, rows: list[tuple[object, ...]]) -> None:
    path.write_text("".join(" ".join(str(v) for v in row) + "\n" for row in rows))


def write_cub_family(
    base: Path, classes: list[tuple[int, str]], train: int, test: int, nabirds: bool = False
) -> dict[str, list]:
    """CUB-200-2011 (or NABirds: UUID image ids, ``images/<NNNN>/<hex>.jpg``, hierarchy.txt) in
    ``base``: ``train`` + ``test`` photos per class, ids in class order. Returns the rows written."""
    rows: dict[str, list] = {"images": [], "labels": [], "split": [], "boxes": []}
    number = 0
    for class_id, name in classes:
        for k in range(train + test):
            number += 1
            image_id = str(uuid.UUID(int=number)) if nabirds else number
            folder = f"{class_id:04d}" if nabirds else name
            file = f"{uuid.UUID(int=number).hex}.jpg" if nabirds else f"{name[4:]}_{k:04d}.jpg"
            write_photo(base / "images" / folder / file, seed=number)
            rows["images"].append((image_id, f"{folder}/{file}"))
            rows["labels"].append((image_id, class_id))
            rows["split"].append((image_id, int(k < train)))
            x, y = 2 + k % 5, 3 + k % 4
            box = (x, y, 20 + k % 3, 24) if nabirds else (f"{x}.0", f"{y}.0", f"{20 + k % 3}.0", "24.0")
            rows["boxes"].append((image_id, *box))
    write_lines(base / "images.txt", rows["images"])
    write_lines(base / "image_class_labels.txt", rows["labels"])
    write_lines(base / "train_test_split.txt", rows["split"])
    write_lines(base / "bounding_boxes.txt", rows["boxes"])
    write_lines(base / "classes.txt", [(0, "Birds")] * nabirds + classes)
    if nabirds:
        write_lines(base / "hierarchy.txt", [(class_id, 0) for class_id, _ in classes])
    return rows


def write_aircraft(base: Path, variants: list[str], per_split: int) -> None:
    """FGVC-Aircraft 2013b in ``base`` (fgvc-aircraft-2013b/): ``data/images/<id>.jpg`` with 7-digit
    ids, the three levels' split files and name lists, ``images_box.txt`` (1-based)."""
    data = base / "data"
    rows: dict[str, list] = {split: [] for split in ("train", "val", "test")}
    boxes = []
    number = 1000000
    for v, variant in enumerate(variants):
        for split in rows:
            for _ in range(per_split):
                number += 1
                write_photo(data / "images" / f"{number}.jpg", seed=number, size=(60, 48))
                rows[split].append((number, variant, f"Family{v % 2}", f"Maker{v % 2}"))
                boxes.append((number, 3, 4, 40, 30))
    for level, column, names in (
        ("variant", 1, "variants"),
        ("family", 2, "families"),
        ("manufacturer", 3, "manufacturers"),
    ):
        for split, entries in rows.items():
            write_lines(data / f"images_{level}_{split}.txt", [(r[0], r[column]) for r in entries])
        listed = dict.fromkeys(r[column] for entries in rows.values() for r in entries)
        (data / f"{names}.txt").write_text("".join(f"{n}\n" for n in listed))
    write_lines(data / "images_box.txt", boxes)


def write_flowers(root: Path, labels: list[int], sets: dict[str, list[int]]) -> None:
    """Flowers-102 in ``root``: jpg/image_NNNNN.jpg, imagelabels.mat, setid.mat (1 x N doubles)."""
    for number in range(1, len(labels) + 1):
        write_photo(root / "jpg" / f"image_{number:05d}.jpg", seed=number)
    scipy.io.savemat(root / "imagelabels.mat", {"labels": np.array([labels], dtype=np.float64)})
    scipy.io.savemat(root / "setid.mat", {k: np.array([v], dtype=np.float64) for k, v in sets.items()})


def cars_annotations(rows: list[tuple[int, int, int, int, int, str]]) -> np.ndarray:
    """The devkit's 1 x N struct array: bbox_x1, bbox_y1, bbox_x2, bbox_y2, class, fname."""
    fields = ["bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname"]
    records = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    for i, row in enumerate(rows):
        for field, value in zip(fields, row):
            records[0, i][field] = value if isinstance(value, str) else np.array([[value]], dtype=np.uint16)
    return records


def write_cars(root: Path, names: list[str], train: int, test: int) -> None:
    """Stanford Cars in ``root``: cars_train/, cars_test/ (5-digit names), devkit/cars_meta.mat,
    devkit/cars_train_annos.mat and cars_test_annos_withlabels.mat."""
    (root / "devkit").mkdir(parents=True)
    meta = np.empty((1, len(names)), dtype=object)
    meta[0, :] = names
    scipy.io.savemat(root / "devkit" / "cars_meta.mat", {"class_names": meta})
    for folder, count, annos in (
        ("cars_train", train, "devkit/cars_train_annos.mat"),
        ("cars_test", test, "cars_test_annos_withlabels.mat"),
    ):
        rows = []
        for n in range(1, count * len(names) + 1):
            file = f"{n:05d}.jpg"
            write_photo(root / folder / file, seed=n + 1000 * (folder == "cars_test"))
            rows.append((2 + n % 3, 3, 30 + n % 5, 25, (n - 1) % len(names) + 1, file))
        scipy.io.savemat(root / annos, {"annotations": cars_annotations(rows)})


def write_dogs(root: Path, breeds: list[str], train: int, test: int) -> None:
    """Stanford Dogs in ``root``: Images/<wnid-breed>/, Annotation/ (VOC XML, no suffix),
    train_list.mat and test_list.mat (N x 1 cells and doubles)."""
    lists: dict[str, list] = {"train": [], "test": []}
    number = 0
    for label, breed in enumerate(breeds, start=1):
        wnid = breed.split("-")[0]
        for k in range(train + test):
            number += 1
            name = f"{breed}/{wnid}_{number}"
            write_photo(root / "Images" / f"{name}.jpg", seed=number)
            (root / "Annotation" / breed).mkdir(parents=True, exist_ok=True)
            objects = "".join(
                f"<object><name>{breed}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
                f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
                for x0, y0, x1, y1 in ([(3, 4, 20, 30), (10, 2, 40, 22)] if k == 0 else [(5, 6, 30, 35)])
            )
            (root / "Annotation" / name).write_text(
                f"<annotation><filename>{name}</filename><size><width>48</width><height>40</height>"
                f"<depth>3</depth></size>{objects}</annotation>"
            )
            lists["train" if k < train else "test"].append((f"{name}.jpg", name, label))
    for split, entries in lists.items():
        cells = np.empty((len(entries), 1), dtype=object)
        annotations = np.empty((len(entries), 1), dtype=object)
        cells[:, 0] = [e[0] for e in entries]
        annotations[:, 0] = [e[1] for e in entries]
        labels = np.array([[e[2]] for e in entries], dtype=np.float64)
        scipy.io.savemat(
            root / f"{split}_list.mat", {"file_list": cells, "annotation_list": annotations, "labels": labels}
        )


def write_pets(root: Path, breeds: list[tuple[str, int]], trainval: int, test: int) -> None:
    """Oxford-IIIT Pet in ``root``: images/<Breed>_<n>.jpg, annotations/{trainval,test}.txt
    (``<image> <class id> <species> <breed id>``)."""
    rows: dict[str, list] = {"trainval": [], "test": []}
    for class_id, (breed, species) in enumerate(breeds, start=1):
        for n in range(1, trainval + test + 1):
            write_photo(root / "images" / f"{breed}_{n}.jpg", seed=100 * class_id + n)
            rows["trainval" if n <= trainval else "test"].append(
                (f"{breed}_{n}", class_id, species, class_id)
            )
    (root / "annotations").mkdir()
    for name, entries in rows.items():
        write_lines(root / "annotations" / f"{name}.txt", entries)


def write_inat(root: Path, species: list[str], train: int, val: int, mini: int) -> None:
    """iNaturalist 2021 in ``root``: train.json, train_mini.json, val.json (COCO style) and
    train/, train_mini/, val/ with one folder per species (``NNNNN_<taxonomy>``)."""
    categories = [
        {"id": i, "name": s.split("_", 1)[1].replace("_", " "), "image_dir_name": s}
        for i, s in enumerate(species)
    ]
    number = 0
    for split, count in (("train", train), ("train_mini", mini), ("val", val)):
        images, annotations = [], []
        for category in categories:
            for _ in range(count):
                number += 1
                file = f"{split}/{category['image_dir_name']}/{uuid.UUID(int=number)}.jpg"
                write_photo(root / file, seed=number)
                images.append({"id": number, "file_name": file, "width": 48, "height": 40})
                annotations.append({"id": number, "image_id": number, "category_id": category["id"]})
        document = {
            "info": {"year": 2021},
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        (root / f"{split}.json").write_text(json.dumps(document))


CUB_CLASSES = [(1, "001.Black_footed_Albatross"), (4, "004.Groove_billed_Ani"), (7, "007.Parakeet_Auklet")]
NABIRDS_CLASSES = [(295, "Forster's Tern"), (1001, "Black-and-white Warbler"), (817, "Bald Eagle")]
AIRCRAFT = ["707-320", "A300B4", "F/A-18"]  # variants.txt's order (names with '/' exist)
FLOWER_LABELS = [2, 1, 1, 2, 1, 2, 2, 1, 1, 2, 1, 2]  # imagelabels.mat: image i's class at i - 1
FLOWER_SETS = {"trnid": [1, 2, 3, 4, 5, 6], "valid": [7, 8], "tstid": [9, 10, 11, 12]}
CARS = ["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012"]
DOGS = ["n02085620-Chihuahua", "n02085782-Japanese_spaniel", "n02116738-African_hunting_dog"]
PETS = [("Abyssinian", 1), ("american_bulldog", 2), ("Bengal", 1)]  # class ids 1-3 in this order
SPECIES = [
    "00000_Animalia_Annelida_Clitellata",
    "00001_Plantae_Tracheophyta_Liliopsida",
    "00002_Fungi_Ascomycota",
]


def write_benchmarks(base: Path) -> dict[str, Path]:
    """One tiny copy of each benchmark in ``base``, as its downloads unpack; by data config name,
    the folder to pass as ``data.root``."""
    write_cub_family(base / "cub" / "CUB_200_2011", CUB_CLASSES, train=6, test=3)
    write_cub_family(base / "nabirds" / "nabirds", NABIRDS_CLASSES, train=6, test=3, nabirds=True)
    write_aircraft(base / "aircraft" / "fgvc-aircraft-2013b", AIRCRAFT, per_split=3)
    write_flowers(base / "flowers", FLOWER_LABELS, FLOWER_SETS)
    write_cars(base / "cars", CARS, train=4, test=2)
    write_dogs(base / "dogs", DOGS, train=4, test=2)
    write_pets(base / "pets", PETS, trainval=6, test=2)
    write_inat(base / "inat", SPECIES, train=6, val=2, mini=4)
    folders = {"cub200": "cub", "fgvc_aircraft": "aircraft", "flowers102": "flowers", "stanford_cars": "cars"}
    folders |= {"stanford_dogs": "dogs", "oxford_pets": "pets", "inat2021": "inat", "nabirds": "nabirds"}
    return {name: base / folder for name, folder in folders.items()}

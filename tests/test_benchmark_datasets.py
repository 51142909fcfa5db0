"""The fine-grained benchmarks read exactly as their publishers ship them (tiny copies in the real
file formats, tests/benchmark_files.py), through real Hydra composition: the official test set is
the test split, val comes from the official training (or validation) images only, boxes crop in
training and evaluation, and each kind of damaged file is one message naming it."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fgclass.audit import audit
from fgclass.config import compose_config
from fgclass.data.images import load_rgb
from fgclass.data.splits import SplitTable
from fgclass.errors import ConfigError, DataError
from fgclass.train import train
from tests.benchmark_files import (
    AIRCRAFT,
    CARS,
    CUB_CLASSES,
    DOGS,
    FLOWER_SETS,
    NABIRDS_CLASSES,
    PETS,
    SPECIES,
    cars_annotations,
    write_benchmarks,
    write_cub_family,
)
from tests.conftest import HASHES_ONLY

TRAIN, TEST = 6, 3


@pytest.fixture(scope="module")
def cub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the CUB archive unpacks into (it holds CUB_200_2011/)."""
    root = tmp_path_factory.mktemp("cub")
    write_cub_family(root / "CUB_200_2011", CUB_CLASSES, TRAIN, TEST)
    return root


def damaged(root: Path, tmp_path: Path) -> Path:
    """A private copy of a shared dataset, for a test to damage."""
    return Path(shutil.copytree(root, tmp_path / root.name))


def split_of(cfg: DictConfig) -> tuple[object, SplitTable]:
    module = instantiate(cfg.data)
    module.setup("fit")
    return module, SplitTable.read(Path(cfg.paths.output_dir, "splits.csv"))


def official(base: Path) -> dict[str, str]:
    """Image path -> the publisher's split, from the CUB-family files."""
    paths = dict(line.split() for line in (base / "images.txt").read_text().splitlines())
    flags = dict(line.split() for line in (base / "train_test_split.txt").read_text().splitlines())
    return {paths[i]: "train" if flags[i] == "1" else "test" for i in paths}


def test_cub_official_test_set_is_the_test_split_and_val_comes_from_training_images(
    train_config: Callable[..., DictConfig], cub_root: Path
) -> None:
    module, table = split_of(train_config("data=cub200", f"data.root={cub_root}"))
    publisher = official(cub_root / "CUB_200_2011")
    assert sorted(table.select("test")[0]) == sorted(p for p, s in publisher.items() if s == "test")
    assert {publisher[p] for p in table.select("val")[0]} == {"train"}
    assert sorted(table.select("train")[0] + table.select("val")[0]) == sorted(
        p for p, s in publisher.items() if s == "train"
    )
    assert len(table.select("val")[0]) == len(CUB_CLASSES)  # stratified: 10 % of each class's six, at least 1
    assert module.class_names == [name for _, name in CUB_CLASSES]  # classes.txt's order
    assert module.datasets["test"].root == cub_root / "CUB_200_2011" / "images"


def add_training_copies(base: Path, source: str, ids: list[int]) -> list[str]:
    """Copies of the image ``source`` added to class 1's official training images, as new ids."""
    copies = []
    for image_id in ids:
        copy = f"001.Black_footed_Albatross/copy_{image_id}.jpg"
        shutil.copy(base / "images" / source, base / "images" / copy)
        for name, value in (("images", copy), ("image_class_labels", 1), ("train_test_split", 1)):
            with (base / f"{name}.txt").open("a") as handle:
                handle.write(f"{image_id} {value}\n")
        copies.append(copy)
    return copies


@pytest.mark.parametrize("val", [0.2, 0.35])
def test_official_val_is_the_configured_share_of_each_class_training_images_groups_whole(
    train_config: Callable[..., DictConfig], tmp_path: Path, val: float
) -> None:
    base = tmp_path / "CUB_200_2011"
    write_cub_family(base, CUB_CLASSES, train=20, test=3)
    source = next(p for p, s in official(base).items() if s == "train" and p.startswith("001."))
    copies = add_training_copies(base, source, [997, 998])  # a near-duplicate group of 3 training images
    cub = ("data=cub200", f"data.root={tmp_path}", f"data.split.val={val}")
    _, table = split_of(train_config(*cub))
    publisher = official(base)
    assert sorted(table.select("test")[0]) == sorted(p for p, s in publisher.items() if s == "test")
    assert {publisher[p] for p in table.select("val")[0]} == {"train"}
    for _, name in CUB_CLASSES:  # stratified: round(val x the class's training images) in val
        trained = [p for p, s in publisher.items() if s == "train" and p.startswith(name[:4])]
        in_val = [p for p in table.select("val")[0] if p.startswith(name[:4])]
        assert len(in_val) == round(val * len(trained)), (name, len(in_val), len(trained))
    split = dict(zip(table.paths, table.splits))
    assert len({split[p] for p in [source, *copies]}) == 1  # the group lies in one split
    group = dict(zip(table.paths, table.groups))
    assert len({group[p] for p in [source, *copies]}) == 1
    _, again = split_of(train_config(*cub, f"paths.output_dir={tmp_path / 'again'}"))
    _, other = split_of(train_config(*cub, "data.split.seed=7", f"paths.output_dir={tmp_path / 'seed7'}"))
    assert again.splits == table.splits  # seeded: the same carve again, another one at another seed
    assert other.splits != table.splits and other.select("test") == table.select("test")


def test_split_random_splits_all_images_anew(train_config: Callable[..., DictConfig], cub_root: Path) -> None:
    _, table = split_of(train_config("data=cub200", f"data.root={cub_root}", "data.split=random"))
    publisher = official(cub_root / "CUB_200_2011")
    tested = {publisher[p] for p in table.select("test")[0]}
    assert tested == {"train", "test"} and len(table.select("test")[0]) == len(
        CUB_CLASSES
    )  # 10 %, stratified


def test_official_split_of_a_dataset_without_one_is_a_config_error(
    train_config: Callable[..., DictConfig], fish_root: Path
) -> None:
    with pytest.raises(
        ConfigError, match=r"data\.split\.mode=official: the dataset in .* has no official split"
    ):
        split_of(train_config(f"data.root={fish_root}", "data.split.mode=official"))


@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_bbox_crops_train_and_eval_images_to_the_box_with_its_margin(
    train_config: Callable[..., DictConfig], cub_root: Path, margin: float
) -> None:
    cfg = train_config("data=cub200", f"data.root={cub_root}", "data.crop=bbox", f"data.crop_margin={margin}")
    module, _ = split_of(cfg)
    base = cub_root / "CUB_200_2011"
    ids = dict(reversed(line.split()) for line in (base / "images.txt").read_text().splitlines())
    boxes = {
        line.split()[0]: [float(v) for v in line.split()[1:]] for line in (base / "bounding_boxes.txt").open()
    }
    for split in ("train", "test"):
        dataset = module.datasets[split]
        x, y, w, h = boxes[ids[dataset.paths[0]]]
        whole = load_rgb(dataset.root / dataset.paths[0])
        rows = slice(max(0, math.floor(y - h * margin)), math.ceil(y + h + h * margin))  # clipped by slicing
        columns = slice(max(0, math.floor(x - w * margin)), math.ceil(x + w + w * margin))
        expected = whole[rows, columns]
        assert (dataset.image(0) == expected).all() and dataset.image(0).shape[:2] != whole.shape[:2]
        assert dataset[0][0].shape == (3, 32, 32)


def test_a_one_batch_fit_on_cub_boxes(train_config: Callable[..., DictConfig], cub_root: Path) -> None:
    metrics = train(
        train_config("data=cub200", f"data.root={cub_root}", "data.crop=bbox", "debug=fast_dev_run")
    )
    assert "train/loss" in metrics and metrics["test/num_samples"] > 0


def test_audit_counts_official_test_images_with_a_copy_in_training(cub_root: Path, tmp_path: Path) -> None:
    root = damaged(cub_root, tmp_path)
    base = root / "CUB_200_2011"
    test_image = next(p for p, s in official(base).items() if s == "test")
    add_training_copies(base, test_image, [997, 998, 999])  # a group too large for the carved val
    overrides = ["data=cub200", f"data.root={root}", HASHES_ONLY]
    cfg = compose_config("audit", overrides, tmp_path)
    rows = audit(cfg).class_rows()
    assert rows[-1]["test_leaked"] == 1 and rows[-1]["test"] == TEST * len(CUB_CLASSES)  # the test set stays


def remove_line(path: Path, index: int) -> None:
    lines = path.read_text().splitlines()
    del lines[index]
    path.write_text("\n".join(lines) + "\n")


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


LAST_ID = len(CUB_CLASSES) * (TRAIN + TEST)
# name: (damage done to a copy of CUB_200_2011/, texts the one message must hold)
CUB_DAMAGE = {
    "truncated split file": (
        lambda b: remove_line(b / "train_test_split.txt", -1),
        ("train_test_split.txt has no line for 1 ids listed in", f"- {LAST_ID}"),
    ),
    "image on the list, not on disk": (
        lambda b: (b / "images/004.Groove_billed_Ani/Groove_billed_Ani_0002.jpg").unlink(),
        ("images.txt are missing under", "004.Groove_billed_Ani/Groove_billed_Ani_0002.jpg"),
    ),
    "id missing from images.txt": (
        lambda b: remove_line(b / "images.txt", 0),
        ("images.txt has no line for 1 ids listed in", "- 1"),
    ),
    "unknown class id": (
        lambda b: replace_in(b / "image_class_labels.txt", "1 1\n", "1 2\n"),
        ("image_class_labels.txt: class ids are those of", "id 1: '2'"),
    ),
    "garbled line": (
        lambda b: replace_in(b / "classes.txt", "4 004.Groove_billed_Ani", "4"),
        ("classes.txt: every line should read '<class id> <class name>'", "line 2: '4'"),
    ),
    "split flag": (
        lambda b: replace_in(b / "train_test_split.txt", "1 1\n", "1 2\n"),
        ("train_test_split.txt: the split is 1 (train) or 0 (test)", "id 1: '2'"),
    ),
    "missing box file": (
        lambda b: (b / "bounding_boxes.txt").unlink(),
        ("bounding_boxes.txt' not found", "data.crop=bbox reads it", "set data.crop=none"),
    ),
    "box for an unknown id": (
        lambda b: replace_in(b / "bounding_boxes.txt", "1 2.0", "1000 2.0"),
        ("bounding_boxes.txt: these boxes are not", "entry 1: '1000 2.0"),
    ),
}


@pytest.mark.parametrize("damage", CUB_DAMAGE)
def test_cub_bad_files_are_one_message_naming_the_file_and_id(
    train_config: Callable[..., DictConfig], cub_root: Path, tmp_path: Path, damage: str
) -> None:
    root = damaged(cub_root, tmp_path)
    harm, texts = CUB_DAMAGE[damage]
    harm(root / "CUB_200_2011")
    with pytest.raises(DataError) as caught:
        split_of(train_config("data=cub200", f"data.root={root}", "data.crop=bbox"))
    for text in texts:
        assert text in str(caught.value)


def test_a_missing_cub_root_says_where_the_files_should_be(
    train_config: Callable[..., DictConfig], tmp_path: Path
) -> None:
    with pytest.raises(DataError, match=r"CUB_200_2011/images.txt' nor .* Point data.root at the folder"):
        split_of(train_config("data=cub200", f"data.root={tmp_path}"))


# --- the other publishers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny copy of each dataset, as its downloads unpack."""
    return write_benchmarks(tmp_path_factory.mktemp("benchmarks"))


def listed_ids(path: Path) -> set[str]:
    return {line.split()[0] for line in path.read_text().splitlines()}


def expected_splits(data: str, root: Path) -> dict[str, set[str]]:
    """Each split's image paths as the publisher's files define them (val: None where carved)."""
    if data in ("cub200", "nabirds"):
        publisher = official(root / ("CUB_200_2011" if data == "cub200" else "nabirds"))
        splits = {"train+val": "train", "test": "test"}
        return {s: {p for p, t in publisher.items() if t == name} for s, name in splits.items()}
    if data == "fgvc_aircraft":
        folder = root / "fgvc-aircraft-2013b" / "data"
        return {
            s: {f"{i}.jpg" for i in listed_ids(folder / f"images_variant_{s}.txt")}
            for s in ("train", "val", "test")
        }
    if data == "flowers102":
        paths = {k: {f"jpg/image_{n:05d}.jpg" for n in v} for k, v in FLOWER_SETS.items()}
        return {"train": paths["trnid"], "val": paths["valid"], "test": paths["tstid"]}
    if data == "stanford_cars":
        return {
            "train+val": {p.relative_to(root).as_posix() for p in (root / "cars_train").iterdir()},
            "test": {p.relative_to(root).as_posix() for p in (root / "cars_test").iterdir()},
        }
    if data == "stanford_dogs":
        names = sorted(p.relative_to(root / "Images").as_posix() for p in (root / "Images").rglob("*.jpg"))
        test = {n for n in names if int(n.split("_")[-1].removesuffix(".jpg")) % 6 in (5, 0)}
        return {"train+val": set(names) - test, "test": test}
    if data == "oxford_pets":
        annotations = root / "annotations"
        return {
            "train+val": {f"images/{i}.jpg" for i in listed_ids(annotations / "trainval.txt")},
            "test": {f"images/{i}.jpg" for i in listed_ids(annotations / "test.txt")},
        }
    coco = {s: json.loads((root / f"{s}.json").read_text()) for s in ("train", "val")}
    return {
        "train+val": {i["file_name"] for i in coco["train"]["images"]},
        "test": {i["file_name"] for i in coco["val"]["images"]},
    }


EXPECTED_CLASSES = {
    "cub200": [name for _, name in CUB_CLASSES],  # classes.txt's order
    "nabirds": sorted(f"{i:04d}.{name}" for i, name in NABIRDS_CLASSES),  # by class id
    "fgvc_aircraft": [f"{i:03d}.{name}" for i, name in enumerate(AIRCRAFT, start=1)],
    "flowers102": ["001", "002"],
    "stanford_cars": [f"{i:03d}.{name}" for i, name in enumerate(CARS, start=1)],
    "stanford_dogs": DOGS,
    "oxford_pets": [f"{i:03d}.{breed}" for i, (breed, _) in enumerate(PETS, start=1)],
    "inat2021": SPECIES,
}


@pytest.mark.parametrize("data", EXPECTED_CLASSES)
def test_the_official_test_set_is_the_test_split_and_val_is_official_or_from_training(
    train_config: Callable[..., DictConfig], roots: dict[str, Path], data: str
) -> None:
    module, table = split_of(train_config(f"data={data}", f"data.root={roots[data]}"))
    expected = expected_splits(data, roots[data])
    got = {s: set(table.select(s)[0]) for s in ("train", "val", "test")}
    assert got["test"] == expected["test"]
    if "val" in expected:  # the publisher's own validation set
        assert got["val"] == expected["val"] and got["train"] == expected["train"]
    else:
        assert (
            got["val"]
            and got["train"] | got["val"] == expected["train+val"]
            and not got["train"] & got["val"]
        )
        assert {label for path, label in zip(table.paths, table.labels) if path in got["val"]} == set(
            table.labels
        )
    assert module.class_names == EXPECTED_CLASSES[data]  # the publisher's names, in its order
    image, target, _ = module.datasets["test"][0]
    assert image.shape == (3, 32, 32) and 0 <= target < len(EXPECTED_CLASSES[data])


def test_aircraft_loses_its_banner_and_reads_each_level(
    train_config: Callable[..., DictConfig], roots: dict[str, Path], tmp_path: Path
) -> None:
    module, _ = split_of(train_config("data=fgvc_aircraft", f"data.root={roots['fgvc_aircraft']}"))
    assert module.datasets["train"].image(0).shape[:2] == (40, 48)  # 60 rows less the 20-pixel banner
    family, _ = split_of(
        train_config(
            "data=fgvc_aircraft",
            f"data.root={roots['fgvc_aircraft']}",
            "data.level=family",
            f"paths.output_dir={tmp_path / 'family'}",
        )  # a split of its own
    )
    assert family.class_names == ["001.Family0", "002.Family1"]
    boxed, _ = split_of(
        train_config(
            "data=fgvc_aircraft",
            f"data.root={roots['fgvc_aircraft']}",
            "data.crop=bbox",
            "data.crop_margin=0",
            f"paths.output_dir={tmp_path / 'boxed'}",
        )
    )
    assert boxed.datasets["test"].image(0).shape[:2] == (27, 38)  # images_box.txt: 3 4 40 30, 1-based
    with pytest.raises(
        InstantiationException, match=r"data\.level=model: use one of variant, family, manufacturer"
    ):
        instantiate(train_config("data=fgvc_aircraft", "data.level=model").data)


def test_dogs_boxes_hold_every_dog_and_cars_boxes_are_one_based(
    train_config: Callable[..., DictConfig], roots: dict[str, Path], tmp_path: Path
) -> None:
    dogs, _ = split_of(
        train_config(
            "data=stanford_dogs",
            f"data.root={roots['stanford_dogs']}",
            "data.crop=bbox",
            "data.crop_margin=0",
        )
    )
    two_dogs = "n02085620-Chihuahua/n02085620_1.jpg"  # training image: in train or the carved val
    dataset = next(d for d in dogs.datasets.values() if two_dogs in d.paths)
    assert dataset.image(dataset.paths.index(two_dogs)).shape[:2] == (29, 38)  # 3-40 by 2-30, 1-based
    cars, _ = split_of(
        train_config(
            "data=stanford_cars",
            f"data.root={roots['stanford_cars']}",
            "data.crop=bbox",
            "data.crop_margin=0",
            f"paths.output_dir={tmp_path / 'cars'}",  # a split of its own
        )
    )
    test = cars.datasets["test"]
    assert test.image(test.paths.index("cars_test/00001.jpg")).shape[:2] == (23, 29)  # 3 3 31 25, 1-based


def test_inat_mini_reads_train_mini(train_config: Callable[..., DictConfig], roots: dict[str, Path]) -> None:
    _, table = split_of(train_config("data=inat2021", f"data.root={roots['inat2021']}", "data.subset=mini"))
    assert all(p.startswith("train_mini/") for s in ("train", "val") for p in table.select(s)[0])
    assert all(p.startswith("val/") for p in table.select("test")[0])


def savemat(path: Path, **variables: object) -> None:
    scipy.io.savemat(path, variables)


AIRCRAFT_DATA = "fgvc-aircraft-2013b/data"
# name: (data config, damage done to a copy of its root, texts the one message must hold)
DAMAGE = {
    "aircraft unknown variant": (
        "fgvc_aircraft",
        lambda r: replace_in(r / AIRCRAFT_DATA / "images_variant_test.txt", "A300B4", "A300"),
        ("images_variant_test.txt: these variant names are not in", "'A300'"),
    ),
    "aircraft image in two splits": (
        "fgvc_aircraft",
        lambda r: replace_in(r / AIRCRAFT_DATA / "images_variant_val.txt", "1000004", "1000001"),
        ("listed in two split files", "1000001 (images_variant_train.txt and images_variant_val.txt)"),
    ),
    "flowers variable missing": (
        "flowers102",
        lambda r: savemat(r / "setid.mat", trnid=np.array([[1, 2]]), valid=np.array([[3]])),
        ("setid.mat has no variable tstid", "it holds trnid, valid"),
    ),
    "flowers image in two sets": (
        "flowers102",
        lambda r: savemat(
            r / "setid.mat", trnid=np.array([[1, 2]]), valid=np.array([[7]]), tstid=np.array([[7, 9]])
        ),
        ("named twice", "image 7"),
    ),
    "flowers labels of the wrong shape": (
        "flowers102",
        lambda r: savemat(r / "imagelabels.mat", labels=np.ones((3, 4))),
        ("imagelabels.mat: 'labels' has shape (3, 4)",),
    ),
    "flowers not a mat file": (
        "flowers102",
        lambda r: (r / "setid.mat").write_text("<html>404</html>"),
        ("setid.mat is not a readable MATLAB file",),
    ),
    "cars class out of range": (
        "stanford_cars",
        lambda r: savemat(
            r / "cars_test_annos_withlabels.mat", annotations=cars_annotations([(1, 1, 9, 9, 7, "00001.jpg")])
        ),
        ("cars_test_annos_withlabels.mat: annotation 1 ('00001.jpg') has class 7 (1 to 3)",),
    ),
    "cars field missing": (
        "stanford_cars",
        lambda r: savemat(
            r / "devkit/cars_train_annos.mat", annotations=np.zeros((1, 2), dtype=[("fname", "O")])
        ),
        ("cars_train_annos.mat: its annotations lack the fields bbox_x1",),
    ),
    "dogs truncated labels": (
        "stanford_dogs",
        lambda r: savemat(
            r / "test_list.mat",
            file_list=np.array([["n02085620-Chihuahua/n02085620_5.jpg"]], dtype=object),
            labels=np.ones((2, 1)),
        ),
        ("test_list.mat: 'labels' has shape (2,), expected 1 numbers",),
    ),
    "dogs broken annotation": (
        "stanford_dogs",
        lambda r: (r / "Annotation/n02085620-Chihuahua/n02085620_1").write_text("<annotation><object>"),
        ("n02085620_1: not PASCAL VOC XML", "data.crop=none"),
    ),
    "pets class id of another breed": (
        "oxford_pets",
        lambda r: replace_in(r / "annotations/test.txt", "Bengal_7 3", "Bengal_7 1"),
        ("test.txt line 5: 'Bengal_7 1 1 3'", "one class id per breed"),
    ),
    "pets image on the list, not on disk": (
        "oxford_pets",
        lambda r: (r / "images/Abyssinian_7.jpg").unlink(),
        ("images/Abyssinian_7.jpg", "are missing under"),
    ),
    "inat unknown category": (
        "inat2021",
        lambda r: replace_in(r / "val.json", '"category_id": 0}', '"category_id": 9}'),
        ("val.json: these images have no annotation of a listed category",),
    ),
    "inat not json": (
        "inat2021",
        lambda r: (r / "train.json").write_text("{"),
        ("train.json: not a COCO-style file",),
    ),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_bad_publisher_files_are_one_message_naming_the_file(
    train_config: Callable[..., DictConfig], roots: dict[str, Path], tmp_path: Path, damage: str
) -> None:
    data, harm, texts = DAMAGE[damage]
    root = damaged(roots[data], tmp_path)
    harm(root)
    with pytest.raises(DataError) as caught:
        split_of(
            train_config(
                f"data={data}", f"data.root={root}", "data.crop=bbox" if "dogs" in data else "data.crop=none"
            )
        )
    for text in texts:
        assert text in str(caught.value)


BEST_SIZES = {"cub200": 448, "nabirds": 448, "fgvc_aircraft": 448, "stanford_cars": 448, "stanford_dogs": 448}
BEST_SIZES |= {"flowers102": 224, "oxford_pets": 224, "inat2021": 224}


def test_each_benchmark_best_is_butterfly_best_at_the_literature_size(tmp_path: Path) -> None:
    recipe = compose_config("train", ["experiment=butterfly_best"], tmp_path)
    for data, size in BEST_SIZES.items():
        cfg = compose_config("train", [f"experiment={data}_best"], tmp_path, keep_hydra=True)
        assert cfg.hydra.runtime.choices.data == data and cfg.data.split.mode == "official"
        assert cfg.data.image_size == cfg.data.train_image_size == size
        assert cfg.data.resize_size == round(size / cfg.data.crop_pct)  # the crop_pct framing
        # a smaller image_size (the tests' 32 px) shrinks the training crops and the resize with it
        small = compose_config("train", [f"experiment={data}_best", "data.image_size=32"], tmp_path).data
        assert small.train_image_size == 32 and small.resize_size == round(32 / small.crop_pct)
        for key in ("model", "trainer", "callbacks"):  # the recipe itself is butterfly_best's
            assert cfg[key] == recipe[key], (data, key)
        assert OmegaConf.to_container(cfg.data.augment) == OmegaConf.to_container(recipe.data.augment)

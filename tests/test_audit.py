"""`python -m fgclass.audit`: the real Hydra app on real image files whose copies the test knows."""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate

from fgclass.audit import audit
from fgclass.audit import main as audit_main
from fgclass.config import compose_config
from fgclass.data.audit_report import AUDIT_CSV, AUDIT_MD
from fgclass.data.splits import SPLITS
from fgclass.errors import DataError

from .conftest import HASHES_ONLY
from .photo_copies import photo_of, write_photo_copies

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("Gilt-Head Bream", "Shrimp", "Trout")
COPIES = ["orig", "rot90", "jpeg"]  # orig and rot90 are pixel-identical up to rotation


def _rows(output_dir: Path) -> dict[str, dict[str, str]]:
    with (output_dir / AUDIT_CSV).open(newline="") as handle:
        return {row["class"]: row for row in csv.DictReader(handle)}


def test_audit_app_reports_the_leak_of_a_given_splits_file(tmp_path: Path, run_main) -> None:
    root = write_photo_copies(tmp_path / "data", CLASSES, photos_per_class=4, variants=COPIES)
    # per class: p000 all in train; p001 one copy in val (leaks); p002 two copies in test (leak);
    # p003 spread over val and test only (no copy in train, no leak)
    placement = {
        "p000": ["train"] * 3,
        "p001": ["val", "train", "train"],
        "p002": ["test", "test", "train"],
        "p003": ["val", "test", "val"],
    }
    splits_csv = tmp_path / "splits.csv"
    with splits_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split"])
        for name in CLASSES:
            for photo, splits in placement.items():
                for variant, split in zip(COPIES, splits):
                    ext = "jpg" if variant == "jpeg" else "png"
                    writer.writerow([f"{name}/{photo}_{variant}.{ext}", name, split])

    code, output = run_main(
        audit_main,
        "data=image_folder",
        f"data.root={root}",
        f"audit.splits_file={splits_csv}",
        "audit.min_size=32",
        f"paths.root_dir={tmp_path}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert code == 0, output

    rows = _rows(tmp_path / "run")
    assert list(rows) == [*CLASSES, "all"]
    for name in CLASSES:
        assert {k: v for k, v in rows[name].items() if k != "class"} == {
            "images": "12",
            "corrupt": "0",
            "tiny": "0",
            "byte_copies": "0",
            "flip_rotation_twins": "8",  # orig + rot90 of each of the 4 photos
            "groups": "4",
            "in_groups": "12",
            "train": "6",
            "val": "3",
            "test": "3",
            "val_leaked": "1",
            "test_leaked": "2",
            "leaked_pct": "50.0",
        }
    assert rows["all"]["images"] == "36" and rows["all"]["leaked_pct"] == "50.0"
    report = (tmp_path / "run" / AUDIT_MD).read_text()
    assert "9 val/test images (50.0 %) have a near-duplicate in train" in report
    assert "12 groups hold 36 images; sizes: 12 of 3." in report
    assert "Split: from the given splits file." in report
    assert report.strip() in output  # printed as well as written


def _photo_dataset(tmp_path: Path) -> Path:
    return write_photo_copies(tmp_path / "fish", CLASSES, photos_per_class=10, variants=COPIES)


@pytest.mark.parametrize("grouped", [True, False])
def test_audit_measures_the_leak_of_the_split_the_config_would_make(tmp_path: Path, grouped: bool) -> None:
    root = _photo_dataset(tmp_path)
    cfg = compose_config(
        "audit",
        ["data=fish", f"data.root={root}", f"data.split.group_near_duplicates={grouped}", HASHES_ONLY],
        tmp_path,
    )
    result = audit(cfg)

    # ground truth from the generator: a val/test image leaks when a copy of its photo is in train
    photos = [photo_of(p) for p in result.paths]
    in_train = {photo for photo, split in zip(photos, result.splits) if split == "train"}
    expected = defaultdict(int)
    for path, photo, split in zip(result.paths, photos, result.splits):
        if split in ("val", "test") and photo in in_train:
            expected[path.split("/")[0]] += 1
    rows = _rows(Path(cfg.paths.output_dir))
    for name in CLASSES:
        assert int(rows[name]["val_leaked"]) + int(rows[name]["test_leaked"]) == expected[name]
    if grouped:
        assert sum(expected.values()) == 0 and rows["all"]["leaked_pct"] == "0.0"
    else:
        assert sum(expected.values()) > 10 and float(rows["all"]["leaked_pct"]) > 50

    # it audits exactly the split training would use
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    with datamodule.splits_path.open(newline="") as handle:
        written = {row["path"]: row["split"] for row in csv.DictReader(handle)}
    assert written == dict(zip(result.paths, result.splits.tolist()))


def test_audit_reports_bad_files_instead_of_failing(tmp_path: Path) -> None:
    root = write_photo_copies(tmp_path / "data", CLASSES, photos_per_class=[4, 4, 1], variants=COPIES)
    broken = root / "Shrimp" / "p001_orig.png"
    broken.write_bytes(broken.read_bytes()[:300])  # truncated
    cv2.imwrite(str(root / "Trout" / "tiny.png"), np.full((20, 40, 3), 90, np.uint8))
    shutil.copy(root / "Gilt-Head Bream" / "p002_jpeg.jpg", root / "Trout" / "copied.jpg")

    cfg = compose_config(
        "audit", ["data=image_folder", f"data.root={root}", "audit.min_size=32", HASHES_ONLY], tmp_path
    )
    result = audit(cfg)

    rows = _rows(Path(cfg.paths.output_dir))
    assert [rows[c]["images"] for c in CLASSES] == ["12", "12", "5"]
    assert [rows[c]["corrupt"] for c in CLASSES] == ["0", "1", "0"]
    assert [rows[c]["tiny"] for c in CLASSES] == ["0", "0", "1"]
    assert [rows[c]["byte_copies"] for c in CLASSES] == ["1", "0", "1"]
    report = (Path(cfg.paths.output_dir) / AUDIT_MD).read_text()
    assert "- 1 corrupt file (" in report and "Shrimp/p001_orig.png: " in report
    assert "- 1 image with a side under 32 px" in report and "Trout/tiny.png: 40x20" in report
    assert "class imbalance: largest/smallest class = 2.40 (above 1.5)" in report
    assert "- 1 near-duplicate groups mix classes" in report
    assert "Gilt-Head Bream/p002_jpeg.jpg, Trout/copied.jpg" in report  # the byte-identical set
    # the split is made of the readable images, as training would make it once the file is gone
    assert result.splits[result.paths.index("Shrimp/p001_orig.png")] == ""
    assert set(np.delete(result.splits, result.paths.index("Shrimp/p001_orig.png"))) == set(SPLITS)


@pytest.mark.parametrize("grouped", [True, False])
def test_audit_reports_a_class_whose_copies_cannot_fill_three_splits(tmp_path: Path, grouped: bool) -> None:
    root = write_photo_copies(tmp_path / "data", CLASSES, photos_per_class=[3, 3, 1], variants=COPIES)
    cfg = compose_config(
        "audit",
        [
            "data=image_folder",
            f"data.root={root}",
            f"data.split.group_near_duplicates={grouped}",
            HASHES_ONLY,
        ],
        tmp_path,
    )
    result = audit(cfg)

    report = (Path(cfg.paths.output_dir) / AUDIT_MD).read_text()
    if grouped:  # Trout is one photo: its three copies stay together, so no split can hold Trout
        assert result.splits is None
        assert "- no split: the config cannot split this data. In the readable images" in report
        assert "'Trout' has no images in" in report
    else:  # a random split can, but every Trout val/test image is a copy of a training image
        assert _rows(Path(cfg.paths.output_dir))["Trout"]["leaked_pct"] == "100.0"


def test_audit_rejects_a_splits_file_from_another_dataset(tmp_path: Path) -> None:
    root = write_photo_copies(tmp_path / "data", CLASSES, photos_per_class=3, variants=["orig"])
    splits_csv = tmp_path / "splits.csv"
    rows = [f"{c}/p{k:03d}_orig.png,{c},{s}" for c in CLASSES for k, s in enumerate(SPLITS)]
    splits_csv.write_text("path,label,split\n" + "\n".join([*rows, "Trout/elsewhere.png,Trout,test"]) + "\n")
    cfg = compose_config(
        "audit",
        ["data=image_folder", f"data.root={root}", f"audit.splits_file={splits_csv}", HASHES_ONLY],
        tmp_path,
    )
    with pytest.raises(
        DataError, match=r"1 files in the splits file are not in the dataset:\n  - Trout/elsewhere"
    ):
        audit(cfg)

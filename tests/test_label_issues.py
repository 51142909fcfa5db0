"""`python -m fgclass.audit audit.label_issues=true`: planted label flips on a tiny dataset whose classes
the packaged Lite0 features separate are found, data it cannot cross-validate is refused, and the
features see each image through the crop that training and evaluation use (data.crop=bbox)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import torch
from hydra.utils import instantiate
from PIL import Image

from fgclass.audit import main as audit_main
from fgclass.config import compose_config
from fgclass.data.audit_report import AUDIT_MD
from fgclass.inference.label_issues import (
    LABEL_ISSUES_CSV,
    LABEL_ISSUES_PNG,
    LabelIssueOptions,
    frozen_features,
)
from fgclass.run_files import ERROR_FILE
from tests.benchmark_files import write_cub_family
from tests.conftest import HASHES_ONLY

COLOURS = {"blue": (220, 60, 40), "green": (40, 200, 40), "red": (40, 40, 220), "yellow": (30, 220, 230)}
SIZE = 64


def write_colour_classes(root: Path, per_class: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """``<root>/<colour>/<n>.png``: smooth random shading of the class colour (one colour per class,
    no two images near-duplicates); returns the images by relative path."""
    rng = np.random.default_rng(seed)
    images = {}
    for name, count in per_class.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shading = rng.uniform(0.5, 1.0, (SIZE, SIZE, 1))
            image = cv2.GaussianBlur((np.array(COLOURS[name]) * shading).astype(np.uint8), (0, 0), SIZE / 10)
            cv2.imwrite(str(root / name / f"{i:03d}.png"), image)
            images[f"{name}/{i:03d}.png"] = image
    return images


def run_audit(run_main, root: Path, tmp_path: Path, *overrides: str) -> tuple[int, str, Path]:
    run_dir = tmp_path / "run"
    code, output = run_main(
        audit_main,
        "data=image_folder",
        f"data.root={root}",
        f"audit.image_size={SIZE}",  # the label-issue features' view (default 256)
        "data.num_workers=0",
        "audit.min_size=16",
        "audit.label_issues=true",
        f"paths.root_dir={tmp_path}",
        f"hydra.run.dir={run_dir}",
        *overrides,
    )
    return code, output, run_dir


def test_planted_label_flips_are_found(tmp_path: Path, run_main) -> None:
    root = tmp_path / "data"
    write_colour_classes(root, dict.fromkeys(COLOURS, 10))
    flips = {"blue/002.png": "green", "red/005.png": "yellow", "yellow/000.png": "blue"}  # path: wrong label
    for path, wrong in flips.items():
        (root / path).rename(root / wrong / f"flipped_{Path(path).name}")
    planted = {f"{wrong}/flipped_{Path(path).name}": path.split("/")[0] for path, wrong in flips.items()}

    code, output, run_dir = run_audit(run_main, root, tmp_path)
    assert code == 0, output

    with (run_dir / LABEL_ISSUES_CSV).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    flagged = {row["path"]: row for row in rows}
    assert set(planted) <= set(flagged), rows  # every flip is found ...
    assert len(flagged) <= len(planted) + 1, rows  # ... and at most one clean image beside them
    for path, true_class in planted.items():
        assert flagged[path]["given_label"] == path.split("/")[0]
        assert flagged[path]["suggested_label"] == true_class
    scores = [float(row["score"]) for row in rows]
    assert [int(row["rank"]) for row in rows] == list(range(1, len(rows) + 1))
    assert scores == sorted(scores) and scores[0] < 0.5

    with Image.open(run_dir / LABEL_ISSUES_PNG) as sheet:  # the contact sheet: one panel per suspect
        assert sheet.width >= 2 * SIZE * len(rows) and sheet.height >= SIZE
    report = (run_dir / AUDIT_MD).read_text()
    assert f"## Suspected label errors\n\n{len(rows)} images of 40 " in report
    assert all(path in report for path in planted)


def test_too_few_images_per_class_for_the_folds_names_the_classes(tmp_path: Path, run_main) -> None:
    root = tmp_path / "data"
    write_colour_classes(root, {"blue": 4, "green": 8, "red": 3})
    code, output, run_dir = run_audit(run_main, root, tmp_path)  # audit.folds=5 by default
    assert code == 1
    message = (run_dir / ERROR_FILE).read_text()
    assert message in output
    assert "audit.folds=5 needs at least 5 independent images per class" in message
    assert "- blue: 4 images" in message and "- red: 3 images" in message and "green" not in message
    assert "Set audit.folds to at most 3" in message
    assert not (run_dir / LABEL_ISSUES_CSV).exists()

    code, output, run_dir = run_audit(run_main, root, tmp_path, "audit.folds=3")
    assert code == 0, output
    assert (run_dir / LABEL_ISSUES_CSV).is_file()


def test_fewer_than_two_readable_classes_is_refused(tmp_path: Path, run_main) -> None:
    root = tmp_path / "data"
    write_colour_classes(root, {"green": 6})
    (root / "red").mkdir()
    for i in range(6):  # the second class has no image that decodes
        (root / "red" / f"{i:03d}.png").write_bytes(b"not an image")
    code, output, run_dir = run_audit(run_main, root, tmp_path)
    assert code == 1
    message = (run_dir / ERROR_FILE).read_text()
    assert message in output
    assert "audit.label_issues=true needs at least 2 classes" in message
    assert "the readable images have 1 class ('green')" in message


def test_features_see_the_box_crop_that_training_and_evaluation_use(tmp_path: Path) -> None:
    root = tmp_path / "CUB_200_2011"
    write_cub_family(root, [(1, "001.Black_footed_Albatross"), (2, "002.Laysan_Albatross")], train=3, test=2)
    computed = {}
    for crop in ("bbox", "none"):
        overrides = ["data=cub200", f"data.root={root}", f"data.crop={crop}", "data.crop_margin=0.2"]
        overrides += ["data.image_size=32", "data.resize_size=36", "data.num_workers=0", HASHES_ONLY]
        cfg = compose_config("audit", overrides, tmp_path / crop)
        data = instantiate(cfg.data)
        data.setup("test")
        features = instantiate(cfg.audit.features)
        test = data.datasets["test"]  # the eval pipeline's view of each image, through the run's crop
        options = LabelIssueOptions(image_size=data.image_size, resize_size=data.resize_size, mirror=False)
        digests = [f"digest of {path}" for path in test.paths]
        computed[crop] = frozen_features(data, test.root, test.paths, digests, features, options)
        expected = features(torch.stack([test[i][0] for i in range(len(test))])).numpy()
        np.testing.assert_allclose(computed[crop], expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(computed["bbox"], computed["none"], atol=1e-3)  # the crop changes what is seen

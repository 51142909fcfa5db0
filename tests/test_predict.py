"""fgclass.predict: new images through a checkpoint alone, broken files listed, TTA, bad input."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from fgclass.config import CONF_DIR, compose_config
from fgclass.data.inputs import PredictDataset, find_inputs
from fgclass.data.transforms import eval_transform
from fgclass.errors import CheckpointError, ConfigError, DataError
from fgclass.models.loading import load_classifier
from fgclass.predict import main as predict_main
from fgclass.predict import predict


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def predict_config(tmp_path: Path, *overrides: str) -> DictConfig:
    return compose_config("predict", ["trainer.accelerator=cpu", "num_workers=0", *overrides], tmp_path)


@pytest.fixture
def best_ckpt(trained_run: Path, tmp_path: Path) -> Path:
    """The run's best checkpoint, moved out of its run folder: predict needs nothing else."""
    return Path(shutil.copy(next((trained_run / "checkpoints").glob("epoch*.ckpt")), tmp_path / "model.ckpt"))


@pytest.fixture
def test_images(trained_run: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The run's test images copied into a plain folder, with the run's own predictions for them."""
    root = Path(OmegaConf.load(trained_run / "run_config.yaml").data.root) / "Fish_Dataset"
    folder = tmp_path / "photos"
    expected = {}
    for k, row in enumerate(read_csv(trained_run / "predictions.csv")):
        target = folder / f"sub{k % 2}" / f"{k:03d}{Path(row['path']).suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / row["path"], target)
        expected[str(target)] = row["predicted_label"]
    return folder, expected


def test_predict_matches_the_runs_own_test_predictions_and_lists_broken_files(
    best_ckpt: Path, test_images: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, expected = test_images
    good = next(iter(expected))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.png").write_bytes(Path(good).read_bytes()[:200])
    (folder / "notes.txt").write_text("not a photo")
    (folder / "fake.jpg").write_text("not a photo either")
    # reject=false: the run's predictions.csv names the closest class for every test image
    counts = predict(
        predict_config(tmp_path, f"ckpt_path={best_ckpt}", f"inputs={folder}", "top_k=3", "reject=false")
    )
    assert counts == {"predicted": len(expected), "skipped": 4}
    rows = read_csv(tmp_path / "run" / "predictions.csv")
    assert {r["path"]: r["predicted_label"] for r in rows} == expected  # same labels as the run's test
    assert list(rows[0]) == [
        "path",
        "predicted_label",
        "top1",
        "top1_prob",
        "top2",
        "top2_prob",
        "top3",
        "top3_prob",
    ]
    assert all(r["top1"] == r["predicted_label"] for r in rows)
    skipped = {Path(r["path"]).name: r["reason"] for r in read_csv(tmp_path / "run" / "skipped.csv")}
    assert sorted(skipped) == ["empty.jpg", "fake.jpg", "notes.txt", "truncated.png"]
    assert skipped["empty.jpg"] == "empty file (0 bytes)"
    assert skipped["truncated.png"].startswith("corrupt or truncated image")
    assert skipped["notes.txt"] == "not an image file (extension '.txt')"
    assert skipped["fake.jpg"] == "not an image (no image format recognised)"


def test_predict_reads_a_csv_of_paths_relative_to_it(
    best_ckpt: Path, test_images: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, expected = test_images
    listing = folder / "list.csv"
    chosen = sorted(expected)[:3]
    listing.write_text("path\n" + "".join(f"{Path(p).relative_to(folder)}\n" for p in chosen))
    assert find_inputs(listing) == [Path(p) for p in chosen]
    predict(predict_config(tmp_path, f"ckpt_path={best_ckpt}", f"inputs={listing}"))
    rows = read_csv(tmp_path / "run" / "predictions.csv")
    assert [r["predicted_label"] for r in rows] == [expected[p] for p in chosen]


def test_tta_averages_the_probabilities_of_each_image_and_its_mirror(
    best_ckpt: Path, test_images: tuple[Path, dict[str, str]]
) -> None:
    model = load_classifier(best_ckpt)
    size = model.hparams.image_size
    dataset = PredictDataset(
        sorted(Path(p) for p in test_images[1]), eval_transform(size, model.hparams.resize_size), size
    )
    images = torch.stack([dataset[i][0] for i in range(4)])
    with torch.no_grad():
        plain = model.predict_step((images,), 0)[0]
        model.tta = True
        averaged = model.predict_step((images,), 0)[0]
        mirrored = model(images.flip(-1))
    expected = (plain.softmax(1) + mirrored.softmax(1)) / 2
    assert torch.allclose(averaged.exp(), expected, atol=1e-6)
    assert not torch.allclose(averaged.exp(), plain.softmax(1), atol=1e-4)


def test_cli_exits_2_when_files_were_skipped(best_ckpt: Path, tmp_path: Path, test_images, run_main) -> None:
    folder, _ = test_images
    (folder / "empty.png").write_bytes(b"")
    args = [f"ckpt_path={best_ckpt}", f"inputs={folder}", f"paths.root_dir={tmp_path}", "num_workers=0"]
    code, output = run_main(predict_main, *args, "trainer.accelerator=cpu")
    assert code == 2, output
    assert "Skipped 1 file" in output and "empty.png: empty file (0 bytes)" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("no_images", DataError, "holds no image files"),
        ("no_inputs", DataError, "inputs is not set"),
        ("missing_ckpt", CheckpointError, "not found"),
        ("no_ckpt", CheckpointError, "ckpt_path is not set"),
        ("foreign_ckpt", CheckpointError, "not an fgclass checkpoint"),
        ("all_broken", DataError, "None of the 1 files"),
        ("batch_size", ConfigError, "batch_size=0"),
    ],
)
def test_predict_bad_input_is_one_clear_error(
    best_ckpt: Path, tmp_path: Path, case: str, error: type, message: str
) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "readme.md").write_text("no photos here")
    ckpt, inputs, extra = best_ckpt, folder, []
    if case == "no_images":
        pass
    elif case == "no_inputs":
        inputs = None
    elif case == "missing_ckpt":
        ckpt = tmp_path / "gone.ckpt"
    elif case == "no_ckpt":
        ckpt = None
    elif case == "foreign_ckpt":
        ckpt = tmp_path / "foreign.ckpt"
        torch.save({"state_dict": {"w": torch.zeros(1)}}, ckpt)
    elif case == "all_broken":
        inputs = folder / "broken.jpg"
        inputs.write_bytes(b"\xff\xd8\xff")
    elif case == "batch_size":
        inputs, extra = CONF_DIR.parent / "tests" / "data", ["batch_size=0"]
    overrides = [
        f"ckpt_path={ckpt}" if ckpt else "ckpt_path=null",
        f"inputs={inputs}" if inputs else "inputs=null",
    ]
    with pytest.raises(error, match=message):
        predict(predict_config(tmp_path, *overrides, *extra))


def test_a_folder_reached_through_dot_dot_is_searched_and_hidden_files_below_it_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    (photos / ".thumbnails").mkdir(parents=True)
    for name in ("a.png", ".hidden.png", ".thumbnails/b.png"):
        (photos / name).write_bytes(b"")
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert find_inputs("../photos") == [Path("../photos/a.png")]

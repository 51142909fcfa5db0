"""A number carries its recipe: metrics.json says how it was made, fgclass.eval repeats it, and a
deterministic run repeats to the last digit."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import torch
from omegaconf import OmegaConf

from fgclass.config import compose_config
from fgclass.eval import evaluate_checkpoint
from fgclass.train import train

from .conftest import FAST
from .test_evaluation import eval_config


def protocol_of(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())["protocol"]


def test_metrics_json_says_how_its_numbers_were_made(trained_run: Path) -> None:
    protocol = protocol_of(trained_run)
    assert protocol["checkpoint"]["chosen_by"] == "best val/loss (min)"  # conf/callbacks/default.yaml
    assert Path(protocol["checkpoint"]["file"]).parent == trained_run / "checkpoints"
    assert protocol["view"] == {  # FAST: data.image_size=32 data.resize_size=36
        "image_size": 32,
        "resize_size": 36,
        "crop_pct": round(32 / 36, 4),
        "pipeline": "shorter side to 36 px, centre crop 32 px",
    }
    assert protocol["tta"] is None
    assert protocol["precision"] == OmegaConf.load(trained_run / "run_config.yaml").trainer.precision
    assert (protocol["accelerator"], protocol["devices"], protocol["num_nodes"]) == ("CPUAccelerator", 1, 1)
    assert (protocol["seed"], protocol["split_seed"]) == (0, 42)
    assert protocol["command"].startswith("python -m fgclass.train")
    splits = trained_run / "splits.csv"
    data = protocol["data"]
    assert data["splits_sha256"] == hashlib.sha256(splits.read_bytes()).hexdigest()
    rows = splits.read_text().splitlines()[1:]
    assert data["images"] == len(rows) == data["train_images"] + data["val_images"] + data["test_images"]
    assert data["classes"] == 9
    assert protocol["versions"]["torch"] == metadata.version("torch") and protocol["versions"]["fgclass"]
    assert protocol["machine"]["cores"] >= 1 and protocol["machine"]["gpu"] == (
        torch.cuda.get_device_name() if torch.cuda.is_available() else None
    )
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert protocol["fgclass_commit"] is None or protocol["fgclass_commit"].split("+")[0] == head


def test_eval_of_the_run_checkpoint_repeats_its_test_numbers_exactly(
    trained_run: Path, tmp_path: Path
) -> None:
    ckpt = json.loads((trained_run / "metrics.json").read_text())["protocol"]["checkpoint"]["file"]
    evaluate_checkpoint(eval_config(tmp_path, f"ckpt_path={ckpt}"))
    original, again = (
        json.loads((run / "metrics.json").read_text()) for run in (trained_run, tmp_path / "run")
    )
    for key in ("accuracy", "f1_macro", "precision_macro", "recall_macro", "loss", "noise_0.2/accuracy"):
        assert again[key] == original[key], key
    for key in ("view", "data", "seed", "split_seed", "precision"):
        assert again["protocol"][key] == original["protocol"][key], key
    assert again["protocol"]["checkpoint"] == {"file": ckpt, "chosen_by": "ckpt_path"}
    assert again["protocol"]["run"] == str(trained_run)


def test_a_deterministic_run_repeats_to_the_last_digit(fish_root: Path, tmp_path: Path) -> None:
    runs = []
    for attempt in ("a", "b"):
        cfg = compose_config(
            "train",
            [*FAST, f"data.root={fish_root}", "trainer.max_epochs=2", "trainer.deterministic=true", "seed=3"],
            tmp_path / attempt,
        )
        train(cfg)
        written = json.loads((tmp_path / attempt / "run" / "metrics.json").read_text())
        runs.append({k: v for k, v in written.items() if not k.endswith("_minutes") and k != "protocol"})
    assert runs[0] == runs[1]
    assert runs[0]["loss"] > 0  # a real test phase ran


def test_eval_tests_at_the_precision_of_the_run_unless_told(trained_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(trained_run, tmp_path / "run_copy"))
    config = OmegaConf.load(run / "run_config.yaml")
    config.trainer.precision = "bf16-mixed"  # as if it ran where bf16 is native
    OmegaConf.save(config, run / "run_config.yaml")
    ckpt = next((run / "checkpoints").glob("epoch*.ckpt"))
    evaluate_checkpoint(eval_config(tmp_path / "a", f"ckpt_path={ckpt}"))
    assert protocol_of(tmp_path / "a" / "run")["precision"] == "bf16-mixed"
    evaluate_checkpoint(eval_config(tmp_path / "b", f"ckpt_path={ckpt}", "trainer.precision=32-true"))
    assert protocol_of(tmp_path / "b" / "run")["precision"] == "32-true"

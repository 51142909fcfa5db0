"""Re-evaluate a finished run's checkpoint on exactly the test split it was tested on.

    python -m fgclass.eval ckpt_path=outputs/runs/.../checkpoints/last.ckpt [data.root=/moved/data]
        [data.image_size=N] [data.resize_size=N] [data.crop_pct=X]

The run folder's ``run_config.yaml`` says how to read the data and its ``splits.csv`` which images
form the test split; the reports land in a new output folder. ``data.*`` settings replace the run's
(:func:`data_overrides`), e.g. to test a checkpoint framed as it was trained.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import fgclass.config  # noqa: F401  (registers the fgclass.* config resolvers)
from fgclass.app import check_targets, command_line, instantiate_dict, run_task
from fgclass.data.splits import SplitTable
from fgclass.evaluation import evaluate
from fgclass.inference.runs import run_datamodule, run_folder
from fgclass.models.loading import check_same_classes, load_classifier
from fgclass.run_files import RUN_CONFIG_FILE, SPLITS_FILE
from fgclass.setting_checks import check_settings
from fgclass.settings import EVAL

log = logging.getLogger(__name__)


def data_overrides(data: DictConfig) -> dict[str, Any]:
    """The eval's ``data.*`` settings that replace the run's (``null``: as in the run). A new
    ``image_size`` or ``crop_pct`` without a ``resize_size`` re-derives it as
    ``round(image_size / crop_pct)`` (the run's ``run_config.yaml`` holds the number it used)."""
    overrides = {key: value for key, value in data.items() if value is not None}
    if overrides.keys() & {"image_size", "crop_pct"} and "resize_size" not in overrides:
        overrides["resize_size"] = None  # the data module derives it
    return overrides


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, float]:
    """Rebuild the run's data module on its splits.csv, check the classes match, evaluate."""
    check_settings(cfg, EVAL)
    check_targets(cfg.logger, "logger")
    model = load_classifier(cfg.ckpt_path)
    ckpt = Path(cfg.ckpt_path).expanduser().resolve()
    run = run_folder(ckpt, cfg.splits_file)
    fix = "Evaluate it on the run it came from (splits_file=<run>/splits.csv) and its data (data.root)."
    check_same_classes(model.class_names, SplitTable.read(run / SPLITS_FILE).class_names, fix)
    datamodule = run_datamodule(run, cfg.paths.output_dir, **data_overrides(cfg.data))
    run_cfg = OmegaConf.load(run / RUN_CONFIG_FILE)
    precision = cfg.trainer.precision or run_cfg.trainer.precision
    loggers = instantiate_dict(cfg.logger) or False
    trainer = instantiate(cfg.trainer, precision=precision, logger=loggers)
    log.info(
        "Evaluating %s on the test split of %s (precision %s; centre crop %d of the shorter side at %d)",
        ckpt,
        run,
        precision,
        datamodule.image_size,
        datamodule.resize_size,
    )
    return evaluate(
        trainer,
        model,
        datamodule,
        cfg.paths.output_dir,
        **cfg.eval,
        history_dir=run / "tensorboard",
        protocol={
            "seed": run_cfg.get("seed"),
            "run": str(run),
            "checkpoint": {"file": str(ckpt), "chosen_by": "ckpt_path"},
            "command": command_line(),
        },
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the test accuracy."""
    return run_task(lambda c: evaluate_checkpoint(c)["test/accuracy"], cfg, cfg.paths.output_dir)


if __name__ == "__main__":
    main()

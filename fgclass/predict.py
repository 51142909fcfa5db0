"""Predict the classes of new images with a trained checkpoint.

    python -m fgclass.predict ckpt_path=outputs/runs/.../checkpoints/last.ckpt inputs=/path/to/photos

``inputs`` is an image, a folder (searched recursively) or a CSV of paths. Only the checkpoint is
needed: it carries the class names, input size and normalisation. Files that cannot be read are
listed with the reason in ``skipped.csv``; the rest go to ``predictions.csv``. Exit status: 0 when
every file was predicted, 2 when some were skipped, 1 on an error.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

import fgclass.config  # noqa: F401  (registers the fgclass.* config resolvers)
from fgclass.app import run_task
from fgclass.callbacks import progress_bar
from fgclass.data.inputs import PredictDataset, find_inputs
from fgclass.data.loaders import make_loader
from fgclass.data.transforms import eval_transform
from fgclass.errors import DataError
from fgclass.evaluation.ood import ood_score
from fgclass.evaluation.result_files import write_predictions
from fgclass.models.loading import input_size, load_classifier
from fgclass.outputs import predictions, reduce_logits, select
from fgclass.run_files import PREDICTIONS_FILE
from fgclass.setting_checks import check_settings
from fgclass.settings import PREDICT
from fgclass.text import listing

log = logging.getLogger(__name__)
SKIPPED_FILE = "skipped.csv"
EXIT_SKIPPED = 2


def predict(cfg: DictConfig) -> dict[str, int]:
    """Predict every readable file of ``cfg.inputs``; write predictions.csv and skipped.csv."""
    check_settings(cfg, PREDICT)
    model = load_classifier(cfg.ckpt_path)
    model.tta = bool(cfg.tta)
    temperature = model.hparams.get("temperature")
    rule = model.hparams.get("rejection") if cfg.reject else None
    if cfg.reject and rule is None:
        log.warning("%s stores no rejection rule: every image gets one of its classes.", cfg.ckpt_path)
    if temperature is None:
        log.warning(
            "%s has no calibration temperature (trained with calibration=none, or before fgclass fitted "
            "one): the probabilities in %s are uncalibrated.",
            cfg.ckpt_path,
            PREDICTIONS_FILE,
        )
    image_size, resize_size = input_size(model, cfg.image_size, cfg.resize_size)
    files = find_inputs(cfg.inputs)
    classes = len(model.class_names)
    if cfg.top_k > classes:
        log.info("top_k=%d is above the checkpoint's %d classes: all are listed", cfg.top_k, classes)
    dataset = PredictDataset(files, eval_transform(image_size, resize_size), image_size)
    loader = make_loader(dataset, cfg.batch_size, cfg.num_workers)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[progress_bar()])
    batches = trainer.predict(model, dataloaders=loader)
    outputs = reduce_logits(torch.cat([b[0] for b in batches]))  # bounded in classes, as in a test
    index = torch.cat([b[1] for b in batches]).tolist()
    problems = [problem for b in batches for problem in b[2]]

    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    good = [row for row, problem in enumerate(problems) if not problem]
    skipped = [(str(files[index[row]]), problems[row]) for row, problem in enumerate(problems) if problem]
    if not good:
        raise DataError(
            f"None of the {len(files)} files under '{cfg.inputs}' could be read:\n"
            + listing([f"{path}: {why}" for path, why in skipped])
        )
    paths = [str(files[index[row]]) for row in good]
    outputs = select(outputs, good)
    unknown = None
    if rule is not None:
        unknown = ood_score(outputs, rule["score"], rule.get("temperature")) < rule["threshold"]
    write_predictions(
        out / PREDICTIONS_FILE, paths, outputs, model.class_names, cfg.top_k, temperature, unknown
    )
    with (out / SKIPPED_FILE).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "reason"])
        writer.writerows(skipped)

    top = Counter(model.class_names[i] for i in predictions(outputs).tolist()).most_common(3)
    log.info(
        "Predicted %d image%s%s%s: %s in %s (most often %s)",
        len(good),
        "" if len(good) == 1 else "s",
        " with flip TTA" if model.tta else "",
        f", {int(unknown.sum())} of them unknown" if unknown is not None else "",
        PREDICTIONS_FILE,
        out,
        ", ".join(f"{name} x{count}" for name, count in top),
    )
    if skipped:
        log.warning(
            "Skipped %d file%s that cannot be read (listed in %s):\n%s",
            len(skipped),
            "" if len(skipped) == 1 else "s",
            out / SKIPPED_FILE,
            listing([f"{path}: {why}" for path, why in skipped]),
        )
    return {"predicted": len(good), "skipped": len(skipped)}


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; exits with status 2 when files were skipped."""
    skipped = run_task(lambda c: predict(c)["skipped"], cfg, cfg.paths.output_dir)
    if skipped:
        raise SystemExit(EXIT_SKIPPED)


if __name__ == "__main__":
    main()

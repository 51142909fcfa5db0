"""Train, then test, one model.

    python -m fgclass.train experiment=butterfly_finetune data.root=/path/to/butterfly

Reads top to bottom: data module -> model -> callbacks/loggers -> Trainer -> fit -> test ->
reports. Every object comes from a config group in ``conf/`` via ``hydra.utils.instantiate``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import WeightAveraging
from omegaconf import DictConfig

import fgclass.config  # noqa: F401  (registers the fgclass.* config resolvers)
from fgclass.app import (
    check_targets,
    command_line,
    hparams_summary,
    instantiate_dict,
    run_task,
    save_run_config,
)
from fgclass.errors import CheckpointError, ConfigError
from fgclass.evaluation import evaluate
from fgclass.evaluation.tensorboard import log_hparams, tensorboard_logger
from fgclass.finetune.feature_cache import FeatureDataModule
from fgclass.finetune.lr_range_test import find_lr
from fgclass.finetune.strategy import frozen_throughout
from fgclass.models.backbones import ensure_available
from fgclass.models.checkpoint import update_hyperparameters
from fgclass.models.loading import check_same_classes, resume_hyperparameters
from fgclass.setting_checks import check_settings
from fgclass.settings import TRAIN

log = logging.getLogger(__name__)


def check_run_settings(cfg: DictConfig) -> dict[str, Any] | None:
    """Fail before any work on a setting out of its range (:mod:`fgclass.settings`), a resume
    checkpoint that cannot resume this run or an accelerator that is not there; warn about a random
    backbone that stays frozen, or whose BatchNorm statistics do. Returns the hyper-parameters of the
    checkpoint to resume from (``None``: a new run)."""
    check_settings(cfg, TRAIN)
    check_targets(cfg.callbacks, "callbacks")
    check_targets(cfg.logger, "logger")
    finetune = cfg.finetune.callback
    if cfg.model.weights is None and frozen_throughout(finetune):
        log.warning(
            "model.weights=null with a backbone frozen for the whole run (finetune=head_only): the "
            "backbone keeps its random weights, so only the head learns and accuracy will be poor. Use "
            "pretrained weights (model.weights=DEFAULT, or model=efficientnet_lite0 offline) or "
            "finetune=full."
        )
    if cfg.model.weights is None and finetune and finetune.get("freeze_bn_stats"):
        log.warning(
            "model.weights=null with finetune.callback.freeze_bn_stats=true: BatchNorm keeps the "
            "running statistics of a random initialisation for the whole run. Use pretrained weights, "
            "or finetune.callback.freeze_bn_stats=false."
        )
    if cfg.trainer.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={cfg.trainer.accelerator} (trainer=gpu/ddp), but this machine has no "
            "usable CUDA GPU (torch.cuda.is_available() is False). Use trainer=default: it picks the "
            "GPU where there is one and the CPU otherwise."
        )
    if not cfg.ckpt_path:
        return None
    resumed = resume_hyperparameters(cfg.ckpt_path)
    if resumed.get("backbone") != cfg.model.backbone:
        raise CheckpointError(
            f"ckpt_path: '{cfg.ckpt_path}' trained model.backbone={resumed.get('backbone')}, this run has "
            f"model.backbone={cfg.model.backbone}: resume with the command of the run that wrote it "
            "(its run_config.yaml), or start a new run without ckpt_path."
        )
    return resumed


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the model described by ``cfg``, test its best checkpoint; returns the final metrics."""
    start = time.perf_counter()
    resumed = check_run_settings(cfg)  # settings that would otherwise fail only after the image scan
    ensure_available(cfg.model.backbone, cfg.model.weights)  # missing weights fail now, not after the scan
    L.seed_everything(cfg.seed, workers=True)
    save_run_config(cfg, cfg.paths.output_dir)

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # finds, checks and splits the images: bad data fails here
    datamodule.setup("fit")
    if resumed:
        fix = "Resume with the data that run trained on, or start a new run without ckpt_path."
        check_same_classes(resumed["class_names"], datamodule.class_names, fix)
    model = instantiate(
        cfg.model,
        num_classes=datamodule.num_classes,
        class_names=datamodule.class_names,
        image_size=datamodule.image_size,
        resize_size=datamodule.resize_size,
    )

    callbacks = instantiate_dict(cfg.callbacks)
    if cfg.finetune.callback:  # first: its phase changes set the rates that LearningRateMonitor logs
        callbacks.insert(0, instantiate(cfg.finetune.callback))
    if cfg.cache_features:  # frozen backbone: run it once per split, train the head on features
        datamodule = FeatureDataModule(datamodule, model, callbacks)
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=instantiate_dict(cfg.logger) or False)
    model.scale_lr(datamodule.batch_size, trainer)  # every base rate follows the global batch

    found_lr = None
    if cfg.lr_find.enabled:
        options = {k: v for k, v in cfg.lr_find.items() if k != "enabled"}
        found_lr = find_lr(trainer, model, datamodule, cfg.paths.output_dir, **options)

    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if found_lr is not None:
        metrics["lr_find/lr"] = found_lr

    if cfg.test:  # also under fast_dev_run (debug=fast_dev_run): one batch through test and every report
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        # A weight-averaging checkpoint's state_dict holds the averaged weights; with the callback still
        # attached, loading it would restore the raw weights (to resume training) and test those.
        trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, WeightAveraging)]
        tensorboard = tensorboard_logger(trainer)
        results = evaluate(
            trainer,
            model,
            datamodule,
            cfg.paths.output_dir,
            ckpt_path=best or None,
            **cfg.eval,  # conf/eval: the report options are evaluate()'s keyword arguments
            history_dir=tensorboard.log_dir if tensorboard else None,
            timings={"fit_minutes": (time.perf_counter() - start) / 60},  # scan, checks and training
            protocol={"seed": cfg.seed, "command": command_line()},
        )
        metrics.update(results)
        if best and trainer.is_global_zero:  # what evaluate fitted on val, for predict and export
            update_hyperparameters(best, **{k: model.hparams.get(k) for k in ("temperature", "rejection")})
        scalars = {k: v for k, v in results.items() if not k.endswith(("num_samples", "_minutes"))}
        log_hparams(trainer, hparams_summary(cfg, model.hparams), scalars)
    log.info(
        "Results: %s  |  TensorBoard: tensorboard --logdir %s", cfg.paths.output_dir, cfg.paths.output_dir
    )
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns ``cfg.optimized_metric`` for sweepers."""
    return run_task(lambda c: optimized_value(train(c), c.optimized_metric), cfg, cfg.paths.output_dir)


def optimized_value(metrics: dict[str, float], name: str) -> float:
    """The metric a sweeper optimises; an unknown name is an error listing the known ones."""
    if name not in metrics:
        raise ConfigError(
            f"optimized_metric={name} is not a metric of this run; use one of: {', '.join(sorted(metrics))}."
        )
    return metrics[name]


if __name__ == "__main__":
    main()

"""Train, then test, one model.

    python -m fgclass.train experiment=butterfly_finetune data.root=/path/to/butterfly

Reads top to bottom: data module -> model -> callbacks/loggers -> Trainer -> fit -> test ->
reports. Every object comes from a config group in ``conf/`` via ``hydra.utils.instantiate``.
"""

from __future__ import annotations

import logging

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

import fgclass.config  # noqa: F401  (registers the fgclass.* config resolvers)
from fgclass.app import instantiate_dict, run_task
from fgclass.finetune.feature_cache import FeatureDataModule

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the model described by ``cfg``, test its best checkpoint; returns the final metrics."""
    L.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # finds, checks and splits the images: bad data fails here
    datamodule.setup("fit")
    model = instantiate(cfg.model, num_classes=datamodule.num_classes, class_names=datamodule.class_names)

    callbacks = instantiate_dict(cfg.callbacks)
    if cfg.finetune.callback:
        callbacks.append(instantiate(cfg.finetune.callback))
    if cfg.finetune.cache_features:  # frozen backbone: run it once per split, train the head on features
        datamodule = FeatureDataModule(datamodule, model, callbacks)
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=instantiate_dict(cfg.logger) or False)

    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    if cfg.test and not trainer.fast_dev_run:
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    log.info("Results in %s", cfg.paths.output_dir)
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns ``cfg.optimized_metric`` for sweepers."""
    return run_task(lambda c: train(c).get(c.optimized_metric, float("nan")), cfg, cfg.paths.output_dir)


if __name__ == "__main__":
    main()

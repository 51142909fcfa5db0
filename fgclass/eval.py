"""Re-evaluate a finished run's checkpoint on exactly the test split it was tested on.

    python -m fgclass.eval ckpt_path=outputs/runs/.../checkpoints/last.ckpt [data.root=/moved/data]

The run folder's ``run_config.yaml`` says how to read the data and its ``splits.csv`` which images
form the test split; the reports land in a new output folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import fgclass.config  # noqa: F401  (registers the fgclass.* config resolvers)
from fgclass.app import RUN_CONFIG_FILE, instantiate_dict, run_task
from fgclass.data.splits import SPLITS_FILE
from fgclass.errors import CheckpointError
from fgclass.evaluation import evaluate
from fgclass.models import Classifier

log = logging.getLogger(__name__)


def load_classifier(ckpt_path: str | Path) -> Classifier:
    """Load an fgclass checkpoint, or explain why the file is not one."""
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"ckpt_path: '{path}' not found.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"ckpt_path: '{path}' is not a readable PyTorch checkpoint ({exc}).") from exc
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not hparams or "class_names" not in hparams or "state_dict" not in checkpoint:
        raise CheckpointError(
            f"ckpt_path: '{path}' is not an fgclass checkpoint (no Classifier hyper-parameters). "
            "Use a .ckpt from an fgclass run's checkpoints/ folder."
        )
    return Classifier.load_from_checkpoint(path, map_location="cpu")


def run_folder(ckpt_path: Path) -> Path:
    """The run folder a checkpoint belongs to (the parent of ``checkpoints/``)."""
    folder = ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else ckpt_path.parent
    missing = [name for name in (RUN_CONFIG_FILE, SPLITS_FILE) if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(
            f"'{folder}' lacks {', '.join(missing)}: the checkpoint must stay inside the fgclass run "
            "folder that produced it (<run>/checkpoints/), next to its run_config.yaml and splits.csv."
        )
    return folder


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, float]:
    """Rebuild the run's data module on its splits.csv, check the classes match, evaluate."""
    ckpt = Path(cfg.ckpt_path).expanduser().resolve()
    model = load_classifier(ckpt)
    run = run_folder(ckpt)
    data_cfg = OmegaConf.load(run / RUN_CONFIG_FILE).data
    overrides = {k: v for k, v in cfg.data.items() if v is not None}
    datamodule = instantiate(
        data_cfg,
        **overrides,
        splits_file=str(run / SPLITS_FILE),
        output_dir=cfg.paths.output_dir,
        augment=None,
    )
    datamodule.setup("test")
    if datamodule.class_names != model.class_names:
        only_model = sorted(set(model.class_names) - set(datamodule.class_names))
        only_data = sorted(set(datamodule.class_names) - set(model.class_names))
        raise CheckpointError(
            f"The checkpoint's classes differ from the data's: only in the checkpoint {only_model}, "
            f"only in the data {only_data}. Evaluate with the dataset the model was trained on."
        )
    trainer = instantiate(cfg.trainer, logger=instantiate_dict(cfg.logger) or False)
    log.info("Evaluating %s on the test split of %s", ckpt, run)
    return evaluate(
        trainer,
        model,
        datamodule,
        cfg.paths.output_dir,
        noise_sigmas=cfg.eval.noise_sigmas,
        noise_seed=cfg.eval.noise_seed,
        top_k=cfg.eval.top_k,
        history_dir=run / "tensorboard",
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the test accuracy."""
    return run_task(lambda c: evaluate_checkpoint(c)["test/accuracy"], cfg, cfg.paths.output_dir)


if __name__ == "__main__":
    main()

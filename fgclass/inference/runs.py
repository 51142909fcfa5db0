"""The run folder a checkpoint came from, and its test split rebuilt from its own files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

from fgclass.data.datamodule import ImageClassificationDataModule, upgrade_config
from fgclass.errors import CheckpointError
from fgclass.run_files import CHECKPOINT_DIR, RUN_CONFIG_FILE, SPLITS_FILE


def run_folder(ckpt_path: Path, splits_file: str | Path | None = None) -> Path:
    """The run folder whose data and test split a checkpoint is evaluated on: the folder of
    ``splits_file`` when given (a checkpoint moved out of its run), else the parent of the
    checkpoint's ``checkpoints/``."""
    if splits_file is not None:
        folder = Path(splits_file).expanduser().resolve().parent
    else:
        folder = ckpt_path.parent.parent if ckpt_path.parent.name == CHECKPOINT_DIR else ckpt_path.parent
    missing = [name for name in (RUN_CONFIG_FILE, SPLITS_FILE) if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(
            f"'{folder}' lacks {', '.join(missing)}: keep the checkpoint inside the fgclass run folder "
            "that produced it (<run>/checkpoints/), or name that run's split with "
            "splits_file=<run>/splits.csv (its run_config.yaml beside it says how to read the data)."
        )
    return folder


def run_datamodule(run: Path, output_dir: str | Path, **overrides: Any) -> ImageClassificationDataModule:
    """The run's data module on exactly its ``splits.csv``, set up for testing (no augmentation);
    ``overrides`` replace data settings (e.g. ``root`` for data that has moved)."""
    data_cfg = upgrade_config(OmegaConf.load(run / RUN_CONFIG_FILE).data)  # runs of older fgclass too
    datamodule = instantiate(
        data_cfg,
        **overrides,
        splits_file=str(run / SPLITS_FILE),
        output_dir=str(output_dir),
        augment=None,  # evaluation only: no training pipeline, and no training crop size to match
        train_image_size=None,
    )
    datamodule.setup("test")
    return datamodule

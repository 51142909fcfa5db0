"""How a test number was made, written beside it (``metrics.json``, key ``protocol``): the test view,
the checkpoint, precision, devices, batch and learning rate, seeds, the data's fingerprint, the
machine, package versions and the fgclass commit."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L

from fgclass.data.datamodule import ImageClassificationDataModule
from fgclass.provenance import machine, package_versions, source_commit


def checkpoint_choice(trainer: L.Trainer, ckpt_path: str | None) -> dict[str, str | None]:
    """Which weights were tested: the checkpoint file and what chose it (the best of a monitored
    metric, the last epoch, or the command line)."""
    if not ckpt_path:
        return {"file": None, "chosen_by": "the weights at the end of training (no checkpoint)"}
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback is not None else ""
    if best and Path(best).resolve() == Path(ckpt_path).resolve():
        chosen = f"best {callback.monitor} ({callback.mode})" if callback.monitor else "the last epoch"
    else:
        chosen = "ckpt_path"
    return {"file": str(ckpt_path), "chosen_by": chosen}


def data_fingerprint(datamodule: ImageClassificationDataModule) -> dict[str, Any]:
    """The data as the split file records it: root, image and class counts per split, and the
    SHA-256 of ``splits.csv`` (equal hashes: the same images in the same splits)."""
    table = datamodule.table
    counts = Counter(table.splits)
    return {
        "root": str(datamodule.layout.root),
        "images": len(table.paths),
        "classes": len(table.class_names),
        **{f"{split}_images": counts[split] for split in sorted(counts)},
        "splits_sha256": hashlib.sha256(datamodule.splits_path.read_bytes()).hexdigest(),
    }


def evaluation_protocol(
    trainer: L.Trainer,
    model: L.LightningModule,
    datamodule: ImageClassificationDataModule,
    ckpt_path: str | None,
    tta: bool,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything that decides a test number besides the weights; ``extra``: what only the caller
    knows (e.g. the training ``seed``)."""
    hparams = model.hparams
    size, resize = datamodule.image_size, datamodule.resize_size
    return {
        "checkpoint": checkpoint_choice(trainer, ckpt_path),
        "view": {
            "image_size": size,
            "resize_size": resize,
            "crop_pct": round(size / resize, 4),
            "pipeline": f"shorter side to {resize} px, centre crop {size} px",
        },
        "tta": "horizontal flip (accuracy_tta, f1_macro_tta)" if tta else None,
        "precision": str(trainer.precision),
        "accelerator": type(trainer.accelerator).__name__,
        "devices": trainer.num_devices,
        "num_nodes": trainer.num_nodes,
        "global_batch": hparams.get("global_batch"),
        "effective_lr": hparams.get("effective_lr"),
        "split_seed": datamodule.split.seed,
        **dict(extra or {}),
        "data": data_fingerprint(datamodule),
        "machine": machine(),
        "versions": package_versions(),
        "fgclass_commit": source_commit(),
    }

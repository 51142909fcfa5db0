"""Export a trained checkpoint for deployment, checked against PyTorch on real images.

    python -m fgclass.export ckpt_path=outputs/runs/.../checkpoints/last.ckpt [format=onnx]

``format``: ``onnx``, ``torchscript`` or ``exported_program`` (``torch.export``). Writes ``model.onnx``
(``model.pt``, ``model.pt2``) and ``model.json`` (classes, input size, normalisation, versions,
parity) into a new folder. The parity check feeds the same images to the file and to the
PyTorch model and fails the export if a top-1 class differs or a logit differs by more than
``tolerance``. Images: ``images=PATH`` (an image, folder or CSV), else the run's own test split.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

import fgclass
import fgclass.config
from fgclass.app import run_task
from fgclass.data.inputs import find_inputs, read_image
from fgclass.data.transforms import eval_transform
from fgclass.errors import DataError
from fgclass.inference.exporters import export
from fgclass.inference.runs import run_datamodule, run_folder
from fgclass.models.loading import input_size, load_classifier
from fgclass.setting_checks import check_settings
from fgclass.settings import EXPORT

log = logging.getLogger(__name__)


def parity_images(cfg: DictConfig, image_size: int, resize_size: int) -> torch.Tensor:
    """Up to ``cfg.batch_size`` real images, preprocessed as in evaluation, as ``uint8`` (N, 3, S, S)."""
    pipeline = eval_transform(image_size, resize_size)
    if cfg.images:
        images = []
        for path in find_inputs(cfg.images, "images"):
            try:
                images.append(pipeline(image=read_image(path))["image"])
            except DataError:
                continue  # a broken file proves nothing about the export
            if len(images) == cfg.batch_size:
                break
    else:
        test = run_datamodule(run_folder(Path(cfg.ckpt_path).expanduser().resolve()), cfg.paths.output_dir)
        test_set = test.datasets["test"]
        step = max(1, len(test_set) // cfg.batch_size)  # spread over the classes (the split is ordered)
        images = [test_set[i][0] for i in range(0, len(test_set), step)][: cfg.batch_size]
    if not images:
        raise DataError(f"No readable images for the parity check in '{cfg.images}'.")
    return torch.stack(images)


def export_checkpoint(cfg: DictConfig) -> dict[str, float]:
    """Export ``cfg.ckpt_path`` as ``cfg.format`` and check it; returns the parity figures."""
    check_settings(cfg, EXPORT)
    model = load_classifier(cfg.ckpt_path)
    image_size, resize_size = input_size(model, cfg.image_size, cfg.resize_size)
    images = parity_images(cfg, image_size, resize_size)
    path, parity = export(
        model,
        images,
        Path(cfg.paths.output_dir),
        cfg.format,
        cfg.dynamic_batch,
        cfg.opset,
        cfg.tolerance,
        metadata={"checkpoint": str(Path(cfg.ckpt_path).resolve()), "fgclass": fgclass.__version__},
    )
    log.info(
        "Exported %s; parity on %d real images (batch sizes %s): max |logit difference| %.2g "
        "(tolerance %g), top-1 agreement %.1f%%",
        path,
        parity.images,
        ", ".join(map(str, parity.batch_sizes)),
        parity.max_abs_diff,
        parity.tolerance,
        100 * parity.top1_agreement,
    )
    return {"max_abs_diff": parity.max_abs_diff, "top1_agreement": parity.top1_agreement}


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the top-1 agreement of the parity check."""
    return run_task(lambda c: export_checkpoint(c)["top1_agreement"], cfg, cfg.paths.output_dir)


if __name__ == "__main__":
    main()

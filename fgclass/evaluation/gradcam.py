"""Grad-CAM heatmaps (Selvaraju et al. 2017, computed by the ``grad-cam`` package): where the model
looks when it decides, for its most confident mistakes and a sample of its correct predictions.

The explained layer is the backbone's ``cam_layer`` from the registry (the last convolutional
stage); the explained class is the predicted one.
"""

from __future__ import annotations

import contextlib
import csv
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from matplotlib.figure import Figure
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch.utils.data import Dataset

from fgclass.errors import ConfigError
from fgclass.evaluation import plots
from fgclass.metrics import Results
from fgclass.outputs import confidence, predictions, select
from fgclass.run_files import GRADCAM_DIR
from fgclass.text import slug

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _gradients_everywhere(model: torch.nn.Module) -> Iterator[None]:
    """Let gradients reach every layer (a frozen backbone has none), then restore the flags."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(True)
    try:
        with torch.enable_grad(), torch.inference_mode(False):
            yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def gradcam_maps(model: torch.nn.Module, images: torch.Tensor, classes: Sequence[int]) -> np.ndarray:
    """Heatmaps ``(N, H, W)`` in [0, 1] explaining ``classes`` for ``uint8`` images ``(N, 3, H, W)``;
    ``model`` is a classifier with a ``backbone`` and the name of its ``cam_layer``."""
    if not model.cam_layer:
        raise ConfigError(
            f"Grad-CAM needs a convolutional backbone; {model.hparams.backbone} has no feature map."
        )
    layer = model.backbone.get_submodule(model.cam_layer)
    device = next(model.parameters()).device
    inputs = images.to(device).float() / 255
    with _gradients_everywhere(model), GradCAM(model=model, target_layers=[layer]) as cam:
        with torch.no_grad():
            shape = _output_shape(model, layer, inputs[:1])
        if len(shape) != 4:
            raise ConfigError(
                f"Grad-CAM needs a feature map (N, C, H, W) from {model.cam_layer}; it gives {tuple(shape)}."
            )
        return cam(input_tensor=inputs, targets=[ClassifierOutputTarget(int(c)) for c in classes])


def _output_shape(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor) -> torch.Size:
    seen: list[torch.Size] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    try:
        model(x)
    finally:
        handle.remove()
    return seen[0]


def pick_examples(results: Results, num_mistakes: int, num_correct: int, seed: int = 0) -> list[int]:
    """Rows of ``results``: the most confident mistakes first, then a seeded sample of correct ones."""
    probs, predicted = confidence(results.outputs), predictions(results.outputs)
    wrong = (predicted != results.targets).nonzero().flatten()
    right = (predicted == results.targets).nonzero().flatten()
    mistakes = wrong[probs[wrong].argsort(descending=True)][:num_mistakes]
    generator = torch.Generator().manual_seed(seed)
    correct = right[torch.randperm(len(right), generator=generator)[:num_correct]].sort().values
    return [*mistakes.tolist(), *correct.tolist()]


def write_gradcam(
    out: Path,
    model: torch.nn.Module,
    dataset: Dataset,
    results: Results,
    class_names: Sequence[str],
    num_mistakes: int = 8,
    num_correct: int = 8,
    seed: int = 0,
) -> Figure | None:
    """Write ``gradcam/``: one PNG per picked test image (the image and its overlay) and ``index.csv``
    (file, image, true and predicted class, probability); returns a figure of all of them."""
    rows = pick_examples(results, num_mistakes, num_correct, seed)
    if not rows:
        return None
    indices = results.index[rows].tolist()
    images = torch.stack([dataset[i][0] for i in indices])
    shown = select(results.outputs, rows)
    probs, predicted = confidence(shown), predictions(shown)
    maps = gradcam_maps(model, images, predicted.tolist())
    folder = out / GRADCAM_DIR
    folder.mkdir(parents=True, exist_ok=True)
    entries, overlays = [], []
    for k, (row, image, heat) in enumerate(zip(rows, images, maps)):
        true, pred = class_names[int(results.targets[row])], class_names[int(predicted[k])]
        kind = "correct" if true == pred else "mistake"
        rgb = image.permute(1, 2, 0).numpy().astype(np.float32) / 255
        overlay = show_cam_on_image(rgb, heat, use_rgb=True)
        name = f"{k:02d}_{kind}_{slug(true)}_as_{slug(pred)}.png"
        cv2.imwrite(
            str(folder / name),
            cv2.cvtColor(np.hstack([image.permute(1, 2, 0).numpy(), overlay]), cv2.COLOR_RGB2BGR),
        )
        entries.append([name, dataset.paths[indices[k]], true, pred, f"{float(probs[k]):.4f}", kind])
        overlays.append(
            (image.permute(1, 2, 0).numpy(), overlay, f"{kind}: {true}\nas {pred} ({float(probs[k]):.0%})")
        )
    with (folder / "index.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "image", "true_label", "predicted_label", "probability", "kind"])
        writer.writerows(entries)
    figure = plots.gradcam_figure(overlays)
    log.info(
        "Grad-CAM of %d test images (%d mistakes) in %s",
        len(rows),
        sum(e[5] == "mistake" for e in entries),
        folder,
    )
    return figure

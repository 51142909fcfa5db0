"""Export a trained classifier for deployment (ONNX, TorchScript) and prove the file computes what
the PyTorch model computes.

The exported graph takes what a deployment has at hand: ``uint8`` RGB images ``(N, 3, H, W)`` after
the eval resize and crop; normalisation happens inside. ``model.json`` beside it says how to
prepare the images and names the classes.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fgclass.errors import FgclassError
from fgclass.evaluation.ood import DEFAULT_SCORE, logit_score
from fgclass.models.classifier import Classifier
from fgclass.models.features import batch_dim, onnx_program

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt", "exported_program": "model.pt2"}
INPUT_NAME, OUTPUT_NAME, SCORE_NAME = "images", "logits", "score"


class Deployed(nn.Module):
    """What an export holds: ``uint8`` RGB images ``(N, 3, H, W)`` in; the classifier's logits
    divided by its calibration temperature (their softmax is the calibrated probability) and the
    out-of-distribution score of its rejection rule (below the rule's threshold: "unknown") out."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.temperature = classifier.hparams.get("temperature") or 1.0
        self.score = (classifier.hparams.get("rejection") or {}).get("score", DEFAULT_SCORE)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.classifier(images)
        return logits / self.temperature, logit_score(logits, self.score, self.temperature)


@contextlib.contextmanager
def traceable(classifier: Classifier) -> Iterator[None]:
    """Let ``torch.jit.trace`` walk a LightningModule outside a Trainer: the switch Lightning's own
    ``to_torchscript`` flips, so that its ``trainer`` property answers ``None`` instead of raising."""
    classifier._jit_is_scripting = True
    try:
        yield
    finally:
        classifier._jit_is_scripting = False


class ExportError(FgclassError):
    """An exported model is missing, cannot be built, or disagrees with the PyTorch model."""


@dataclass(frozen=True)
class Parity:
    """How closely the exported file's logits match PyTorch's on the same images."""

    images: int
    max_abs_diff: float
    top1_agreement: float
    tolerance: float
    batch_sizes: list[int]

    @property
    def passed(self) -> bool:
        return self.top1_agreement == 1.0 and self.max_abs_diff <= self.tolerance


def export_onnx(model: Deployed, example: torch.Tensor, path: Path, dynamic_batch: bool, opset: int) -> None:
    """Write ``model`` as one ONNX file (torch's dynamo-based exporter, quietly); batch size dynamic or
    ``len(example)``."""
    onnx_program(
        model,
        example,
        dynamic_batch,
        f=str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME, SCORE_NAME],
        opset_version=opset,
    )


def export_program(
    model: Deployed, example: torch.Tensor, path: Path, dynamic_batch: bool, opset: int
) -> None:
    """Write ``model`` as a ``torch.export`` program (``.pt2``, loads with ``torch.export.load``)."""
    program = torch.export.export(model, (example,), dynamic_shapes=batch_dim(dynamic_batch))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No complete tensor found")  # torch's own CPU weights
        torch.export.save(program, path)


def export_torchscript(
    model: Deployed, example: torch.Tensor, path: Path, dynamic_batch: bool, opset: int
) -> None:
    """Write ``model`` as a TorchScript module traced by Lightning (any batch size). PyTorch deprecates
    TorchScript in favour of ``torch.export`` (``format=exported_program``); its warning is muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # torchmetrics properties the tracer reads
        with traceable(model.classifier):
            torch.jit.save(torch.jit.trace(model, example), str(path))


def onnx_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Run the ONNX file with onnxruntime on the CPU: ``uint8`` images in, logits out."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda images: session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]


def torchscript_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Run the TorchScript file: ``uint8`` images in, logits out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return _torch_runner(torch.jit.load(str(path), map_location="cpu").eval())


def program_runner(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """Run the ``torch.export`` program: ``uint8`` images in, logits out."""
    return _torch_runner(torch.export.load(path).module())


def _torch_runner(module: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[np.ndarray], np.ndarray]:
    def run(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(images))[0].numpy()

    return run


EXPORTERS = {
    "onnx": (export_onnx, onnx_runner),
    "torchscript": (export_torchscript, torchscript_runner),
    "exported_program": (export_program, program_runner),
}


def check_parity(
    model: Deployed,
    run: Callable[[np.ndarray], np.ndarray],
    images: torch.Tensor,
    batch_sizes: list[int],
    tolerance: float,
) -> Parity:
    """Logits of the exported ``run`` against the PyTorch ``model``'s on ``images``, fed in batches of
    each of ``batch_sizes``: the largest absolute difference and the share of equal top-1 classes."""
    with torch.no_grad():
        expected = model(images)[0].numpy()
    worst, agree, total = 0.0, 0, 0
    for size in batch_sizes:
        got = np.concatenate([run(images[i : i + size].numpy()) for i in range(0, len(images), size)])
        worst = max(worst, float(np.abs(got - expected).max()))
        agree += int((got.argmax(1) == expected.argmax(1)).sum())
        total += len(images)
    return Parity(len(images), worst, agree / total, tolerance, batch_sizes)


def export(
    classifier: Classifier,
    images: torch.Tensor,
    out: Path,
    fmt: str = "onnx",
    dynamic_batch: bool = True,
    opset: int = 18,
    tolerance: float = 1e-3,
    metadata: dict[str, Any] | None = None,
) -> tuple[Path, Parity]:
    """Export ``classifier`` to ``out``/model.<ext> with ``model.json``, and check it on ``images``
    (``uint8``, ``(N, 3, S, S)``). Raises :class:`ExportError` (and removes the file) on a mismatch."""
    if fmt not in EXPORTERS:
        raise ExportError(f"format='{fmt}' is not supported: use one of {', '.join(EXPORTERS)}.")
    exporter, runner = EXPORTERS[fmt]
    model = Deployed(classifier.eval()).eval()
    out.mkdir(parents=True, exist_ok=True)
    path = out / FORMATS[fmt]
    try:
        exporter(model, images, path, dynamic_batch, opset)
    except Exception as exc:
        raise ExportError(f"Exporting to {fmt} failed ({type(exc).__name__}: {exc}).") from exc
    batch_sizes = sorted({1, len(images)}) if dynamic_batch else [len(images)]
    parity = check_parity(model, runner(path), images, batch_sizes, tolerance)
    size = int(images.shape[-1])
    info = {
        "format": fmt,
        "file": path.name,
        "input": {
            "name": INPUT_NAME,
            "dtype": "uint8",
            "layout": "NCHW, RGB",
            "shape": ["batch" if dynamic_batch else len(images), 3, size, size],
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch" if dynamic_batch else len(images), len(classifier.class_names)],
        },
        "score": {  # the second output: how much an image looks like the training classes
            "name": SCORE_NAME,
            "shape": ["batch" if dynamic_batch else len(images)],
            "kind": model.score,
            "unknown_below": (classifier.hparams.get("rejection") or {}).get("threshold"),
        },
        "preprocessing": {
            "resize_shorter_side": classifier.hparams.get("resize_size"),
            "center_crop": size,
            "mean": list(classifier.hparams.mean),
            "std": list(classifier.hparams.std),
            "note": "shorter side to resize_shorter_side (bilinear), centre crop, uint8 in; "
            "(x / 255 - mean) / std happens inside the model; the logits out are divided by the "
            "temperature (when there is one), so their softmax is the calibrated probability",
        },
        "class_names": classifier.class_names,
        "temperature": classifier.hparams.get("temperature"),
        "opset": opset if fmt == "onnx" else None,
        "torch": torch.__version__,
        "parity": {**asdict(parity), "passed": parity.passed},
        **(metadata or {}),
    }
    (out / "model.json").write_text(json.dumps(info, indent=2) + "\n")
    if not parity.passed:
        path.unlink()
        raise ExportError(
            f"The {fmt} export disagrees with the PyTorch model on {parity.images} images: max |logit "
            f"difference| {parity.max_abs_diff:.3g} (tolerance {tolerance:g}), top-1 agreement "
            f"{parity.top1_agreement:.1%}. The file was removed; details in {out / 'model.json'}."
        )
    return path, parity

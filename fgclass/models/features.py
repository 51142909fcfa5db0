"""Feature extractors for the data layer's embedding judge (:mod:`fgclass.data.embeddings`), given
to it by the data config (``data.embedder``) rather than imported by it, and the faster inference
paths (ONNX Runtime, TorchScript) that the judge and the feature cache's backbone pass share."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import io
import logging
import re
import warnings
from collections.abc import Callable
from typing import Any

import onnxruntime
import torch
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state
from torch import nn

from fgclass.models.backbones import create_backbone
from fgclass.models.classifier import normalize

log = logging.getLogger(__name__)
_ORT_ERRORS = (  # ONNX Runtime's errors are not RuntimeErrors
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)
_FAST_PATHS: dict[tuple[str, int, tuple[int, ...]], Callable[[torch.Tensor], torch.Tensor]] = {}
PACKAGED_LITE0 = "timm/efficientnet_lite0"  # ImageNet weights that install with fgclass: no download


@functools.cache
def _network(backbone: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """``backbone`` with its default weights in eval mode and its mean/std: built once per process."""
    net = create_backbone(backbone, "DEFAULT")
    mean = torch.tensor(net.mean).view(1, 3, 1, 1)
    std = torch.tensor(net.std).view(1, 3, 1, 1)
    return net.model.eval(), mean, std


class BackboneFeatures:
    """Pooled features of ``backbone`` with its default weights, on ``uint8`` images ``(N, 3, H, W)``
    scaled to [0, 1] and normalised with the backbone's mean/std. The network is built on the first
    call (once per process), so a data module whose embeddings are cached never builds it; ``name``
    (the backbone) keys that cache. It runs by :func:`fast_inference` with ONNX Runtime allowed (the
    judge's pass is long enough to repay the export), chosen once per process for every instance with
    the same ``threads`` per call. One (the default) suits the judge, which makes as many calls side by
    side as torch has threads: on 2 cores 1.05-1.17x faster than one call at a time on both
    (``benchmarks/bench_embeddings.py``)."""

    def __init__(self, backbone: str, threads: int = 1) -> None:
        self.name, self.threads = backbone, threads

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        model, mean, std = _network(self.name)
        x = normalize(images, mean, std)
        key = (self.name, self.threads, tuple(x.shape[1:]))
        if key not in _FAST_PATHS:  # once per process and image size: an export costs about 15 s
            _FAST_PATHS[key] = fast_inference(model, x, onnx=True, threads=self.threads)
            log.info("The judge's %s runs by %s", self.name, getattr(_FAST_PATHS[key], "name", "PyTorch"))
        return _FAST_PATHS[key](x)


@dataclasses.dataclass(frozen=True)
class InferencePath:
    """``model(x)`` computed another way than eagerly; ``name`` says which."""

    name: str
    run: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)


def batch_dim(dynamic: bool) -> tuple[dict[int, torch.export.Dim]] | None:
    """``torch.export``'s ``dynamic_shapes`` for one input whose batch size varies (``None``: fixed)."""
    return ({0: torch.export.Dim("batch", min=1)},) if dynamic else None


def onnx_program(
    model: nn.Module, example: torch.Tensor, dynamic_batch: bool, **options: Any
) -> torch.onnx.ONNXProgram:
    """``model`` through torch's dynamo-based ONNX exporter on ``example`` (also from inference mode),
    its progress lines and optimiser log kept quiet; ``options`` go to ``torch.onnx.export`` (a file
    ``f``, input and output names, an opset)."""
    for name in ("onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with torch.inference_mode(False), contextlib.redirect_stdout(io.StringIO()):
        return torch.onnx.export(
            model,
            (example.clone(),),  # a normal tensor: torch.export does not take inference tensors
            dynamic_shapes=batch_dim(dynamic_batch),
            dynamo=True,
            external_data=False,
            verbose=False,
            **options,
        )


def onnx_runtime_session(
    model: nn.Module, example: torch.Tensor, threads: int | None = None
) -> InferencePath:
    """``model`` exported by :func:`onnx_program` (any batch size) and run by ONNX Runtime on the CPU
    with ``threads`` per call (default: torch's thread count): 2.07x the TorchScript-frozen speed for
    the judge's views on a 2-core CPU, for about 15 s of export (``benchmarks/bench_embeddings.py``).
    Calls may run side by side from several threads."""
    program = onnx_program(model, example, dynamic_batch=True)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    session = onnxruntime.InferenceSession(
        program.model_proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    return InferencePath("ONNX Runtime", lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0]))


def torchscript_frozen(model: nn.Module, example: torch.Tensor) -> InferencePath:
    """``model`` (in eval mode) in NHWC, traced on ``example`` and frozen by TorchScript (BatchNorm
    folded into the convolutions), fed NHWC inputs: 1.39x the eager NCHW speed for the embedding
    judge's views on a 2-core CPU, same features within 3e-7 (``benchmarks/bench_embeddings.py``).
    Tracing records one path through ``forward``: for backbones whose ``forward`` does not branch on
    the input, at ``example``'s image size."""
    nhwc = copy.deepcopy(model).to(memory_format=torch.channels_last)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated; measured faster here
        frozen = torch.jit.freeze(
            torch.jit.trace(nhwc, example.contiguous(memory_format=torch.channels_last))
        )
    return InferencePath("TorchScript", lambda x: frozen(x.contiguous(memory_format=torch.channels_last)))


def fast_inference(
    model: nn.Module, example: torch.Tensor, onnx: bool = False, threads: int | None = None
) -> nn.Module | InferencePath:
    """``model`` on the fastest path that repeats it eagerly on ``example`` (within 1e-4): ONNX Runtime
    (with ``onnx``: it costs an export, so for long passes; ``threads`` per call), else
    :func:`torchscript_frozen`, else ``model`` itself. The other paths apply to fp32 inputs on the CPU
    outside autocast, with ``model`` in eval mode and returning one tensor; a path that cannot export,
    trace or run ``model``, or whose output differs, is skipped with a log line."""
    fp32 = example.dtype == torch.float32 and all(p.dtype == torch.float32 for p in model.parameters())
    if example.device.type != "cpu" or not fp32 or torch.is_autocast_enabled("cpu") or model.training:
        return model
    eager = model(example)
    if not isinstance(eager, torch.Tensor):
        return model
    candidates = [("ONNX Runtime", functools.partial(onnx_runtime_session, threads=threads))] if onnx else []
    for name, build in [*candidates, ("TorchScript", torchscript_frozen)]:
        try:
            path = build(model, example)
            if torch.allclose(path(example), eager, rtol=1e-4, atol=1e-4):
                return path
            log.info("%s differs from the eager %s: not used", name, type(model).__name__)
        except (RuntimeError, *_ORT_ERRORS) as error:  # cannot export, trace or run it: the next path
            message = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()  # the exporter colours its text
            reason = message.splitlines()[0] if message else type(error).__name__
            log.info("%s cannot run %s (%s): not used", name, type(model).__name__, reason)
    return model


def packaged_lite0_features() -> BackboneFeatures:
    """EfficientNet-Lite0 with the ImageNet weights packaged with fgclass: the embedding judge's
    extractor in ``conf/data/_common.yaml``."""
    return BackboneFeatures(PACKAGED_LITE0)

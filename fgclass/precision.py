"""The fastest Lightning precision a machine runs accurately: the trainer's default."""

from __future__ import annotations

from collections.abc import Callable


def best_precision(accelerator: str = "auto", trains_depthwise: Callable[[], bool] | None = None) -> str:
    """bf16 autocast where the hardware has native bf16 (Ampere+ GPUs; CPUs with AVX512-BF16 or AMX),
    fp16 autocast on older GPUs, otherwise full fp32.

    One exception, measured on an AMX CPU: a backbone with depthwise convolutions (EfficientNet-Lite0)
    *trains* 1.05-1.3x faster in fp32 there (its frozen forward is still 1.7x faster in bf16);
    benchmarks/RESULTS.md, section 2. ``trains_depthwise`` says whether the run trains such a
    backbone; it is asked only on a CPU with native bf16 (the answer may build a model).
    """
    import torch  # here: composing a config (and the test runner's start) need no torch

    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if accelerator in ("auto", "cpu"):
        cpu = torch.cpu
        native = (
            getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
            or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
        )
        if native and trains_depthwise is not None and trains_depthwise():
            native = False
        return "bf16-mixed" if native else "32-true"
    return "32-true"

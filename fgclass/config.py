"""OmegaConf resolvers used by ``conf/``; imported by every entry point before Hydra composes."""

from __future__ import annotations

import os
import re
import secrets

import torch
from omegaconf import OmegaConf


def best_precision(accelerator: str = "auto") -> str:
    """The fastest Lightning precision this machine runs accurately.

    bf16 autocast where the hardware has native bf16 (Ampere+ GPUs; CPUs with AVX512-BF16 or
    AMX), fp16 autocast on older GPUs, otherwise full fp32.
    """
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if accelerator in ("auto", "cpu"):
        cpu = torch.cpu
        native = (
            getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
            or getattr(cpu, "_is_amx_tile_supported", lambda: False)()
        )
        return "bf16-mixed" if native else "32-true"
    return "32-true"


def slug(text: str) -> str:
    """A folder-name-safe version of ``text`` (keeps ``=`` and ``,`` of Hydra override names)."""
    return re.sub(r"[^A-Za-z0-9=,._+-]+", "-", str(text)).strip("-") or "default"


def register_resolvers() -> None:
    """Register ``fgclass.*`` resolvers (idempotent)."""
    # cached per config, and the cache travels to sweep jobs: one id per run or multirun, so two
    # runs started in the same second never share an output folder
    OmegaConf.register_new_resolver("fgclass.uid", lambda: secrets.token_hex(3), use_cache=True, replace=True)
    OmegaConf.register_new_resolver("fgclass.precision", best_precision, replace=True)
    OmegaConf.register_new_resolver("fgclass.slug", slug, replace=True)
    OmegaConf.register_new_resolver("fgclass.cwd", os.getcwd, replace=True)


register_resolvers()

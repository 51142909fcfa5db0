"""Where a number was made: the machine, the package versions and the fgclass source commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "fgclass",
    "torch",
    "torchvision",
    "lightning",
    "torchmetrics",
    "timm",
    "albumentations",
    "hydra-core",
)
_SOURCE = Path(__file__).resolve().parents[1]  # the checkout that holds fgclass/, if it is one


def cpu_name() -> str:
    """The CPU's model name and its bf16 instructions, e.g. ``Intel Xeon ... (avx512_bf16, amx_tile)``."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    flags = [flag for flag in ("avx512_bf16", "amx_tile") if flag in cpuinfo.split()]
    name = names[0] if names else platform.processor() or "unknown CPU"
    return f"{name} ({', '.join(flags) or 'no bf16 instructions'})"


def machine() -> dict[str, object]:
    """The CPU, its cores available to this process, and the GPU (``None`` without CUDA)."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "cores": cores, "gpu": gpu, "python": platform.python_version()}


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on (``None``: not installed)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def source_commit() -> str | None:
    """The git commit of the fgclass checkout this code runs from, ``+dirty`` when tracked files
    differ from it; ``None`` for an installed copy outside a checkout (or without git)."""
    try:
        top = _git("rev-parse", "--show-toplevel")
        if Path(top).resolve() != _SOURCE:
            return None
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(_SOURCE), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()

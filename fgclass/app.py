"""Plumbing shared by the Hydra entry points: objects from config groups, and failures reported
as one clear message (and, inside a multirun, recorded so the other runs go on)."""

from __future__ import annotations

import logging
import math
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig

from fgclass.errors import FgclassError

log = logging.getLogger(__name__)
ERROR_FILE = "error.txt"


def instantiate_dict(cfg: Mapping[str, Any] | None) -> list[Any]:
    """Instantiate every non-null entry of a config group such as ``callbacks`` or ``logger``."""
    return [instantiate(entry) for entry in (cfg or {}).values() if entry]


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_task(task: Callable[[DictConfig], float], cfg: DictConfig, output_dir: str | Path) -> float:
    """Run ``task``; on failure write ``error.txt`` into ``output_dir``.

    Single runs end with the message only (user errors) or the traceback (bugs). In a multirun
    the failure is logged and NaN returned, so the sweep goes on and its report lists the run.
    """
    try:
        return task(cfg)
    except Exception as exc:
        user_error = isinstance(exc, FgclassError)
        detail = str(exc) if user_error else traceback.format_exc()
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / ERROR_FILE).write_text(f"{type(exc).__name__}: {detail}\n")
        log.error("%s failed: %s", Path(output_dir).name, exc if user_error else detail)
        if _in_multirun():
            return math.nan
        if user_error:
            raise SystemExit(1) from None
        raise

"""Plumbing shared by the Hydra entry points: objects from config groups, and failures reported
as one clear message (and, inside a multirun, recorded so the other runs go on)."""

from __future__ import annotations

import logging
import math
import traceback
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fgclass.errors import FgclassError

log = logging.getLogger(__name__)
# Library noise kept out of the user's way: an advertisement, and a deprecation inside Lightning.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: not str(record.msg).startswith("💡 Tip")
)
ERROR_FILE = "error.txt"
RUN_CONFIG_FILE = "run_config.yaml"
_CHOICE_GROUPS = ("experiment", "data", "augment", "model", "model/optimizer", "model/schedulers", "finetune")
_HPARAM_KEYS = (
    "model.backbone",
    "model.weights",
    "model.optimizer.lr",
    "model.optimizer.weight_decay",
    "model.head.dropout",
    "model.loss.name",
    "data.image_size",
    "data.batch_size",
    "data.train_fraction",
    "data.split.seed",
    "data.split.group_near_duplicates",
    "trainer.max_epochs",
    "trainer.precision",
)


def hparams_summary(cfg: DictConfig) -> dict[str, Any]:
    """The settings that tell runs apart: config-group choices plus key values (for HParams)."""
    summary: dict[str, Any] = {"seed": cfg.seed}
    if HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
        summary.update({group: choices[group] for group in _CHOICE_GROUPS if group in choices})
    for key in _HPARAM_KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        summary[key] = value if value is None or isinstance(value, (bool, int, float, str)) else str(value)
    return summary


def save_run_config(cfg: DictConfig, output_dir: str | Path) -> Path:
    """Write the fully resolved config of this run to ``run_config.yaml`` (``fgclass.eval`` reads it)."""
    path = Path(output_dir) / RUN_CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    return path


def instantiate_dict(cfg: Mapping[str, Any] | None) -> list[Any]:
    """Instantiate every non-null entry of a config group such as ``callbacks`` or ``logger``."""
    return [instantiate(entry) for entry in (cfg or {}).values() if entry]


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _user_error(exc: BaseException | None) -> FgclassError | None:
    """The fgclass error behind ``exc``, also when Hydra's ``instantiate`` wrapped it."""
    while exc is not None:
        if isinstance(exc, FgclassError):
            return exc
        exc = exc.__cause__
    return None


def run_task(task: Callable[[DictConfig], float], cfg: DictConfig, output_dir: str | Path) -> float:
    """Run ``task``; on failure write ``error.txt`` into ``output_dir``.

    Single runs end with the message only (user errors) or the traceback (bugs). In a multirun
    the failure is logged and NaN returned, so the sweep goes on and its report lists the run.
    """
    try:
        return task(cfg)
    except Exception as exc:
        user_error = _user_error(exc)
        detail = f"{type(user_error).__name__}: {user_error}" if user_error else traceback.format_exc()
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / ERROR_FILE).write_text(detail + "\n")
        log.error("%s failed: %s", Path(output_dir).name, detail)
        if _in_multirun():
            return math.nan
        if user_error:
            raise SystemExit(1) from None
        raise

"""Plumbing shared by the Hydra entry points: objects from config groups, and failures reported
as one clear message (and, inside a multirun, recorded so the other runs go on)."""

from __future__ import annotations

import logging
import math
import os
import shlex
import signal
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from fgclass.errors import ConfigError, FgclassError
from fgclass.run_files import CHECKPOINT_DIR, ERROR_FILE, LAST_CHECKPOINT, RUN_CONFIG_FILE

log = logging.getLogger(__name__)
# Library noise kept out of the user's way: an advertisement, and a deprecation inside Lightning.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
# run folders are unique, so a non-empty checkpoint folder means a resumed run carrying on in its own
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
    lambda record: not str(record.msg).startswith("💡 Tip")
)
_CHOICE_GROUPS = (
    "experiment",
    "data",
    "augment",
    "model",
    "model/head",
    "model/loss",
    "model/optimizer",
    "model/schedulers",
    "finetune",
)
_HPARAM_KEYS = (
    "model.backbone",
    "model.weights",
    "model.optimizer.lr",
    "model.lr_base_size",
    "model.optimizer.weight_decay",
    "model.head.dropout",
    "model.loss.label_smoothing",
    "data.image_size",
    "data.batch_size",
    "data.train_fraction",
    "data.split.seed",
    "data.split.group_near_duplicates",
    "trainer.max_epochs",
    "trainer.precision",
)


def hparams_summary(cfg: DictConfig, record: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings that tell runs apart: config-group choices plus key values (for HParams), and
    the global batch and learning rate a model's hyper-parameters (``record``) say it trained at."""
    record = record or {}
    summary = {"seed": cfg.seed, **{k: record[k] for k in ("global_batch", "effective_lr") if k in record}}
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


class OutputFolderCheck(Callback):
    """Hydra callback: a run or sweep folder that cannot be written ends the command with one
    message naming the folder and the setting to change, before Hydra's own traceback would."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_writable(config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_writable(config.hydra.sweep.dir)


def _check_writable(folder: str) -> None:
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise SystemExit(
            f"Cannot write the output folder {folder} ({exc.strerror or exc}). Runs go under "
            "paths.log_dir (by default outputs/ in the current directory, or in $FGCLASS_ROOT): set "
            "paths.log_dir=/a/writable/folder."
        ) from None


def check_targets(cfg: Mapping[str, Any] | None, group: str) -> None:
    """Fail on an entry of ``group`` (``callbacks``, ``logger``) that has settings but no ``_target_``:
    settings left for an object whose config was removed (e.g. ``callbacks/resolution=none`` under an
    experiment that tunes ``callbacks.progressive_resizing``)."""
    for name, entry in (cfg or {}).items():
        if entry and "_target_" not in entry:
            raise ConfigError(
                f"{group}.{name} has settings ({', '.join(map(str, entry))}) but no _target_: its config "
                f"group was turned off while an experiment still sets them. Remove it whole with "
                f"'~{group}.{name}' on the command line, or add its _target_."
            )


def instantiate_dict(cfg: Mapping[str, Any] | None) -> list[Any]:
    """Instantiate every non-null entry of a config group such as ``callbacks`` or ``logger`` (whose
    entries :func:`check_targets` has checked before any work)."""
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


class Stopped(SystemExit):
    """Ctrl-C or SIGTERM (what SLURM and other schedulers send before a kill), raised at once in the
    main thread wherever the run is (scan, fit, test, evaluation). Not an ``Exception``: a multirun
    stops too, and Lightning's own handlers (checkpoint callbacks' ``on_exception``) still run."""


def _stop(signum: int, frame: object) -> None:
    if os.getpid() != _MAIN_PID:  # a forked scan worker (SLURM signals every process): the
        return  # main process stops it; dying here would turn the clean stop into a worker failure
    # loader workers get the same signal and die of it: torch's SIGCHLD handler would report that as
    # a failure, even from the loader's clean-up at interpreter exit
    if hasattr(signal, "SIGCHLD"):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    raise Stopped(128 + signum)


def _stop_behind(exc: BaseException | None) -> Stopped | None:
    """The stop signal that ``exc`` was raised while handling, if any."""
    while exc is not None and not isinstance(exc, Stopped):
        exc = exc.__cause__ or exc.__context__
    return exc


_MAIN_PID = os.getpid()


def command_line(drop: str | None = None) -> str | None:
    """The command of this run (``python -m fgclass.<job> <overrides>``, overrides of key ``drop``
    left out); ``None`` outside a Hydra run."""
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    overrides = [o for o in hydra.overrides.task if not (drop and o.startswith(f"{drop}="))]
    return shlex.join(["python", "-m", f"fgclass.{hydra.job.config_name}", *overrides])  # conf/<command>.yaml


def resume_hint(output_dir: str | Path) -> str:
    """How to continue a stopped training run: the command line with ``ckpt_path`` set."""
    last = Path(output_dir) / CHECKPOINT_DIR / LAST_CHECKPOINT
    if not last.is_file():
        return "No epoch had finished, so there is no checkpoint to resume from: start the run again."
    command = f"{command_line(drop='ckpt_path')} {shlex.quote(f'ckpt_path={last}')}"
    return "Resume it (it carries on in the same folder) with:\n  " + command


def _failure(exc: BaseException) -> tuple[FgclassError | None, str]:
    """The user error behind ``exc`` (if any) and what ``error.txt`` says: the exception's type and
    message on the first line (what a sweep report shows), a bug's traceback below it."""
    user_error = _user_error(exc)
    if user_error:
        return user_error, f"{type(user_error).__name__}: {user_error}"
    return None, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"


def _report_stop(stop: Stopped, output_dir: str | Path) -> None:
    log.warning("Stopped by %s. %s", signal.Signals(stop.code - 128).name, resume_hint(output_dir))


def run_task(task: Callable[[DictConfig], float], cfg: DictConfig, output_dir: str | Path) -> float:
    """Run ``task``; on failure write ``error.txt`` into ``output_dir``.

    Single runs end with the message only (user errors) or the traceback (bugs). In a multirun
    the failure is logged and NaN returned, so the sweep goes on and its report lists the run.
    Ctrl-C and SIGTERM stop the run (and the sweep) within moments, saying how to resume.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()  # signals can be set only there
    handlers = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM) if in_main_thread}
    try:
        try:
            missing = sorted(OmegaConf.missing_keys(cfg))
            if missing:
                raise ConfigError(
                    f"{', '.join(missing)} must be set: add {missing[0]}=<value> to the command line "
                    f"(e.g. data.root=/path/to/images for your own dataset)."
                )
            return task(cfg)
        except Exception as exc:
            stop = _stop_behind(exc)
            if stop is not None:  # something failed while stopping (e.g. a loader's teardown)
                raise stop from None
            user_error, detail = _failure(exc)
            Path(output_dir).mkdir(parents=True, exist_ok=True)
            (Path(output_dir) / ERROR_FILE).write_text(detail + "\n")
            log.error("%s failed: %s", Path(output_dir).name, detail)
            if _in_multirun():
                return math.nan
            if user_error:
                raise SystemExit(1) from None
            raise
    # also when the signal lands while a failure is handled: torch's loader workers die of SIGTERM
    # themselves, and the main process may see a dead worker before its own handler runs
    except Stopped as stop:
        _report_stop(stop, output_dir)
        raise
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

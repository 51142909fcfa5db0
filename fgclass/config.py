"""OmegaConf resolvers used by ``conf/`` (imported by every entry point before Hydra composes), and
composing ``conf/`` outside a Hydra app (tests, benchmarks, notebooks)."""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationResolutionError

from fgclass.errors import ConfigError
from fgclass.precision import best_precision
from fgclass.run_files import RUN_CONFIG_FILE
from fgclass.text import slug

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_config(
    config_name: str,
    overrides: Sequence[str] = (),
    output_dir: str | Path | None = None,
    keep_hydra: bool = False,
) -> DictConfig:
    """``conf/<config_name>.yaml`` composed as its entry point would, with Hydra's runtime config set
    (resolvers that read it work). ``output_dir``: write under it (the run in ``output_dir/run``);
    ``keep_hydra``: leave the ``hydra`` node in (sweeper, help template)."""
    paths = (
        [f"paths.root_dir={output_dir}", f"paths.output_dir={Path(output_dir) / 'run'}"] if output_dir else []
    )
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=[*paths, *overrides], return_hydra_config=True)
    HydraConfig().set_config(cfg)
    if not keep_hydra:
        with open_dict(cfg):
            del cfg["hydra"]
    return cfg


def _precision(accelerator: str, backbone: str | None = None, finetune: DictConfig | None = None) -> str:
    """``${fgclass.precision:accelerator,backbone,finetune}``: :func:`~fgclass.precision.best_precision`,
    where the backbone trains unless the fine-tuning strategy freezes it for the whole run."""
    # imported when resolved: composing a config needs neither Lightning nor the model registry
    from fgclass.finetune.strategy import frozen_throughout
    from fgclass.models.backbones import has_depthwise_convolutions

    callback = finetune.get("callback") if finetune is not None else None
    trains = not frozen_throughout(callback)
    return best_precision(
        accelerator, lambda: bool(backbone) and trains and has_depthwise_convolutions(backbone)
    )


class _ResolvedConfigError(ConfigError, InterpolationResolutionError):
    """A :class:`ConfigError` raised while a resolver runs: OmegaConf passes its own resolution errors
    on unwrapped (any other it rewraps, hiding the ConfigError), so the run ends with the message."""


def _reported(resolver: Callable[..., object]) -> Callable[..., object]:
    """``resolver`` with its ConfigErrors reported as bad settings (one message), not as bugs."""

    @functools.wraps(resolver)
    def resolve(*args: object) -> object:
        try:
            return resolver(*args)
        except ConfigError as exc:
            raise _ResolvedConfigError(str(exc)) from None

    return resolve


def _timm_pretrained_cfg(backbone: str | None, weights: str | None) -> object | None:
    """timm's pretrained config of a ``timm/`` backbone (of its weights tag, where ``weights`` names
    one); ``None`` for torchvision backbones, none and unknown models. Reads timm's registry only."""
    # imported when resolved: composing a config loads no torch
    from fgclass.models.pretrained import TIMM_PREFIX, is_path, timm_model_name

    if not backbone or not backbone.startswith(TIMM_PREFIX):
        return None
    from timm.models import get_pretrained_cfg

    arch = backbone.removeprefix(TIMM_PREFIX)
    name = timm_model_name(arch, weights) if weights and not is_path(weights) else arch
    try:
        return get_pretrained_cfg(name)
    except RuntimeError:  # a tag timm does not know: the weights check names it before any work
        return get_pretrained_cfg(arch)


def _crop_pct(backbone: str | None, weights: str | None = None) -> float:
    """``${fgclass.crop_pct:backbone,weights}``: the share of the resized image's shorter side that the
    backbone's pretrained eval crop keeps: the ``crop_pct`` of timm's pretrained config for a
    ``timm/`` backbone, else (torchvision backbones, none, unknown) 0.875. Builds no model."""
    from fgclass.data.framing import DEFAULT_CROP_PCT

    pretrained = _timm_pretrained_cfg(backbone, weights)
    return float(pretrained.crop_pct) if pretrained is not None else DEFAULT_CROP_PCT


def _image_size(backbone: str | None, weights: str | None = None) -> int:
    """``${fgclass.image_size:backbone,weights}``: the side the pretrained weights were trained at (the
    backbone's native size): the ``input_size`` of timm's pretrained config for a ``timm/`` backbone
    with pretrained weights (240 for EfficientNet-Lite1, 260 for Lite2), else 224 (torchvision
    backbones, random init, a weights file, unknown models). Builds no model."""
    from fgclass.data.framing import DEFAULT_IMAGE_SIZE
    from fgclass.models.pretrained import is_path

    pretrained = _timm_pretrained_cfg(backbone, weights) if weights and not is_path(weights) else None
    return int(pretrained.input_size[-1]) if pretrained is not None else DEFAULT_IMAGE_SIZE


def _resize_size(image_size: int, crop_pct: float) -> int:
    """``${fgclass.resize_size:image_size,crop_pct}``: :func:`fgclass.data.framing.derived_resize_size`."""
    from fgclass.data.framing import derived_resize_size

    return derived_resize_size(image_size, crop_pct)


def swept_name(job_overrides: list[str], sweep_dir: str, limit: int = 120) -> str:
    """Folder name of a sweep job: only the values this sweep varies, e.g. ``finetune-gradual+seed-1``
    (``key-value`` pairs joined by ``+``: safe to paste into a Hydra override).

    Swept keys are read from the sweep's ``multirun.yaml`` (written before any job starts): the
    command-line sweeps and ``hydra.sweeper.params``. Falls back to every override.
    """
    swept: set[str] = set()
    saved = Path(sweep_dir) / "multirun.yaml"
    if saved.is_file():
        from hydra.core.override_parser.overrides_parser import OverridesParser

        master = OmegaConf.load(saved).hydra
        parsed = OverridesParser.create().parse_overrides(list(master.overrides.task))
        swept = {o.key_or_group for o in parsed if o.is_sweep_override()}
        swept |= set(master.sweeper.get("params") or {})
    chosen = [o for o in job_overrides if not swept or o.split("=", 1)[0].lstrip("+~") in swept]
    name = slug("+".join(o.replace("=", "-", 1) for o in sorted(chosen)))
    return (
        name if len(name) <= limit else f"{name[: limit - 9]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    )


def run_dir(ckpt_path: str | None, job: str, runs_dir: str, name: str) -> str:
    """This run's folder: ``runs/<date>/<time>_<random id>_<name>``, with three exceptions.

    Training from a checkpoint of a run carries on in that run's folder (its checkpoints, curves
    and best score continue); ``eval``/``predict``/``export`` of such a checkpoint name the run
    (``..._eval_<run folder>``); under a SLURM batch job it is ``runs/slurm/<job id>_<name>``, the
    same after an auto-requeue.
    """
    if ckpt_path:
        run = Path(ckpt_path).expanduser().resolve().parent.parent
        if (run / RUN_CONFIG_FILE).is_file():
            if job == "train":
                return str(run)
            name = f"{name}_{run.name}"
    from lightning.fabric.plugins.environments import SLURMEnvironment

    if SLURMEnvironment.detect():
        array = os.environ.get("SLURM_ARRAY_JOB_ID")
        job_id = f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ["SLURM_JOB_ID"]
        return f"{runs_dir}/slurm/{job_id}_{name}"
    return f"{runs_dir}/{datetime.now():%Y-%m-%d/%H-%M-%S}_{secrets.token_hex(3)}_{name}"


def config_choices() -> str:
    """``group: option, ...`` for every config group in ``conf/`` (for ``--help``), leaving out the
    private files (``_*.yaml``: shared defaults, not choices) and Hydra's own groups."""
    conf = Path(__file__).resolve().parents[1] / "conf"
    groups: dict[str, list[str]] = {}
    for path in sorted(conf.rglob("*.yaml")):
        group = path.parent.relative_to(conf).as_posix()
        if group != "." and not group.startswith("hydra") and not path.stem.startswith("_"):
            groups.setdefault(group, []).append(path.stem)
    return "\n".join(f"{group}: {', '.join(options)}" for group, options in sorted(groups.items()))


def register_resolvers() -> None:
    """Register ``fgclass.*`` resolvers (idempotent)."""
    # cached per config, and the cache travels to sweep jobs: one id per run or multirun, so two
    # runs started in the same second never share an output folder
    OmegaConf.register_new_resolver("fgclass.uid", lambda: secrets.token_hex(3), use_cache=True, replace=True)
    OmegaConf.register_new_resolver("fgclass.run_dir", run_dir, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("fgclass.config_choices", config_choices, replace=True)
    OmegaConf.register_new_resolver("fgclass.precision", _precision, replace=True)
    OmegaConf.register_new_resolver("fgclass.crop_pct", _reported(_crop_pct), replace=True)
    OmegaConf.register_new_resolver("fgclass.image_size", _reported(_image_size), replace=True)
    OmegaConf.register_new_resolver("fgclass.resize_size", _reported(_resize_size), replace=True)
    OmegaConf.register_new_resolver("fgclass.slug", slug, replace=True)
    OmegaConf.register_new_resolver("fgclass.cwd", os.getcwd, replace=True)
    OmegaConf.register_new_resolver("fgclass.swept_name", swept_name, replace=True)


register_resolvers()

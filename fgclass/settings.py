"""Which values the commands' numeric settings may take, checked before any work is done.

One table per command (``TRAIN``, ``EVAL``, ``PREDICT``, ``EXPORT``, ``AUDIT``) maps a setting to
the values it accepts, so ``data.batch_size=abc`` or ``trainer.max_epochs=-2`` ends the command at
once with one message naming the setting and what to use, instead of a library's traceback after the
image scan. A setting missing from the composed config is skipped (``*`` matches any key or list
index), and so is one whose value is an interpolation: it is checked where its value comes from.

Epochs: ``trainer.max_epochs`` is a number of epochs >= 1, or -1 for no epoch limit (Lightning's
convention) where something else ends the run: ``trainer.max_steps``, ``trainer.max_time`` or early
stopping, and no schedule that spans ``max_epochs`` (``model/schedulers=cosine``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from omegaconf import DictConfig, ListConfig, OmegaConf

from fgclass.errors import ConfigError

MIN_IMAGE_SIZE = 16  # pixels: the smallest side the backbones (which downsample 32x) turn into features


@dataclass(frozen=True)
class Number:
    """An integer (``kind=int``) or any finite number (``kind=float``) between ``low`` and ``high``;
    ``bounds`` says which ends are included (``"[]"``, ``"(]"``, ``"[)"``, ``"()"``)."""

    kind: type
    low: float | None = None
    high: float | None = None
    bounds: str = "[]"
    meaning: str = ""

    def accepts(self, value: object) -> bool:
        kinds = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and self.bounds[0] == "(")):
            return False
        return self.high is None or value < self.high or (value == self.high and self.bounds[1] == "]")

    def __str__(self) -> str:  # every rule has a lower bound
        low, high = (v if v is None or self.kind is float else int(v) for v in (self.low, self.high))
        if high is not None:
            limits = f"in {self.bounds[0]}{low}, {high}{self.bounds[1]}"
        else:
            limits = f"{'>' if self.bounds[0] == '(' else '>='} {low}"
        kind = "an integer" if self.kind is int else "a number"
        return f"{kind} {limits}" + (f" ({self.meaning})" if self.meaning else "")


@dataclass(frozen=True)
class Exactly:
    """One value allowed outside a range (``-1``: no limit; ``None``: null, the default choice)."""

    value: object
    meaning: str

    def accepts(self, value: object) -> bool:
        return value == self.value and type(value) is type(self.value)

    def __str__(self) -> str:
        return f"{'null' if self.value is None else self.value} ({self.meaning})"


Rule = tuple[Number | Exactly, ...]  # the alternatives a setting may take


def _null(rule: Rule, meaning: str = "the default") -> Rule:
    return (*rule, Exactly(None, meaning))


SEED: Rule = (Number(int, 0, 2**32 - 1, meaning="a seed"),)
BATCH: Rule = (Number(int, 1, meaning="images per batch"),)
WORKERS: Rule = (Number(int, 0, meaning="loader processes; 0: load in the main process"),)
SIZE: Rule = (Number(int, MIN_IMAGE_SIZE, meaning="pixels"),)
RATE: Rule = (Number(float, 0, bounds="(]", meaning="a learning rate"),)
POSITIVE: Rule = (Number(float, 0, bounds="(]"),)
NON_NEGATIVE: Rule = (Number(float, 0),)
SHARE: Rule = (Number(float, 0, 1, "(]", "a share"),)
OPEN_SHARE: Rule = (Number(float, 0, 1, "()", "a share"),)
PROBABILITY: Rule = (Number(float, 0, 1),)
COUNT: Rule = (Number(int, 1),)
NON_NEGATIVE_COUNT: Rule = (Number(int, 0),)
HAMMING_BITS: Rule = (Number(int, 0, 256, meaning="Hamming bits of 256"),)
NO_LIMIT = Exactly(-1, "no limit")
BATCHES: Rule = (
    Number(int, 0, meaning="a number of batches"),
    Number(float, 0, 1, meaning="a share of the batches"),
    Exactly(None, "all"),
)

DATA: dict[str, Rule] = {
    "data.image_size": SIZE,
    "data.train_image_size": SIZE,
    "data.resize_size": SIZE,
    "data.crop_pct": SHARE,
    "data.batch_size": BATCH,
    "data.eval_batch_size": _null(BATCH, "as data.batch_size"),
    "data.num_workers": _null(WORKERS, "one per core"),
    "data.train_fraction": SHARE,
    "data.split.val": OPEN_SHARE,
    "data.split.test": OPEN_SHARE,
    "data.split.seed": SEED,
    "data.split.threshold": HAMMING_BITS,
    "data.split.embedding_threshold": _null((Number(float, 0, 1, "()", "a cosine similarity"),), "off"),
    "data.seed": SEED,
}
TRAINER: dict[str, Rule] = {
    "trainer.max_epochs": (Number(int, 1, meaning="epochs"), NO_LIMIT),
    "trainer.min_epochs": _null(NON_NEGATIVE_COUNT),
    "trainer.max_steps": (Number(int, 1, meaning="optimizer steps"), NO_LIMIT),
    "trainer.min_steps": _null(NON_NEGATIVE_COUNT),
    "trainer.num_nodes": COUNT,
    "trainer.accumulate_grad_batches": COUNT,
    **{f"trainer.limit_{stage}_batches": BATCHES for stage in ("train", "val", "test", "predict")},
    "trainer.overfit_batches": BATCHES[:2],
    "trainer.val_check_interval": _null((Number(int, 1, meaning="batches"), *SHARE), "once per epoch"),
    "trainer.check_val_every_n_epoch": _null(COUNT, "validate only at val_check_interval"),
    "trainer.log_every_n_steps": _null(COUNT),
    "trainer.gradient_clip_val": _null(NON_NEGATIVE, "no clipping"),
    "trainer.num_sanity_val_steps": _null((Number(int, 0), Exactly(-1, "all of them"))),
    "trainer.reload_dataloaders_every_n_epochs": NON_NEGATIVE_COUNT,
}
EVALUATION: dict[str, Rule] = {
    "eval.noise_sigmas.*": (Number(float, 0, meaning="a noise std in [0, 1] pixel space"),),
    "eval.noise_seed": SEED,
    "eval.top_k": COUNT,
    "eval.rejection.acceptance": SHARE,
    "eval.gradcam.num_mistakes": NON_NEGATIVE_COUNT,
    "eval.gradcam.num_correct": NON_NEGATIVE_COUNT,
    "eval.matrix_max_classes": NON_NEGATIVE_COUNT,
    "eval.top_confusions": NON_NEGATIVE_COUNT,
}
SCHEDULER = "model.schedulers.*.scheduler"
TRAIN: dict[str, Rule] = {
    "seed": SEED,
    **DATA,
    "model.optimizer.lr": RATE,
    "model.optimizer.weight_decay": NON_NEGATIVE,
    "model.optimizer.momentum": (Number(float, 0, 1, "[)"),),
    "model.lr_layer_decay": SHARE,
    "model.lr_base_size": _null((Number(int, 1, meaning="a global batch"),), "rates not scaled"),
    "model.head.dropout": (Number(float, 0, 1, "[)"),),
    "model.head.hidden_dim": _null(COUNT, "no hidden layer"),
    "model.loss.label_smoothing": (Number(float, 0, 1, "[)"),),
    "model.loss.gamma": NON_NEGATIVE,
    "model.mixing.mixup_alpha": NON_NEGATIVE,
    "model.mixing.cutmix_alpha": NON_NEGATIVE,
    "model.mixing.prob": PROBABILITY,
    f"{SCHEDULER}.factor": (Number(float, 0, 1, "()"),),
    f"{SCHEDULER}.gamma": (Number(float, 0, 1, "(]"),),
    f"{SCHEDULER}.step_size": (Number(int, 1, meaning="epochs"),),
    f"{SCHEDULER}.patience": (Number(int, 0, meaning="epochs"),),
    f"{SCHEDULER}.warmup_epochs": NON_NEGATIVE_COUNT,
    f"{SCHEDULER}.min_factor": PROBABILITY,
    f"{SCHEDULER}.min_lr": NON_NEGATIVE,
    **TRAINER,
    "callbacks.early_stopping.patience": (Number(int, 0, meaning="epochs"),),
    "callbacks.early_stopping.min_delta": NON_NEGATIVE,
    "callbacks.lr_floor_stopping.patience": _null((Number(int, 0, meaning="epochs"),), "the scheduler's"),
    "callbacks.lr_floor_stopping.min_delta": NON_NEGATIVE,
    "callbacks.model_checkpoint.save_top_k": (Number(int, 0), Exactly(-1, "every epoch")),
    "callbacks.ema.decay": (Number(float, 0, 1, "()"),),
    "callbacks.ema.update_every_n_steps": COUNT,
    "callbacks.sample_grid.num_images": NON_NEGATIVE_COUNT,
    "finetune.stage1_epochs": NON_NEGATIVE_COUNT,
    "finetune.lr_all": RATE,
    "finetune.callback.phases.*.epoch": NON_NEGATIVE_COUNT,
    "finetune.callback.phases.*.lr": RATE,
    "finetune.callback.phases.*.head_lr": _null(RATE, "the head keeps its rate"),
    **EVALUATION,
    "lr_find.min_lr": RATE,
    "lr_find.max_lr": RATE,
    "lr_find.num_training": (Number(int, 1, meaning="steps"),),
    "lr_find.early_stop_threshold": _null(POSITIVE, "run every step"),
}
EVAL: dict[str, Rule] = {
    "data.batch_size": _null(BATCH, "as in the run"),
    "data.num_workers": _null(WORKERS, "one per core"),
    "data.image_size": _null(SIZE, "as in the run"),
    "data.resize_size": _null(SIZE, "as in the run"),
    "data.crop_pct": _null(SHARE, "as in the run"),
    **TRAINER,
    **EVALUATION,
}
PREDICT: dict[str, Rule] = {
    "top_k": (Number(int, 1, meaning="classes listed per image"),),
    "batch_size": BATCH,
    "num_workers": _null(WORKERS, "one per core"),
    "image_size": _null(SIZE, "the checkpoint's"),
    "resize_size": _null(SIZE, "the checkpoint's"),
    **TRAINER,
}
EXPORT: dict[str, Rule] = {
    "batch_size": BATCH,
    "opset": (Number(int, 7, meaning="an ONNX opset version"),),
    "tolerance": (Number(float, 0, bounds="(]", meaning="the largest logit difference accepted"),),
    "image_size": _null(SIZE, "the checkpoint's"),
    "resize_size": _null(SIZE, "the checkpoint's"),
}
AUDIT: dict[str, Rule] = {
    **DATA,
    "audit.threshold": HAMMING_BITS,
    "audit.min_size": NON_NEGATIVE_COUNT,
    "audit.imbalance_ratio": (Number(float, 1),),
    "audit.image_size": SIZE,
    "audit.resize_size": SIZE,
    "audit.folds": (Number(int, 2, meaning="cross-validation folds"),),
    "audit.C": POSITIVE,
    "audit.max_iter": COUNT,
    "audit.seed": SEED,
    "audit.sheet_size": NON_NEGATIVE_COUNT,
}


def _values(cfg: DictConfig, pattern: str) -> list[tuple[str, object]]:
    """``(setting, value)`` of every setting ``pattern`` names in ``cfg`` that holds a value of its
    own (not an interpolation, not ``???``)."""
    found: list[tuple[str, object]] = []

    def walk(node: object, parts: list[str], path: str) -> None:
        if not isinstance(node, (DictConfig, ListConfig)):
            return
        keys: list[str | int]
        if parts[0] == "*":
            keys = list(range(len(node))) if isinstance(node, ListConfig) else [str(k) for k in node]
        elif isinstance(node, DictConfig) and parts[0] in node:
            keys = [parts[0]]
        else:
            return
        for key in keys:
            setting = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}".lstrip(".")
            if OmegaConf.is_interpolation(node, key) or OmegaConf.is_missing(node, key):
                continue
            if len(parts) == 1:
                found.append((setting, node[key]))
            else:
                walk(node[key], parts[1:], setting)

    walk(cfg, pattern.split("."), "")
    return found


def _problem(setting: str, value: object, rule: Rule) -> str | None:
    if any(alternative.accepts(value) for alternative in rule):
        return None
    shown = f"'{value}' (text)" if isinstance(value, str) else OmegaConf.to_yaml({"v": value})[3:].strip()
    alternatives = [str(alternative) for alternative in rule]
    choices = ", ".join(alternatives[:-1]) + " or " if len(alternatives) > 1 else ""
    return f"{setting}={shown}: use {choices}{alternatives[-1]}"


def _training_problems(cfg: DictConfig) -> list[str]:
    """Settings of a training config that are wrong together: ``trainer.max_epochs=-1`` where nothing
    else ends the run or a schedule spans the epochs, an lr range test that ends below its start."""
    problems = []
    min_lr, max_lr = OmegaConf.select(cfg, "lr_find.min_lr"), OmegaConf.select(cfg, "lr_find.max_lr")
    if OmegaConf.select(cfg, "lr_find.enabled") and min_lr >= max_lr:
        problems.append(f"lr_find.min_lr={min_lr} is not below lr_find.max_lr={max_lr}: swap them")
    if OmegaConf.select(cfg, "trainer.max_epochs") != -1:
        return problems
    ends = (
        (OmegaConf.select(cfg, "trainer.max_steps") or -1) > 0
        or OmegaConf.select(cfg, "trainer.max_time") is not None
        or OmegaConf.select(cfg, "callbacks.early_stopping") is not None
    )
    if not ends:
        problems.append(
            "trainer.max_epochs=-1 (no epoch limit) with nothing else to end the run: set a number of "
            "epochs, or trainer.max_steps, trainer.max_time, or keep callbacks.early_stopping"
        )
    if "cosine" in (OmegaConf.select(cfg, "model.schedulers") or {}):
        problems.append(
            "trainer.max_epochs=-1 (no epoch limit) with model/schedulers=cosine, whose schedule spans "
            "trainer.max_epochs: set a number of epochs"
        )
    return problems


def check_settings(cfg: DictConfig, rules: Mapping[str, Rule]) -> None:
    """Raise one :class:`ConfigError` listing every setting of ``cfg`` that ``rules`` refuses (what
    it holds and what to use), before a command does any work."""
    problems = [
        problem
        for pattern, rule in rules.items()
        for setting, value in _values(cfg, pattern)
        if (problem := _problem(setting, value, rule))
    ]
    if "model" in cfg and not problems:  # a training config whose values are each valid
        problems = _training_problems(cfg)
    if len(problems) > 1:
        raise ConfigError(f"{len(problems)} bad settings:\n" + "\n".join(f"  - {p}" for p in problems))
    if problems:
        raise ConfigError(f"{problems[0]}.")

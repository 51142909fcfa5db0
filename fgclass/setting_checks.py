"""How the commands' numeric settings are checked, before any work is done.

A rule (:class:`Number`, :class:`Exactly`) says which values one setting accepts;
:func:`check_settings` applies a command's table of rules (:mod:`fgclass.settings`) to its composed
config and ends the command with one message listing every refused setting and what to use. A
setting missing from the config is skipped (``*`` matches any key or list index), and so is one
whose value is an interpolation: it is checked where its value comes from. A training config whose
values are each valid is then checked for settings wrong together (``trainer.max_epochs=-1`` with
nothing else to end the run, an lr range test that ends below its start).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from omegaconf import DictConfig, ListConfig, OmegaConf

from fgclass.errors import ConfigError


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

"""No file fgclass reads can run code: every load in the package is a safe one, read from its own
source with ``ast`` (as tests/test_layers.py reads the imports).

Unsafe: unpickling (``pickle``/``dill``/``cloudpickle``/``marshal``/``shelve``/``joblib.load``/
``pandas.read_pickle``), ``yaml.load`` without a safe loader (and ``yaml.unsafe_load``/``full_load``),
``torch.load``, timm's loaders, ``load_from_checkpoint`` and a Trainer's ``fit``/``validate``/
``test``/``predict`` from a ``ckpt_path`` without ``weights_only=True`` (older torch and Lightning
default to unpickling anything), ``numpy.load`` with ``allow_pickle``, a shell (``shell=True``,
``os.system``, ``os.popen``), and the built-in ``eval``/``exec``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fgclass"
UNPICKLERS = ("pickle.", "_pickle.", "dill.", "cloudpickle.", "marshal.", "shelve.")
UNPICKLING = {"load", "loads", "Unpickler", "open"}
ALWAYS_UNSAFE = {
    "joblib.load": "unpickles",
    "pandas.read_pickle": "unpickles",
    "yaml.unsafe_load": "runs code from YAML tags",
    "yaml.unsafe_load_all": "runs code from YAML tags",
    "yaml.full_load": "builds Python objects from YAML tags",
    "yaml.full_load_all": "builds Python objects from YAML tags",
    "os.system": "runs a shell",
    "os.popen": "runs a shell",
    "eval": "runs text as code",
    "exec": "runs text as code",
}
TRAINER_LOADS = {"fit", "validate", "test", "predict"}


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it imports (``np`` -> ``numpy``, ``load`` -> ``pickle.load``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                names[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _qualified(node: ast.expr, aliases: dict[str, str]) -> str:
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        return f"{_qualified(node.value, aliases)}.{node.attr}"
    return "?"


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_constant(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _why_unsafe(call: ast.Call, name: str) -> str | None:
    """Why the call of ``name`` (qualified) may run code from the data it reads; ``None`` if it cannot."""
    last = name.rsplit(".", 1)[-1]
    if name in ALWAYS_UNSAFE:
        return ALWAYS_UNSAFE[name]
    if name.startswith(UNPICKLERS) and last in UNPICKLING:
        return "unpickles"
    if name in ("yaml.load", "yaml.load_all"):
        loader = _keyword(call, "Loader") or (call.args[1] if len(call.args) > 1 else None)
        if loader is None or not _qualified(loader, {}).endswith(("SafeLoader", "CSafeLoader")):
            return "yaml.load without Loader=yaml.SafeLoader"
    weights_only = _is_constant(_keyword(call, "weights_only"), True)
    if name == "torch.load" and not weights_only:
        return "torch.load without weights_only=True"
    if name.startswith("timm.") and last in ("load_state_dict", "load_checkpoint") and not weights_only:
        return f"timm's {last} without weights_only=True"
    if last == "load_from_checkpoint" and not weights_only:
        return "load_from_checkpoint without weights_only=True"
    if last in TRAINER_LOADS and _keyword(call, "ckpt_path") is not None and not weights_only:
        return f"Trainer.{last}(ckpt_path=...) without weights_only=True"
    if (
        name == "numpy.load"
        and not _is_constant(_keyword(call, "allow_pickle"), False)
        and (_keyword(call, "allow_pickle") is not None)
    ):
        return "numpy.load with allow_pickle"
    shell = _keyword(call, "shell")
    if shell is not None and not _is_constant(shell, False):
        return "shell=True"
    return None


def unsafe_loads(source: str, filename: str) -> list[str]:
    """``file:line: call: why`` for every call in ``source`` that may run code from what it reads."""
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _qualified(node.func, aliases)
            why = _why_unsafe(node, name)
            if why:
                found.append((node.lineno, f"{filename}:{node.lineno}: {name}: {why}"))
    return [problem for _, problem in sorted(found)]


def test_the_package_loads_nothing_unsafely() -> None:
    found = [
        problem
        for path in sorted(PACKAGE.rglob("*.py"))
        for problem in unsafe_loads(path.read_text(), str(path.relative_to(PACKAGE.parent)))
    ]
    assert not found, "unsafe loads:\n" + "\n".join(found)


BAD = """\
import os, pickle, subprocess, yaml
import numpy as np
import torch
from pickle import loads
from timm.models import load_state_dict
from fgclass.models.classifier import Classifier
pickle.load(open("f", "rb"))
loads(b"")
yaml.load(text)
yaml.load(text, Loader=yaml.Loader)
yaml.unsafe_load(text)
torch.load("f")
torch.load("f", weights_only=False)
load_state_dict("f")
Classifier.load_from_checkpoint("f")
trainer.fit(model, ckpt_path="f")
np.load("f", allow_pickle=True)
subprocess.run("ls", shell=True)
os.system("ls")
eval("1")
exec("x = 1")
"""
GOOD = """\
import subprocess, yaml
import numpy as np
import torch
from timm.models import load_state_dict
yaml.load(text, Loader=yaml.SafeLoader)
yaml.safe_load(text)
torch.load("f", map_location="cpu", weights_only=True)
load_state_dict("f", weights_only=True)
Classifier.load_from_checkpoint("f", weights_only=True)
trainer.fit(model, ckpt_path="f", weights_only=True)
trainer.fit(model)
np.load("f")
np.load("f", allow_pickle=False)
subprocess.run(["ls"], shell=False)
model.eval()
"""


def test_the_check_finds_each_unsafe_load_and_passes_safe_ones() -> None:
    found = unsafe_loads(BAD, "bad.py")
    assert [int(problem.split(":")[1]) for problem in found] == list(range(7, 22)), "\n".join(found)
    assert "bad.py:12: torch.load: torch.load without weights_only=True" in found
    assert unsafe_loads(GOOD, "good.py") == []

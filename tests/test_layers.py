"""The shape of the package, read from its own imports: one direction between layers, no circle.

Layers, bottom to top (docs/architecture.md): leaf modules -> ``data/`` -> ``models/``,
``evaluation/`` -> ``finetune/``, ``inference/`` -> entry points and their plumbing. A module
imports from its own package and from lower layers only: not from a higher layer nor from the other
package of its own layer, not even in a function body or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fgclass"
LEAVES = ("errors", "files", "text", "run_files", "precision", "outputs", "metrics", "provenance")
LAYERS = (
    {"fgclass", *(f"fgclass.{leaf}" for leaf in LEAVES)},
    {"fgclass.data"},
    {"fgclass.models", "fgclass.evaluation"},
    {"fgclass.finetune", "fgclass.inference"},
)  # everything else (fgclass.train, fgclass.app, ...) is the top layer


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """``module -> modules it imports`` within the package at ``root`` (every import statement,
    wherever it stands); ``from pkg import name`` counts as importing ``pkg.name`` where that is a module."""
    modules = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}".rstrip(".")
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        graph[name] = {t for t in targets if t in modules}
    return graph


def layer_of(module: str) -> tuple[int, str]:
    """``(layer, unit)``: the unit is the package a module belongs to (its own module for the top)."""
    for level, units in enumerate(LAYERS):
        for unit in sorted(units, key=len, reverse=True):
            if module == unit or (unit != "fgclass" and module.startswith(unit + ".")):
                return level, unit
    return len(LAYERS), module


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that go up a layer, or sideways into the other package of the same layer."""
    found = []
    for module, targets in sorted(graph.items()):
        level, unit = layer_of(module)
        for target in sorted(targets):
            target_level, target_unit = layer_of(target)
            upward = target_level > level
            sideways = target_level == level < len(LAYERS) and target_unit != unit and level > 0
            if upward or sideways:
                found.append(f"{module} (layer {level}) imports {target} (layer {target_level})")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_flow_down_the_layers_without_a_circle() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 40 and graph["fgclass.train"]  # the walk found the package and its imports
    assert violations(graph) == []
    assert cycles(graph) == []


def test_the_checks_catch_an_upward_import_a_sideways_one_and_a_circle(tmp_path: Path) -> None:
    root = tmp_path / "fgclass"
    files = {
        "__init__.py": "",
        "text.py": "",
        "data/__init__.py": "",
        "data/scan.py": "def f():\n    from fgclass.models.backbones import create\n",  # deferred
        "models/__init__.py": "",
        "models/backbones.py": "from fgclass.models import heads\n",
        "models/heads.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from fgclass.models.backbones import create\n",
        "evaluation/__init__.py": "",
        "evaluation/plots.py": "from fgclass.models.heads import x\nfrom fgclass.text import y\n",
        "train.py": "from fgclass.evaluation import plots\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    graph = import_graph(root)
    assert graph["fgclass.train"] == {"fgclass.evaluation.plots"}
    assert violations(graph) == [
        "fgclass.data.scan (layer 1) imports fgclass.models.backbones (layer 2)",
        "fgclass.evaluation.plots (layer 2) imports fgclass.models.heads (layer 2)",
    ]
    assert cycles(graph) == [["fgclass.models.backbones", "fgclass.models.heads"]]


# (matplotlib is not among them: torchmetrics, and so Lightning, import it themselves)
@pytest.mark.parametrize(
    ("module", "absent"),
    [
        (
            "fgclass.models.classifier",
            ("pytorch_grad_cam", "cv2", "albumentations", "fgclass.data", "fgclass.evaluation"),
        ),
        ("fgclass.data", ("pytorch_grad_cam", "fgclass.models", "fgclass.evaluation")),
        ("fgclass.config", ("torch", "lightning", "fgclass.models", "fgclass.data")),
    ],
)
def test_importing_a_layer_loads_nothing_above_it(module: str, absent: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = [m for m in loaded.stdout.split() if m.startswith(absent)]
    assert heavy == []

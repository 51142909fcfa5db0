"""Text shared by messages and reports: truncated lists, counts, Markdown tables, safe names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

LISTED = 20  # items shown before "... and N more"


def listing(items: Sequence[str], limit: int = LISTED, indent: str = "  ") -> str:
    """One ``- item`` line per item, the first ``limit`` of them, then ``... and N more``."""
    lines = [f"{indent}- {item}" for item in items[:limit]]
    if len(items) > limit:
        lines.append(f"{indent}... and {len(items) - limit} more")
    return "\n".join(lines)


def counted(n: int, noun: str) -> str:
    """``1 image``, ``2 images``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], align: Sequence[str] | None = None
) -> list[str]:
    """The lines of a Markdown table; ``align`` holds ``"left"``/``"right"`` per column."""
    rule = {"left": "---", "right": "---:"}
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join(rule[a] for a in (align or ["left"] * len(header))) + "|")
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def slug(text: str) -> str:
    """A folder-name-safe version of ``text`` that is also a valid unquoted Hydra value, so a path
    with it can be pasted into ``ckpt_path=...`` as it is (no ``=``, ``,``, spaces or quotes)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", str(text)).strip("-") or "default"

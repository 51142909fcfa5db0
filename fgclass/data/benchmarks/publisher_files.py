"""Reading the files the benchmark publishers ship, with one clear message for each way they can be
missing, truncated or garbled: id-keyed text tables, MATLAB ``.mat`` files (``scipy.io.loadmat``)
and the images they list."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import scipy.io

from fgclass.errors import DataError
from fgclass.text import listing

REEXTRACT = "Restore it from the dataset's archive (unpacked as the publisher ships it)."


def dataset_base(root: str | Path, folder: str, marker: str, name: str) -> Path:
    """The dataset's own folder: ``root/folder`` (the archive unpacked into ``root``) or ``root``
    itself, whichever holds ``marker``."""
    root = Path(root).expanduser()
    for base in (root / folder, root):
        if (base / marker).exists():
            return base
    raise DataError(
        f"{name}: neither '{root / folder / marker}' nor '{root / marker}' exists. Point data.root at "
        f"the folder the archive unpacks to ({folder}/) or the folder that holds it."
    )


BOXES_FIX = "data.crop=bbox reads it: restore it from the dataset's archive, or set data.crop=none."


def require_file(path: Path, what: str, fix: str = REEXTRACT) -> Path:
    """``path``, or a :class:`DataError` saying it should hold ``what`` and how to ``fix`` that."""
    if not path.is_file():
        raise DataError(f"'{path}' not found: it should hold {what}. {fix}")
    return path


def read_rows(path: Path, fields: int, what: str) -> list[list[str]]:
    """The non-blank lines of a space-separated text table, split into ``fields`` fields each (the
    last takes the rest of the line: names may hold spaces); ``what`` describes one line."""
    require_file(path, f"one line per entry ({what})")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a text file ({exc.reason}). {REEXTRACT}") from None
    rows, bad = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=fields - 1)
        if len(parts) < fields:
            bad.append(f"line {number}: '{line.strip()}'")
        rows.append(parts)
    if bad:
        raise DataError(
            f"{path}: every line should read '{what}'; these do not:\n{listing(bad)}\n{REEXTRACT}"
        )
    if not rows:
        raise DataError(f"{path} is empty; it should list '{what}' lines. {REEXTRACT}")
    return rows


def read_id_map(path: Path, what: str) -> dict[str, str]:
    """A two-column ``<id> <value>`` table as a dict, refusing an id listed twice."""
    table: dict[str, str] = {}
    repeated = []
    for key, value in read_rows(path, 2, what):
        if key in table:
            repeated.append(key)
        table[key] = value.strip()
    if repeated:
        raise DataError(f"{path}: these ids are listed more than once:\n{listing(repeated)}\n{REEXTRACT}")
    return table


def check_same_ids(
    reference: Collection[str], ref_path: Path, other: Collection[str], other_path: Path
) -> None:
    """Every id of ``ref_path`` has a line in ``other_path`` and the other way round."""
    for ids, listed_in, target, absent_from in (
        (reference, ref_path, other, other_path),
        (other, other_path, reference, ref_path),
    ):
        missing = [i for i in ids if i not in target]
        if missing:
            raise DataError(
                f"{absent_from} has no line for {len(missing)} ids listed in {listed_in} (truncated, or "
                f"from another copy of the dataset?):\n{listing(missing)}\n{REEXTRACT}"
            )


def check_values(table: Mapping[str, str], allowed: Collection[str], path: Path, what: str) -> None:
    """Every value of ``table`` (read from ``path``) is one of ``allowed``."""
    bad = [f"id {key}: '{value}'" for key, value in table.items() if value not in allowed]
    if bad:
        raise DataError(f"{path}: {what}; these lines are not:\n{listing(bad)}\n{REEXTRACT}")


def check_images_exist(root: Path, paths: Sequence[str], source: Path) -> None:
    """Every image that ``source`` lists (``root / path``) is on disk: never a silently smaller dataset."""
    missing = [p for p in paths if not (root / p).is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} images listed in {source} are missing under '{root}':\n{listing(missing)}\n"
            "Restore them from the dataset's archive."
        )


def load_mat(path: Path, variables: Sequence[str], what: str) -> dict[str, np.ndarray]:
    """The ``variables`` of a MATLAB file, read by :func:`scipy.io.loadmat` (``squeeze_me``)."""
    require_file(path, what)
    try:
        data = scipy.io.loadmat(path, squeeze_me=True)
    except Exception as exc:  # scipy raises several types for files that are not .mat files
        raise DataError(
            f"{path} is not a readable MATLAB file ({type(exc).__name__}: {exc}). {REEXTRACT}"
        ) from None
    missing = [v for v in variables if v not in data]
    if missing:
        found = sorted(k for k in data if not k.startswith("__"))
        raise DataError(
            f"{path} has no variable {', '.join(missing)} (it holds {', '.join(found) or 'none'}); it should "
            f"hold {what}. {REEXTRACT}"
        )
    return {v: data[v] for v in variables}


def mat_vector(
    path: Path, data: Mapping[str, np.ndarray], variable: str, length: int | None = None
) -> np.ndarray:
    """``data[variable]`` as a 1-D array of positive integers (MATLAB's 1-based indices or labels),
    of ``length`` entries where given."""
    values = np.atleast_1d(np.asarray(data[variable]))
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.number) or (length and len(values) != length):
        expected = f"{length} numbers" if length else "a vector of numbers"
        raise DataError(f"{path}: '{variable}' has shape {values.shape}, expected {expected}. {REEXTRACT}")
    if len(values) and (values.min() < 1 or (values != np.round(values)).any()):
        raise DataError(f"{path}: '{variable}' holds values that are not 1-based indices. {REEXTRACT}")
    return values.astype(np.int64)


def numbered(number: int, name: str, width: int = 3) -> str:
    """``NNN.name``: a class name that sorts in the publisher's order (as CUB names its classes)."""
    return f"{number:0{width}d}.{name}"

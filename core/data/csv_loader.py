"""The user's own data: a CSV file with a header row, numeric cells, one target column.

Every problem is reported where the input enters, as one DataError line naming the key to
fix and the file (and, for a bad cell, its line and column), so a scenario author can fix
the file without reading a traceback. Only the columns in use are parsed: text columns that
are not selected do no harm.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..config import DataConfig, did_you_mean
from .records import DataError, Table

MAX_CLASSES_AUTO = 10   # task = auto: an integer target with at most this many values is a class label
MAX_TARGET = 1e6        # regression: the MSE of targets past this size overflows before it trains


def _resolve(path: str, base_dir: Path | None) -> Path:
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() or base_dir is None else Path(base_dir) / resolved


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank data rows, each with its line number in the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("data.path", f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise DataError("data.path", f"{path}: not a UTF-8 text file") from None
    except OSError as error:
        raise DataError("data.path", f"{path}: cannot read it ({error.strerror})") from None
    reader = csv.reader(io.StringIO(text))
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError("data.path", f"{path}: the file is empty")
    header = [name.strip() for name in rows[0][1]]
    for separator, name in ((";", "semicolons"), ("\t", "tabs")):
        if len(header) == 1 and separator in header[0]:
            raise DataError("data.path", f"{path}: the header is one column, {header[0]!r}: nnsim reads "
                                         f"comma-separated files and this one looks separated by {name}")
    for i, name in enumerate(header):
        if name in header[:i]:
            raise DataError("data.path", f"{path}: the header names column '{name}' twice (columns "
                                         f"{header.index(name) + 1} and {i + 1}); column names must be unique")
    if len(rows) == 1:
        raise DataError("data.path", f"{path}: no data rows below the header")
    return header, rows[1:]


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file (``DataError`` if it cannot be read as one)."""
    return _read_rows(path)[0]


def _column(header: list[str], name: str, key: str, path: Path) -> int:
    if name in header:
        return header.index(name)
    hint = did_you_mean(name, header)
    raise DataError(key, f"{path}: no column '{name}'{hint}; columns: {', '.join(header)}")


def _parse(rows: list[tuple[int, list[str]]], header: list[str], columns: list[int],
           path: Path) -> tuple[np.ndarray, tuple[int, str] | None]:
    """(n, len(columns)) values, empty cells as NaN; and where the first empty cell is."""
    values = np.empty((len(rows), len(columns)))
    first_empty = None
    for i, (line, row) in enumerate(rows):
        if len(row) != len(header):
            raise DataError("data.path", f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
        for j, column in enumerate(columns):
            cell = row[column].strip()
            if not cell:
                values[i, j] = np.nan
                first_empty = first_empty or (line, header[column])
                continue
            try:
                values[i, j] = float(cell)
            except ValueError:
                values[i, j] = np.nan
            if not np.isfinite(values[i, j]):
                raise DataError("data.path", f"{path}: line {line}, column '{header[column]}': "
                                             f"{cell!r} is not a number (leave a missing value empty)")
    return values, first_empty


def _classes(target: np.ndarray, cfg: DataConfig, path: Path) -> tuple[str, np.ndarray, int, tuple[str, ...]]:
    """The task, the target encoded for it (class index or value), n_outputs, and a note
    when ``task = "auto"`` made a choice the author may not expect."""
    known = target[~np.isnan(target)]
    if known.size == 0:
        raise DataError("data.target_column", f"{path}: target column '{cfg.target_column}' has no values")
    distinct = np.unique(known)
    task, notes = cfg.task, ()
    if task == "auto":
        whole = bool(np.all(distinct == np.round(distinct)))
        is_label = len(distinct) <= MAX_CLASSES_AUTO and whole
        task = ("binary" if len(distinct) == 2 else "multiclass") if is_label else "regression"
        if whole and not is_label:
            notes = (f"data.task = auto: target '{cfg.target_column}' has {len(distinct)} distinct whole "
                     f"numbers, more than the {MAX_CLASSES_AUTO} auto takes for classes, so this is a "
                     'regression; set data.task = "multiclass" to classify',)
    if task == "regression":
        largest = float(np.max(np.abs(known)))
        if largest > MAX_TARGET:
            raise DataError("data.target_column", f"{path}: target column '{cfg.target_column}' reaches "
                                                  f"{largest:.3g}; a regression target must stay within "
                                                  f"±{MAX_TARGET:g} for its squared error to train: rescale "
                                                  "the column (e.g. to thousands or millions)")
        return task, target, 1, notes
    if len(distinct) < 2:
        raise DataError("data.target_column", f"{path}: target column '{cfg.target_column}' has a single "
                                              f"class ({distinct[0]:g}); a classifier needs at least two")
    if task == "binary" and len(distinct) != 2:
        raise DataError("data.task", f"{path}: binary needs 2 target values, column '{cfg.target_column}' "
                                     f"has {len(distinct)}")
    index = np.where(np.isnan(target), np.nan, np.searchsorted(distinct, target))
    return task, index, 1 if task == "binary" else len(distinct), notes


def load_csv(cfg: DataConfig, base_dir: Path | None) -> Table:
    """The file at ``cfg.path`` as a Table (features = ``feature_columns``, or all but the target)."""
    path = _resolve(cfg.path, base_dir)
    header, rows = _read_rows(path)
    target_column = _column(header, cfg.target_column, "data.target_column", path)
    if cfg.target_column in cfg.feature_columns:
        raise DataError("data.feature_columns", f"{path}: the target '{cfg.target_column}' cannot also be a feature")
    names = list(cfg.feature_columns) or [name for name in header if name != cfg.target_column]
    if not names:
        raise DataError("data.feature_columns", f"{path}: no feature columns besides the target")
    columns = [_column(header, name, "data.feature_columns", path) for name in names]
    values, first_empty = _parse(rows, header, columns + [target_column], path)
    if first_empty and cfg.clean == "none":
        count = int(np.isnan(values).sum())
        raise DataError("data.clean", f"{path}: {count} empty cells (first at line {first_empty[0]}, column "
                                      f"'{first_empty[1]}'); set data.clean to drop or repair")
    task, target, n_outputs, notes = _classes(values[:, -1], cfg, path)
    return Table(np.ascontiguousarray(values[:, :-1]), target, tuple(names), cfg.target_column,
                 task, n_outputs, (), notes)

"""The user's own data: a CSV file with a header row, numeric cells, one target column.

Every problem is reported where the input enters, as one DataError line naming the key to
fix and the file (and, for a bad cell, its line and column), so a scenario author can fix
the file without reading a traceback. Only the columns in use are parsed: text columns that
are not selected do no harm.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import stat
from array import array
from pathlib import Path
from typing import Iterator

import numpy as np

from ..config import MAX_POINTS, DataConfig, did_you_mean
from .records import DataError, Table

MAX_CLASSES_AUTO = 10   # task = auto: an integer target with at most this many values is a class label
MAX_TARGET = 1e6        # regression: the MSE of targets past this size overflows before it trains
MAX_CSV_ROWS = MAX_POINTS           # data rows, as data.n_points bounds a generated set
MAX_CSV_BYTES = 100_000_000         # 1,000,000 rows of a dozen columns; read in ~10 s
MAX_HEADER_BYTES = 2**20            # what csv_header reads of a file, at most


def _resolve(path: str, base_dir: Path | None) -> Path:
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() or base_dir is None else Path(base_dir) / resolved


def _check_file(path: Path) -> int:
    """The size of the file at ``path``; a DataError unless it is a regular file nnsim reads
    (a device or a pipe would be read for ever, a file past MAX_CSV_BYTES for minutes)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError("data.path", f"{path}: file not found") from None
    except OSError as error:
        raise DataError("data.path", f"{path}: cannot read it ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError("data.path", f"{path}: a directory, not a CSV file")
    if not stat.S_ISREG(info.st_mode):
        raise DataError("data.path", f"{path}: not a regular file (a device, pipe or socket)")
    if info.st_size > MAX_CSV_BYTES:
        raise DataError("data.path", f"{path}: {info.st_size / 1e6:,.0f} MB; nnsim reads CSV files of "
                                     f"at most {MAX_CSV_BYTES / 1e6:,.0f} MB ({MAX_CSV_ROWS:,} rows)")
    return info.st_size


def _records(file, path: Path) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records of an open CSV file, each with the line it starts on. A record the
    csv module cannot read (a field past its limit: one stray quote makes the rest of the file
    one field) or text that is not UTF-8 ends in one DataError naming the line."""
    reader = csv.reader(file)
    line = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield line, row
            line = reader.line_num + 1
    except csv.Error as error:
        problem = (f"a field longer than {csv.field_size_limit():,} characters (an unclosed quote?)"
                   if "field limit" in str(error) else str(error))
        raise DataError("data.path", f"{path}: the record from line {line}: {problem}") from None
    except UnicodeDecodeError:
        raise DataError("data.path", f"{path}: not a UTF-8 text file (near line {line})") from None


def _header(first: tuple[int, list[str]] | None, path: Path) -> list[str]:
    """The column names from the first record, checked."""
    if first is None:
        raise DataError("data.path", f"{path}: the file is empty")
    header = [name.strip() for name in first[1]]
    for separator, name in ((";", "semicolons"), ("\t", "tabs")):
        if len(header) == 1 and separator in header[0]:
            raise DataError("data.path", f"{path}: the header is one column, {header[0]!r}: nnsim reads "
                                         f"comma-separated files and this one looks separated by {name}")
    for i, name in enumerate(header):
        if name in header[:i]:
            raise DataError("data.path", f"{path}: the header names column '{name}' twice (columns "
                                         f"{header.index(name) + 1} and {i + 1}); column names must be unique")
    return header


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file, reading at most MAX_HEADER_BYTES of it: the dashboard's
    file picker asks for them, and whatever file it is given must cost no more than that.
    ``DataError`` (a ConfigError) for every file that cannot be read as a CSV file."""
    size = _check_file(path)
    try:
        with path.open("rb") as file:
            head = file.read(MAX_HEADER_BYTES)
    except OSError as error:
        raise DataError("data.path", f"{path}: cannot read it ({error.strerror})") from None
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head)   # a cut last character waits
    except UnicodeDecodeError:
        raise DataError("data.path", f"{path}: not a UTF-8 text file") from None
    cut = size > len(head)
    if cut:
        text = text[:text.rfind("\n") + 1]      # whole lines only
    records = _records(io.StringIO(text, newline=""), path)
    header = _header(next(records, None), path)
    if sum(1 for _ in records) == 0:        # every record read is checked: the picker says it now
        if cut:
            raise DataError("data.path", f"{path}: no header row ends in the first "
                                         f"{MAX_HEADER_BYTES // 2**20} MiB (an unclosed quote?)")
        raise DataError("data.path", f"{path}: no data rows below the header")
    return header


def _column(header: list[str], name: str, key: str, path: Path) -> int:
    if name in header:
        return header.index(name)
    hint = did_you_mean(name, header)
    raise DataError(key, f"{path}: no column '{name}'{hint}; columns: {', '.join(header)}")


def _parse(records: Iterator[tuple[int, list[str]]], header: list[str], columns: list[int],
           path: Path) -> tuple[np.ndarray, tuple[int, str] | None]:
    """(n, len(columns)) values of the records still to come, empty cells as NaN; and where the
    first empty cell is. Read record by record into one flat buffer of float64 (8 bytes a
    value), never as a list of rows of strings (about 20 times the file's size)."""
    values = array("d")
    first_empty = None
    n_rows = 0
    for line, row in records:
        n_rows += 1
        if n_rows > MAX_CSV_ROWS:
            raise DataError("data.path", f"{path}: more than {MAX_CSV_ROWS:,} data rows; nnsim reads "
                                         f"at most that many (as data.n_points for generated sets)")
        if len(row) != len(header):
            raise DataError("data.path", f"{path}: line {line} has {len(row)} fields, the header has {len(header)}")
        for column in columns:
            cell = row[column].strip()
            if not cell:
                values.append(math.nan)
                first_empty = first_empty or (line, header[column])
                continue
            try:
                value = float(cell)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise DataError("data.path", f"{path}: line {line}, column '{header[column]}': "
                                             f"{cell[:40]!r} is not a number (leave a missing value empty)")
            values.append(value)
    if n_rows == 0:
        raise DataError("data.path", f"{path}: no data rows below the header")
    return np.frombuffer(values, dtype=np.float64).reshape(n_rows, len(columns)), first_empty


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


def file_bytes(cfg: DataConfig, base_dir: Path | None) -> int:
    """The size of the file ``cfg`` reads: 0 for generated data, or a file that cannot be
    sized (``load_csv`` then says why in its own words)."""
    if cfg.kind != "csv":
        return 0
    try:
        return _resolve(cfg.path, base_dir).stat().st_size
    except OSError:
        return 0


def load_csv(cfg: DataConfig, base_dir: Path | None) -> Table:
    """The file at ``cfg.path`` as a Table (features = ``feature_columns``, or all but the target)."""
    path = _resolve(cfg.path, base_dir)
    _check_file(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            return _table(cfg, _records(file, path), path)
    except OSError as error:
        raise DataError("data.path", f"{path}: cannot read it ({error.strerror})") from None


def _table(cfg: DataConfig, records: Iterator[tuple[int, list[str]]], path: Path) -> Table:
    """The Table of an open file's records: the header first, then only the columns in use."""
    header = _header(next(records, None), path)
    target_column = _column(header, cfg.target_column, "data.target_column", path)
    if cfg.target_column in cfg.feature_columns:
        raise DataError("data.feature_columns", f"{path}: the target '{cfg.target_column}' cannot also be a feature")
    names = list(cfg.feature_columns) or [name for name in header if name != cfg.target_column]
    if not names:
        raise DataError("data.feature_columns", f"{path}: no feature columns besides the target")
    columns = [_column(header, name, "data.feature_columns", path) for name in names]
    values, first_empty = _parse(records, header, columns + [target_column], path)
    if first_empty and cfg.clean == "none":
        count = int(np.isnan(values).sum())
        raise DataError("data.clean", f"{path}: {count} empty cells (first at line {first_empty[0]}, column "
                                      f"'{first_empty[1]}'); set data.clean to drop or repair")
    task, target, n_outputs, notes = _classes(values[:, -1], cfg, path)
    return Table(np.ascontiguousarray(values[:, :-1]), target, tuple(names), cfg.target_column,
                 task, n_outputs, (), notes)

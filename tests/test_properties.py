"""Hostile input found by search: mutated lessons, random ``--set`` values and random CSV files.

Whatever the input, ``nnsim run`` either runs (exit 0 or 1) or refuses it with exit 2 and one
line; it never ends in a traceback or hangs. The runs are kept tiny (a few steps, a small
network) by overrides given after the random ones, so each example takes milliseconds; the
default suite tries a few dozen fixed examples, the slow sweep (``pytest -m slow``) hundreds
of random ones.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from nnsim.__main__ import main
from nnsim.core.config import ACTIVATIONS, DATA_KINDS, INITS, LOSSES, OPTIMIZERS, SCHEDULES, TABLES
from nnsim.core.scenario import builtin_names, resolve

LESSONS = builtin_names()
KEYS = [f"{table}.{f.name}" for table, cls in TABLES.items() for f in fields(cls)]
# Given after the random overrides, so they win: every example trains for a moment only.
TINY = ["--set", "train.steps=12", "--set", "train.eval_every=5", "--set", "model.layers=[3]",
        "--set", "data.n_points=40"]

# Derandomized: CI must not fail on an example nobody has seen before it lands (it did, once,
# and rightly: an event's variant given as a list). To explore, drop derandomize and run
# `pytest -m slow tests/test_properties.py` in a loop.
FEW = settings(max_examples=25, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


# --- writing TOML ---------------------------------------------------------------------------

def toml_text(value) -> str:
    """A TOML value on one line (tables inline), for any value tomllib can give back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_text(k)} = {toml_text(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict) -> str:
    return "".join(f"{toml_text(key)} = {toml_text(value)}\n" for key, value in doc.items())


# --- what every outcome must look like ------------------------------------------------------

def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def assert_runs_or_refuses_in_one_line(argv: list[str]) -> None:
    status, out, err = run_cli(argv)
    assert "Traceback" not in out + err
    if status == 2:
        assert err.count("\n") == 1 and err.strip(), err
    else:
        assert status in (0, 1), (status, err)
        assert "expectations hold" in out


# --- mutated lessons ------------------------------------------------------------------------

def paths(value, prefix=()):
    """Every path into a parsed document: (key or index, ...)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield prefix + (key,)
        yield from paths(child, prefix + (key,))


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


SCALARS = st.one_of(
    st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(),
    st.text(max_size=12), st.sampled_from(["sgd", "relu", "csv", "digits", "xavier", "zscore"]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4),
                   st.lists(st.integers(-2, 40), max_size=4),
                   st.dictionaries(st.sampled_from(KEYS + ["lr", "x"]), SCALARS, max_size=2))
RAW_SET_VALUES = st.one_of(
    st.integers().map(str), st.floats().map(repr), st.text(max_size=10),
    st.sampled_from(["[1,2]", "[]", "[[", "true", '"x"', "1e-400", "1e400", "{a=1}", "nan",
                     "-inf", "[0]", "adam", "csv", "0x10", "1_000"]),
)


WORDS = [*ACTIVATIONS, *DATA_KINDS, *INITS, *LOSSES, *OPTIMIZERS, *SCHEDULES, "none", "drop",
         "repair", "minmax", "zscore", "binary", "multiclass", "regression", "subgradient"]


def near(value):
    """Values of the same type as ``value``, in or just past its range: mutations that often run."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-1, 2 * abs(value) + 2)
    if isinstance(value, float) and math.isfinite(value):
        return st.floats(-0.1, 2 * abs(value) + 1)
    if isinstance(value, str):
        return st.sampled_from(WORDS)
    if isinstance(value, list) and value and not isinstance(value[0], dict):
        return st.lists(near(value[0]), max_size=len(value) + 1)
    return VALUES


@st.composite
def mutated_lesson(draw):
    name = draw(st.sampled_from(LESSONS))
    doc = tomllib.loads(resolve(name).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(0, 3))):
        every = list(paths(doc))
        kind = draw(st.sampled_from(["drop", "change", "unknown"]))
        if kind == "unknown" or not every:
            tables = [()] + [p for p in every if isinstance(_get(doc, p), dict)]
            where = _get(doc, draw(st.sampled_from(tables)))
            where[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
            continue
        path = draw(st.sampled_from(every))
        parent = _get(doc, path[:-1])
        if kind == "drop":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(near(parent[path[-1]]) | VALUES)
    overrides = draw(st.lists(st.tuples(st.sampled_from(KEYS) | st.text(max_size=8), RAW_SET_VALUES),
                              max_size=2))
    return name, doc, [f"--set={key}={value}" for key, value in overrides]


def check_mutated_lesson(case) -> None:
    name, doc, overrides = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.toml"
        path.write_text(toml_document(doc), encoding="utf-8")
        assert_runs_or_refuses_in_one_line(["run", str(path), "--quiet", *overrides, *TINY])


@FEW
@given(mutated_lesson())
def test_a_mutated_lesson_runs_or_is_refused_in_one_line(case):
    check_mutated_lesson(case)


@pytest.mark.slow
@MANY
@given(mutated_lesson())
def test_many_mutated_lessons_run_or_are_refused_in_one_line(case):
    check_mutated_lesson(case)


# --- random CSV files -----------------------------------------------------------------------

NUMBERS = st.one_of(st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.4g}"),
                    st.integers(-3, 3).map(str))
CELLS = st.one_of(
    NUMBERS,
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "abc", '"1,5"', '"a ""q"""', "1e999",
                     "1;2", "\t7", "0x1", "1_0", "∞"]),
)


@st.composite
def csv_lesson(draw):
    rarely = st.integers(0, 4).map(lambda n: n == 4)     # Hypothesis leans to 0: 4 is rare
    width = 1 if draw(rarely) else draw(st.integers(2, 4))
    header = draw(st.permutations(["a", "b", "y", "label", "é", '"x,y"']))[:width]
    if draw(rarely):
        header.append(draw(st.sampled_from(header)) + draw(st.sampled_from(["", " "])))
    n_rows = 0 if draw(rarely) else draw(st.integers(1, 30))
    ragged = draw(rarely)
    cells = CELLS if draw(rarely) else NUMBERS      # text, blanks, NaN, quoted separators
    rows = []
    for _ in range(n_rows):
        width = draw(st.integers(1, len(header) + 1)) if ragged else len(header)
        rows.append(",".join(draw(cells) for _ in range(width)))
    if draw(rarely):                        # one class, or zero variance
        rows = rows[:1] * n_rows
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    text = bom + newline.join([",".join(header)] + rows) + newline
    data = {
        "kind": "csv", "path": "data.csv",
        "target_column": draw(st.sampled_from([h.strip().strip('"') for h in header] + ["z"])),
        "clean": draw(st.sampled_from(["none", "drop", "repair"])),
        "task": draw(st.sampled_from(["auto", "binary", "multiclass", "regression"])),
        "normalize": draw(st.sampled_from(["none", "minmax", "zscore"])),
    }
    return text, data


def check_csv_lesson(case) -> None:
    text, data = case
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "data.csv").write_text(text, encoding="utf-8", newline="")
        path = Path(folder) / "lesson.toml"
        path.write_text(toml_document({"title": "random data", "data": data}), encoding="utf-8")
        assert_runs_or_refuses_in_one_line(["run", str(path), "--quiet", *TINY])


@FEW
@given(csv_lesson())
def test_a_random_csv_runs_or_is_refused_in_one_line(case):
    check_csv_lesson(case)


@pytest.mark.slow
@MANY
@given(csv_lesson())
def test_many_random_csvs_run_or_are_refused_in_one_line(case):
    check_csv_lesson(case)

"""Shared test helpers. ``import reference`` (tests/reference.py) works because pytest puts
this folder on sys.path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest


def _assert_identical(a, b, where: str = "value") -> None:
    """Bit-for-bit equality of snapshots, histories, arrays and numbers (NaN equals NaN only
    with the same bits)."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            _assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (np.ndarray, float)):
        a, b = np.asarray(a), np.asarray(b)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        assert a.tobytes() == b.tobytes(), f"{where} differs"
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture
def assert_identical():
    """``assert_identical(a, b)``: every field of two snapshots (or arrays) equal bit for bit."""
    return _assert_identical

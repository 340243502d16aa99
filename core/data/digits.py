"""The real 8x8 handwritten digits: 1797 images, 64 pixel intensities 0..16, 10 classes.

Data: UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak), as bundled by
scikit-learn (BSD-3-Clause), stored here as digits.csv.gz: each row 64 pixels then the label.
Read from the installed package, so no scikit-learn and no download.
"""

from __future__ import annotations

import functools
import gzip
import io
from importlib import resources

import numpy as np

from .records import Table

SIDE = 8
N_CLASSES = 10
FEATURES = tuple(f"pixel_{row}_{col}" for row in range(SIDE) for col in range(SIDE))


@functools.cache
def _read() -> np.ndarray:
    """The parsed file (1797, 65), read once per process: every run construction needs it."""
    raw = gzip.decompress(resources.files(__package__).joinpath("digits.csv.gz").read_bytes())
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.float64)
    table.flags.writeable = False
    return table


def load_digits() -> Table:
    """All 1797 images as a multiclass Table (the split happens later, seeded)."""
    table = _read()
    return Table(np.ascontiguousarray(table[:, :-1]), table[:, -1].copy(), FEATURES, "digit",
                 "multiclass", N_CLASSES, None)

"""What every loader hands on: raw records, the rules that say which are valid, and DataError.

Generators and file loaders all produce a ``Table``; splitting, cleaning and normalisation
then treat every source the same way, so a rule is stated once and applies everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import ConfigError


class DataError(ConfigError):
    """The data cannot be built (bad file, column or value); ``key`` is the ``data.*`` key to fix."""


@dataclass(frozen=True)
class Rule:
    """A valid range for one column: a value outside ``[low, high]`` makes its record bad."""

    column: str
    low: float
    high: float


@dataclass(frozen=True, eq=False)
class Table:
    """All records of a data set before splitting.

    ``x`` holds the raw inputs (for the 2-D sets: the plane coordinates, before derived
    features); ``y`` the target, a class index for binary/multiclass, a value for regression.
    ``rules`` is None for sets that are clean by construction (nothing to check); otherwise
    the range rules beyond the always-checked missing values.
    """

    x: np.ndarray                   # (n, n_columns) float64
    y: np.ndarray                   # (n,) float64
    feature_names: tuple[str, ...]
    target_name: str
    task: str                       # binary | multiclass | regression
    n_outputs: int                  # 1, or the number of classes for multiclass
    rules: tuple[Rule, ...] | None = None
    notes: tuple[str, ...] = ()     # choices made for the author, to be told (see csv_loader)

"""Splitting, normalisation and target encoding: the steps every data set goes through.

The split is a seeded permutation, so a seed always gives the same train/val/test rows.
Normalisation is fitted on the training split only and applied to all three: statistics
taken from validation or test data would leak into training and flatter the test error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .records import DataError


def training_rows(n: int, fractions: tuple[float, ...]) -> int:
    """How many of ``n`` records the training split gets."""
    return round(n * fractions[0])


def split_rows(n: int, fractions: tuple[float, ...],
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint row indices (train, val, test) covering range(n), sized round(n * fraction)."""
    order = rng.permutation(n)
    n_train = training_rows(n, fractions)
    n_val = min(round(n * fractions[1]), n - n_train)
    if n_train < 1 or n_val < 1:
        raise DataError("data.split", f"{n} records are too few for a split of {list(fractions)}")
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


@dataclass(frozen=True, eq=False)
class Scaling:
    """The fitted input normalisation x -> (x - shift) / scale (identity for ``none``)."""

    shift: np.ndarray   # (n_features,)
    scale: np.ndarray   # (n_features,), never 0

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((x - self.shift) / self.scale, dtype=np.float64)


def fit_scaling(x_train: np.ndarray, method: str) -> Scaling:
    """Fit ``none | minmax | zscore`` on the training inputs; a constant column maps to 0."""
    n_features = x_train.shape[1]
    if method == "minmax":
        shift, spread = x_train.min(axis=0), np.ptp(x_train, axis=0)
    elif method == "zscore":
        shift, spread = x_train.mean(axis=0), x_train.std(axis=0)
    else:
        return Scaling(np.zeros(n_features), np.ones(n_features))
    return Scaling(shift, np.where(spread > 0, spread, 1.0))


def encode_targets(y: np.ndarray, task: str, n_outputs: int) -> np.ndarray:
    """(n, n_outputs) targets: one-hot rows for multiclass, a single column otherwise."""
    if task == "multiclass":
        return np.eye(n_outputs)[y.astype(np.intp)]
    return np.ascontiguousarray(y, dtype=np.float64).reshape(-1, 1)

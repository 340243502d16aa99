"""The finished data a run trains on: three splits ready for the network, and for 2-D sets
the plane they came from so the decision boundary can be drawn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import DataConfig
from .cleaning import CleaningReport
from .prepare import Scaling, training_rows
from .synthetic import MULTI_CLASS, REGRESSION, TWO_CLASS, derive_features


@dataclass(frozen=True, eq=False)
class Plane:
    """The raw 2-D plane of a generated set, and how a point of it becomes a network input."""

    extent: tuple[float, float, float, float]   # x1_min, x1_max, x2_min, x2_max (points + margin)
    points_train: np.ndarray                    # (n_train, 2) raw coordinates
    labels_train: np.ndarray                    # (n_train,) class index (int64) or target value
    points_val: np.ndarray                      # (n_val, 2), the validation split's points
    labels_val: np.ndarray
    features: tuple[str, ...]
    scaling: Scaling

    def featurize(self, points: np.ndarray) -> np.ndarray:
        """(m, 2) raw points -> (m, n_features) inputs: derived features, then the fitted scaling."""
        return self.scaling.apply(derive_features(np.asarray(points, dtype=np.float64), self.features))


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train, validation and test splits: x (n, n_features), y (n, n_outputs), float64, C-contiguous.

    y is 0/1 for binary, one-hot for multiclass, the value for regression (never normalised).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str                       # binary | multiclass | regression
    n_outputs: int
    feature_names: tuple[str, ...]
    target_name: str
    cleaning: CleaningReport | None = None
    plane: Plane | None = None
    notes: tuple[str, ...] = ()     # what the loader chose and why, for the user to read


# What the configuration alone says of the data, for checks made when a scenario is loaded,
# before any data is generated or read.

def task_before_loading(cfg: DataConfig) -> str | None:
    """The task the data will have; None when only the data can say (a CSV file, task = auto)."""
    if cfg.kind in REGRESSION or cfg.kind == "houses":
        return "regression"
    if cfg.kind in MULTI_CLASS or cfg.kind == "digits":
        return "multiclass"
    if cfg.kind in TWO_CLASS:
        return "binary"
    return None if cfg.task == "auto" else cfg.task


def training_rows_before_loading(cfg: DataConfig) -> int | None:
    """The training split's records; None when the data decides (a file, records cleaned away)."""
    if cfg.kind in (*TWO_CLASS, *MULTI_CLASS, *REGRESSION):
        return training_rows(cfg.n_points, cfg.split)
    return None

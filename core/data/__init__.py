"""Data for a run: generate or load, split, clean, normalise.

``build_dataset`` is the one entry point. The path is one-directional:
source (generator or file) -> seeded train/val/test split -> (houses) bad records injected
into train and validation only -> cleaning by rules -> derived 2-D features -> normalisation
fitted on the training split -> targets encoded. The test split of ``houses`` stays clean,
so test error measures how well a model does on real houses, whatever it was trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import DATA_KINDS, DataConfig, did_you_mean
from .cleaning import CleaningReport, clean
from .csv_loader import load_csv
from .dataset import Dataset, Plane
from .digits import load_digits
from .houses import generate_houses, inject_bad_records
from .prepare import encode_targets, fit_scaling, split_rows
from .records import DataError, Table
from .synthetic import KINDS as PLANE_KINDS, derive_features, generate

__all__ = ["build_dataset", "Dataset", "Plane", "CleaningReport", "DataError"]

PLANE_MARGIN = 0.05   # of the larger side, around the points


def _load(cfg: DataConfig, rng: np.random.Generator, base_dir: Path | None) -> Table:
    if cfg.kind in PLANE_KINDS:
        return generate(cfg.kind, cfg.n_points, cfg.noise, cfg.classes, rng)
    if cfg.kind == "houses":
        return generate_houses(cfg.n_points, cfg.noise, rng)
    if cfg.kind == "digits":
        return load_digits()
    if cfg.kind == "csv":
        return load_csv(cfg, base_dir)
    hint = did_you_mean(cfg.kind, DATA_KINDS)
    raise DataError("data.kind", f"unknown data set {cfg.kind!r}{hint}")


def _extent(points: np.ndarray) -> tuple[float, float, float, float]:
    low, high = points.min(axis=0), points.max(axis=0)
    margin = PLANE_MARGIN * float(np.max(high - low))
    return (float(low[0] - margin), float(high[0] + margin), float(low[1] - margin), float(high[1] + margin))


def build_dataset(cfg: DataConfig, seed: int, base_dir: Path | None = None) -> Dataset:
    """The data set ``cfg`` describes; the same seed always gives the same arrays.

    ``base_dir`` resolves a relative ``cfg.path`` (the scenario file's folder). Generation,
    the split and the bad-record injection draw from separate streams of ``seed``, so e.g.
    a different bad_fraction never moves the split.
    """
    generate_rng, split_rng, corrupt_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    table = _load(cfg, generate_rng, base_dir)
    parts = [(table.x[rows], table.y[rows]) for rows in split_rows(len(table.y), cfg.split, split_rng)]
    if cfg.kind == "houses" and cfg.bad_fraction > 0:
        parts[:2] = [inject_bad_records(x, y, cfg.bad_fraction, corrupt_rng) for x, y in parts[:2]]
    report = None
    if table.rules is not None:
        parts, report = clean(parts, (*table.feature_names, table.target_name), table.rules, cfg.clean)
        if len(parts[0][1]) == 0 or len(parts[1][1]) == 0:
            raise DataError("data.clean", f"no training or validation records left after cleaning ({report.summary()})")
    on_plane = cfg.kind in PLANE_KINDS
    inputs = [derive_features(x, cfg.features) if on_plane else x for x, _ in parts]
    scaling = fit_scaling(inputs[0], cfg.normalize)
    x_train, x_val, x_test = (scaling.apply(x) for x in inputs)
    y_train, y_val, y_test = (encode_targets(y, table.task, table.n_outputs) for _, y in parts)
    plane = None
    if on_plane:
        def labels(part):
            return part[1] if table.task == "regression" else part[1].astype(np.int64)

        plane = Plane(_extent(table.x), parts[0][0], labels(parts[0]), parts[1][0], labels(parts[1]),
                      cfg.features, scaling)
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, table.task, table.n_outputs,
                   cfg.features if on_plane else table.feature_names, table.target_name, report, plane,
                   table.notes)

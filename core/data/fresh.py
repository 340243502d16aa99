"""A fresh sample from a generated set's own generator: the exam after graduation.

The three splits of a generated set are all the data a lesson sees; a choice made by any of
them (the test split too, if a lesson cheats with it) can flatter the score it was made on.
A large new sample drawn from the same generator, with the same noise, that no run trained
on and no choice looked at, says how good a model really is. It is drawn from a stream of
the data seed that generating and splitting never touch, so asking for it moves nothing else.
"""

from __future__ import annotations

import numpy as np

from ..config import DataConfig
from .dataset import Dataset
from .prepare import encode_targets
from .synthetic import generate

FRESH_STREAM = 3    # build_dataset spawns streams 0-2 of the data seed (generate, split, corrupt)


def fresh_sample(cfg: DataConfig, seed: int, n: int, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """``n`` new points of ``cfg``'s set as network inputs and targets, (n, n_features) and
    (n, n_outputs): derived features and the scaling fitted on ``dataset``'s training split."""
    if dataset.plane is None:
        raise ValueError(f"data.kind = {cfg.kind!r} has no generator to draw a fresh sample from")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(FRESH_STREAM,)))
    table = generate(cfg.kind, n, cfg.noise, cfg.classes, rng)
    return dataset.plane.featurize(table.x), encode_targets(table.y, table.task, table.n_outputs)

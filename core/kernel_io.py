"""The kernels' small arrays, as Python reads and writes them.

A kernel takes no Python objects, so a run's settings, position and loss window travel as small
arrays whose slots ``core.kernels`` numbers (``H_*``, ``C_*``, ``K_*``, ``W_*``). This module is
the one place outside the kernels that knows those slots: ``StepSettings`` is every setting a
step reads, by name, written into ``hyper`` and ``codes`` at once; ``Position`` reads the
counters a chunk advances; ``LossWindow`` the batch losses since the last check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import kernels
from .config import RunConfig
from .optimizers import OPTIMIZER_CODE


@dataclass(frozen=True)
class StepSettings:
    """Every setting a training step reads (``train_chunk``'s ``hyper`` and ``codes``)."""

    lr: float
    momentum: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    l1: float
    l2: float
    dropout: float
    clip_norm: float
    schedule_step: float
    schedule_gamma: float
    total_steps: float
    divergence_factor: float
    lr_scale: float             # reduce-on-plateau's factor so far
    loss: int                   # a loss code (core.losses)
    optimizer: int              # an optimizer code (core.optimizers)
    schedule: int               # kernels.CONSTANT, STEP or COSINE
    l1_proximal: bool

    @classmethod
    def of(cls, config: RunConfig, loss_code: int, lr_scale: float) -> "StepSettings":
        t, m = config.train, config.model
        return cls(lr=t.lr, momentum=t.momentum, beta1=t.beta1, beta2=t.beta2, eps=t.eps,
                   weight_decay=t.weight_decay, l1=t.l1, l2=t.l2, dropout=m.dropout,
                   clip_norm=t.clip_norm, schedule_step=t.schedule_step,
                   schedule_gamma=t.schedule_gamma, total_steps=t.steps,
                   divergence_factor=t.divergence_factor, lr_scale=lr_scale, loss=loss_code,
                   optimizer=OPTIMIZER_CODE[t.optimizer],
                   schedule=kernels.SCHEDULE_CODE[t.schedule],
                   l1_proximal=t.l1_mode == "proximal")

    @staticmethod
    def arrays() -> tuple[np.ndarray, np.ndarray]:
        """Empty ``hyper`` (float) and ``codes`` (int64) arrays of the kernels' sizes."""
        return np.zeros(kernels.N_HYPER), np.zeros(kernels.N_CODES, dtype=np.int64)

    def write(self, hyper: np.ndarray, codes: np.ndarray) -> None:
        """These settings into the kernels' arrays, every slot."""
        hyper[[kernels.H_LR, kernels.H_MOMENTUM, kernels.H_BETA1, kernels.H_BETA2, kernels.H_EPS,
               kernels.H_WEIGHT_DECAY, kernels.H_L1, kernels.H_L2, kernels.H_DROPOUT,
               kernels.H_CLIP, kernels.H_SCHEDULE_STEP, kernels.H_SCHEDULE_GAMMA,
               kernels.H_TOTAL_STEPS, kernels.H_DIVERGENCE, kernels.H_LR_SCALE]] = (
            self.lr, self.momentum, self.beta1, self.beta2, self.eps, self.weight_decay,
            self.l1, self.l2, self.dropout, self.clip_norm, self.schedule_step,
            self.schedule_gamma, self.total_steps, self.divergence_factor, self.lr_scale)
        codes[[kernels.C_LOSS, kernels.C_OPTIMIZER, kernels.C_SCHEDULE,
               kernels.C_L1_PROXIMAL]] = (self.loss, self.optimizer, self.schedule,
                                          self.l1_proximal)


def set_lr_scale(hyper: np.ndarray, scale: float) -> None:
    """Reduce-on-plateau's factor, from the next step on (the rest of the settings unchanged)."""
    hyper[kernels.H_LR_SCALE] = scale


def dropout_rate(hyper: np.ndarray) -> float:
    return float(hyper[kernels.H_DROPOUT])


def scheduled_lr(hyper: np.ndarray, codes: np.ndarray, step: int) -> float:
    """The learning rate the step after ``step`` steps takes (schedule and plateau included)."""
    return float(kernels.learning_rate(hyper, codes[kernels.C_SCHEDULE], step))


class Position:
    """A run's counters (``train_chunk``'s ``counters``), which the kernels advance."""

    def __init__(self, counters: np.ndarray) -> None:
        self.counters = counters

    @staticmethod
    def array() -> np.ndarray:
        return np.zeros(kernels.N_COUNTERS, dtype=np.int64)

    @property
    def step(self) -> int:
        return int(self.counters[kernels.K_STEP])

    @property
    def epoch(self) -> int:
        return int(self.counters[kernels.K_EPOCH])

    @property
    def cursor(self) -> int:
        """Where in this epoch's order the next batch starts."""
        return int(self.counters[kernels.K_CURSOR])

    @property
    def optimizer_steps(self) -> int:
        """Adam's t: steps taken by the current optimizer (its bias correction)."""
        return int(self.counters[kernels.K_ADAM_T])

    def restart_optimizer(self) -> None:
        """A new optimizer counts its steps from zero."""
        self.counters[kernels.K_ADAM_T] = 0

    @property
    def diverged_at(self) -> int | None:
        return int(self.counters[kernels.K_DIVERGED_AT]) or None


class LossWindow:
    """The batch losses of the steps since the last check (``train_chunk``'s ``window_loss``)."""

    def __init__(self) -> None:
        self.array = np.zeros(kernels.N_WINDOW)

    @property
    def steps(self) -> int:
        return int(self.array[kernels.W_STEPS])

    def mean_and_std(self) -> tuple[float, float]:
        """The mean batch loss and its standard deviation over the window (NaN when empty)."""
        steps = self.array[kernels.W_STEPS]
        if not steps:
            return math.nan, math.nan
        mean = self.array[kernels.W_LOSS_SUM] / steps
        mean_square = self.array[kernels.W_LOSS_SQUARES] / steps
        with np.errstate(over="ignore", invalid="ignore"):   # inf - inf: a NaN spread, no warning
            return float(mean), float(np.sqrt(max(mean_square - mean * mean, 0.0)))

    def clear(self) -> None:
        self.array[:] = 0.0

"""The learning-rate range test (Smith, "Cyclical Learning Rates for Training Neural Networks",
2017; fastai's ``lr_find``): from a run's weights, train on copies while the rate grows
exponentially, step after step, from ``START_RATE`` to ``END_RATE``, and watch the loss.

Too low a rate and the loss hardly moves; somewhere it starts to fall fast; too high and it
climbs and diverges. The rate where the smoothed loss falls fastest per decade of rate (the
steepest descent) is a good rate to train at. The test stops once the smoothed loss exceeds
``STOP_FACTOR`` times its lowest, or is not finite.

Each step is ``kernels.train_step`` on the run's next batches, with the run's optimizer, moments
and settings (a schedule and reduce-on-plateau left out: the test sets the rate itself), all on
``Run.train_state``'s copies: the run is not changed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from . import kernels, warmup
from .kernel_io import StepSettings
from .phases import new_workspace
from .snapshot import frozen

START_RATE = 1e-6
END_RATE = 10.0
STEPS = 200
SMOOTHING = 0.9             # the loss's exponential moving average (bias-corrected); fastai's
                            # 0.98 lags 50 steps, almost two decades of rate at 200 steps
STOP_FACTOR = 4.0           # stop once the smoothed loss exceeds this times its lowest
SKIP_START = 10             # the first steps' smoothed slope is mostly the average warming up
SLOPE_REACH = 7             # the slope at a step: over the steps this many before and after it
                            # (half a decade of rate at 200 steps), so one noisy batch is no descent


@dataclass(frozen=True, eq=False)
class RangeTest:
    """What the test measured: the i-th step trained at ``rates[i]`` on a batch whose loss
    before that step was ``losses[i]``."""

    run: str
    step: int                   # the run's step the test started from
    current_rate: float         # the rate the run trains at now
    rates: np.ndarray           # (n,) the rates tried, growing exponentially
    losses: np.ndarray          # (n,) each step's batch loss
    smoothed: np.ndarray        # (n,) their moving average
    steepest: int | None        # index of the steepest descent of ``smoothed`` per log rate
    diverged: int | None        # index where it stopped: the loss diverged (None: it never did)

    @property
    def suggestion(self) -> float | None:
        """The rate of the steepest descent (None when the loss never fell)."""
        return None if self.steepest is None else float(self.rates[self.steepest])


def rates(start: float = START_RATE, end: float = END_RATE, steps: int = STEPS) -> np.ndarray:
    """The rates of the test: ``steps`` of them from ``start`` to ``end``, evenly in log."""
    return start * (end / start) ** (np.arange(steps) / max(1, steps - 1))


def range_test(run, start: float = START_RATE, end: float = END_RATE,
               steps: int = STEPS) -> RangeTest:
    """The range test from ``run``'s weights (see the module docstring)."""
    warmup.ensure("later")
    tried = rates(start, end, steps)
    state = run.train_state()
    # The run's settings, with the rate the only thing that changes and no schedule on it.
    settings = dataclasses.replace(StepSettings.of(run.config, state.loss_code, 1.0),
                                   schedule=kernels.CONSTANT)
    ws = new_workspace(run.layout.widths, state.capacity)
    grads = np.zeros_like(state.params)
    grad_norms = np.zeros(run.layout.n_layers)
    x, y = run.dataset.x_train, run.dataset.y_train
    losses, smoothed = [], []
    average, lowest, diverged = 0.0, math.inf, None
    for i, rate in enumerate(tried):
        dataclasses.replace(settings, lr=float(rate)).write(state.hyper, state.codes)
        rows = kernels.next_batch(x, y, state.order, state.counters, state.streams,
                                  state.batch_rows, ws)
        loss = float(kernels.train_step(state.params, grads, state.first, state.second,
                                        state.weight_mask, run.layout.table, rows, ws, grad_norms,
                                        state.counters, state.streams, state.hyper, state.codes))
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        smooth = average / (1 - SMOOTHING ** (i + 1))
        losses.append(loss)
        smoothed.append(smooth)
        if not math.isfinite(smooth) or smooth > STOP_FACTOR * lowest:
            diverged = i
            break
        lowest = min(lowest, smooth)
    tried = tried[:len(losses)]
    return RangeTest(run.name, run.step, run.current_lr, frozen(tried), frozen(losses),
                     frozen(smoothed), steepest_descent(tried, np.array(smoothed), diverged),
                     diverged)


def steepest_descent(tried: np.ndarray, smoothed: np.ndarray, diverged: int | None) -> int | None:
    """The index where ``smoothed`` falls fastest per decade of rate (its slope over
    ``SLOPE_REACH`` steps either side), before it diverged and after the first ``SKIP_START``
    steps; None when it never falls."""
    end = len(smoothed) if diverged is None else diverged
    reach = SLOPE_REACH
    centres = np.arange(max(SKIP_START, reach), end - reach)
    if not len(centres):
        return None
    log_rates = np.log10(tried)
    slope = ((smoothed[centres + reach] - smoothed[centres - reach])
             / (log_rates[centres + reach] - log_rates[centres - reach]))
    finite = np.where(np.isfinite(slope), slope, np.inf)
    best = int(np.argmin(finite))
    return int(centres[best]) if finite[best] < 0 else None

"""Whether a run's gradients are vanishing or exploding, judged as an expert would: relative to
the network itself, never against a fixed size.

A gradient's size alone says little. A net that has fit its data has tiny gradients everywhere
(its loss is near zero), and a regression on raw prices has huge ones (its loss is in the
thousands); neither is sick. What names the diseases is a comparison:

- **vanishing**: the signal fades on its way down, so an early layer's gradient is a tiny
  fraction of the output layer's. Measured on the built-in lessons at their own seeds, five
  checks a run: 8 sigmoid layers 9e-6 to 4e-5 of the output layer's; the same depth with ReLU,
  shallow nets and residual nets 0.2 and more; 20 plain tanh layers under Adam about 1e-2.
- **exploding**: each step moves the weights by a large part of their size (the update ratio
  ‖Δw‖/‖w‖; around 1e-3 is the usual healthy figure), or the run has diverged. Measured: 0.02 to
  0.05 for SGD at a good rate, under 0.005 for every Adam run, including the data-cleaning
  lesson's dirty run whose gradients are over 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VANISHING_RATIO = 1e-3      # an early layer's gradient under this fraction of the output layer's
EXPLODING_UPDATE = 0.3      # a step moving a layer's weights by more than this part of their size


@dataclass(frozen=True)
class GradientHealth:
    """What the gradients say, layer by layer (0 = the first hidden layer)."""

    vanishing: tuple[int, ...]      # hidden layers whose gradient faded against the output's
    faded_to: float                 # the smallest such fraction (NaN when none)
    exploding: tuple[int, ...]      # layers whose last update was too large a part of them
    largest_update: float           # the largest such update ratio (NaN when none)
    diverged: bool


def gradient_health(grad_norms, update_ratios, diverged: bool) -> GradientHealth:
    """Judge one snapshot's per-layer gradient norms and update ratios (NaN: not measured)."""
    norms = np.asarray(grad_norms, dtype=float)
    ratios = np.asarray(update_ratios, dtype=float)
    output = norms[-1] if norms.size else math.nan
    vanishing, faded = [], []
    if math.isfinite(output) and output > 0:
        for layer, norm in enumerate(norms[:-1]):
            fraction = norm / output
            if math.isfinite(fraction) and fraction < VANISHING_RATIO:
                vanishing.append(layer)
                faded.append(fraction)
    exploding = [layer for layer, ratio in enumerate(ratios)
                 if math.isfinite(ratio) and ratio > EXPLODING_UPDATE]
    return GradientHealth(vanishing=tuple(vanishing), faded_to=min(faded, default=math.nan),
                          exploding=tuple(exploding),
                          largest_update=max((ratios[i] for i in exploding), default=math.nan),
                          diverged=diverged)

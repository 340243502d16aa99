"""What a run's path through weight space did: the numbers behind what the valley pane draws.

A path is the run's weights at its checks (``Run.trajectory``: every check while it has room,
then every 2nd, 4th, … as the history is thinned), oldest first, (n, P). Each number here is
plain geometry of those points, or of the training loss logged at the same checks, so a lesson
can state what a path does and ``nnsim check`` can measure it over seeds:

- ``turns``: the share of moves (from one kept check to the next) that turn back on the move
  before: their dot product is negative, the angle between them over 90°. A step too long for
  the valley's narrow direction jumps across it and back, so nearly every move turns; a step
  that stays on one side turns none.
- ``winding``: the path's length (the sum of its moves) over the straight line from its start
  to its end: 1 for a straight path, 10 for one that travelled ten times as far as it got.
- ``climbs``: the share of checks whose training loss is above the check before's: a run that
  overshoots the floor of the valley climbs the far wall for a while (momentum rolling past
  the bottom); plain gradient descent with a small enough step never climbs.

Moves of length 0 (a run that stopped moving) neither turn nor go straight on: they are left
out of ``turns``. A path with a weight that is no longer a number has no measure (NaN).
"""

from __future__ import annotations

import math

import numpy as np


def _moves(weights: np.ndarray) -> np.ndarray | None:
    """(n - 1, P) the moves between consecutive points, or None when there is no finite path
    of two points."""
    points = np.asarray(weights, float)
    if points.ndim != 2 or len(points) < 2 or not np.isfinite(points).all():
        return None
    return np.diff(points, axis=0)


def turns(weights: np.ndarray) -> float:
    """The share of consecutive pairs of moves whose dot product is negative (see above)."""
    moves = _moves(weights)
    if moves is None or len(moves) < 2:
        return math.nan
    lengths = np.linalg.norm(moves, axis=1)                         # (n - 1,)
    both = (lengths[1:] > 0) & (lengths[:-1] > 0)
    if not both.any():
        return math.nan
    dots = np.einsum("ij,ij->i", moves[1:], moves[:-1])            # (n - 2,)
    return float(np.mean(dots[both] < 0))


def winding(weights: np.ndarray) -> float:
    """The path's length over the distance from its first point to its last (inf when it came
    back to where it started)."""
    moves = _moves(weights)
    if moves is None:
        return math.nan
    length = float(np.linalg.norm(moves, axis=1).sum())
    straight = float(np.linalg.norm(np.asarray(weights, float)[-1] - np.asarray(weights, float)[0]))
    if straight == 0:
        return math.inf if length > 0 else math.nan
    return length / straight


def climbs(losses: np.ndarray) -> float:
    """The share of checks (after the first) whose loss is above the one before; NaN when a
    loss is not a number or there are fewer than two."""
    values = np.asarray(losses, float)
    if len(values) < 2 or not np.isfinite(values).all():
        return math.nan
    return float(np.mean(np.diff(values) > 0))

"""How far each unit's map over the data plane is from straight: its *bend*.

A unit of the first hidden layer computes act(w1 x1 + w2 x2 + b): a function of one linear
combination of the inputs, so (with the plain inputs x1, x2) every level set of its map is a
straight line, all of them parallel. A unit further in combines several such maps, and its level
sets can curve. The bend measures that from the map's gradient, the direction in which the
unit's value changes fastest: where the level sets are parallel lines the gradient points the
same way (or the opposite way) everywhere; where they curve, it turns.

Over a grid of the plane, with g = (df/dx1, df/dx2) at each point, the bend is

    1 - sqrt((a - c)^2 + 4 b^2) / (a + c),   a = sum gx^2,  b = sum gx gy,  c = sum gy^2,

one minus the *coherence* of the gradients' structure tensor [[a, b], [b, c]]: 2 l_min / (l_min +
l_max) of its eigenvalues. It is 0 exactly when every gradient lies on one line (parallel
straight level sets), 1 when the gradients point every way equally (circles about a centre);
steep parts of the map weigh more than flat ones, as they do to the eye. A map that does not
change over the plane (a saturated unit) has no bend (NaN). A grid point within the finite
difference of a ReLU's kink leans a little: a straight ReLU map can measure a bend of about 1e-6.
"""

from __future__ import annotations

import numpy as np

BEND_GRID = (33, 33)     # rows, cols of the grid over the plane's extent
STEP = 1e-5              # the finite difference, as a fraction of the extent's width and height


def bend(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Each column's bend from its gradients: ``gx``, ``gy`` (points, units) -> (units,)."""
    a = np.sum(gx * gx, axis=0)
    b = np.sum(gx * gy, axis=0)
    c = np.sum(gy * gy, axis=0)
    trace = a + c
    with np.errstate(invalid="ignore", divide="ignore"):
        bends = 1.0 - np.sqrt((a - c) ** 2 + 4.0 * b * b) / trace
    bends[~(trace > 0)] = np.nan
    return np.clip(bends, 0.0, 1.0)      # rounding can take a straight map a hair below 0


def unit_bends(run, shape: tuple[int, int] = BEND_GRID) -> tuple[np.ndarray, ...] | None:
    """The bend of every unit of ``run`` now, per layer (first hidden layer first, the output
    layer last): gradients by central differences over a grid of the data plane, the raw
    coordinates (x1, x2) before any derived features or scaling. None without a plane."""
    plane = run.dataset.plane
    if plane is None:
        return None
    x1_min, x1_max, x2_min, x2_max = plane.extent
    rows, cols = shape
    x1, x2 = np.meshgrid(np.linspace(x1_min, x1_max, cols), np.linspace(x2_min, x2_max, rows))
    points = np.column_stack([x1.ravel(), x2.ravel()])                              # (G, 2)
    h = STEP * np.array([x1_max - x1_min, x2_max - x2_min])
    shifted = [points + sign * h * axis for axis in np.eye(2) for sign in (1, -1)]
    values = run.unit_values(plane.featurize(np.concatenate(shifted)))             # (4G, U)
    right, left, up, down = np.split(values, 4)
    bends = bend((right - left) / (2 * h[0]), (up - down) / (2 * h[1]))            # (U,)
    edges = np.cumsum(run.layout.widths[1:])[:-1]
    return tuple(np.split(bends, edges))

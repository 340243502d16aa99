"""The generated 2-D sets (TensorFlow-Playground style) and their derived input features.

Coordinates follow the Playground: every set lives in roughly [-6, 6] x [-6, 6], so
sin(x1) turns a few times across the plane and tanh nets with Xavier init see inputs of
order 1-5. Each generator is a pure function of (n, noise, rng): the same seed gives the
same points. Classes are assigned round-robin (``arange(n) % k``), so they are balanced
to within one point unless the set's own geometry decides the label (xor).

What ``noise`` means, per set:
- circle, xor, moons, spiral, spirals: each coordinate is jittered by uniform(-5, 5) * noise
  (a fraction of the data radius 5), so points drift across the class boundary;
- gaussians, blobs: the clusters' variance is 0.5 + 7 * noise (the Playground's scale);
- plane, gaussian-sum: Gaussian noise of standard deviation ``noise`` on the target
  (targets are of order 1).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .records import Table

RADIUS = 5.0          # the classification sets fill a disc of about this radius
REGRESSION_HALF_WIDTH = 6.0
XOR_PADDING = 0.3     # keeps xor points off the axes, where the label flips
SPIRAL_TURNS = 1.75
BLOB_RING = 4.0       # blob centres sit on a circle of this radius

Points = np.ndarray   # (n, 2) float64
Labels = np.ndarray   # (n,) class index or target value


def _jitter(points: Points, noise: float, rng: np.random.Generator) -> Points:
    return points + rng.uniform(-RADIUS * noise, RADIUS * noise, size=points.shape)


def _cluster_std(noise: float) -> float:
    return float(np.sqrt(0.5 + 7.0 * noise))


def _polar(radius: np.ndarray, angle: np.ndarray) -> Points:
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def circle(n: int, noise: float, rng: np.random.Generator) -> tuple[Points, Labels]:
    """Class 1 inside radius 2.5, class 0 on a ring from 3.5 to 5: a gap that noise closes."""
    labels = np.arange(n) % 2
    radius = np.where(labels == 1, rng.uniform(0.0, 0.5 * RADIUS, n), rng.uniform(0.7 * RADIUS, RADIUS, n))
    points = _polar(radius, rng.uniform(0.0, 2 * np.pi, n))
    return _jitter(points, noise, rng), labels


def xor(n: int, noise: float, rng: np.random.Generator) -> tuple[Points, Labels]:
    """Class 1 in the quadrants where x1 and x2 share a sign: not linearly separable."""
    points = rng.uniform(-RADIUS, RADIUS, (n, 2))
    points += np.where(points >= 0, XOR_PADDING, -XOR_PADDING)
    labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)
    return _jitter(points, noise, rng), labels


def gaussians(n: int, noise: float, rng: np.random.Generator) -> tuple[Points, Labels]:
    """Two Gaussian clouds at (2, 2) (class 1) and (-2, -2) (class 0): linearly separable."""
    labels = np.arange(n) % 2
    centres = np.where(labels[:, None] == 1, 2.0, -2.0)
    return centres + rng.normal(0.0, _cluster_std(noise), (n, 2)), labels


def moons(n: int, noise: float, rng: np.random.Generator) -> tuple[Points, Labels]:
    """Two interleaved half circles (class 1 the upper), scaled 3x and centred: x1 in [-4.5, 4.5]."""
    labels = np.arange(n) % 2
    angle = rng.uniform(0.0, np.pi, n)
    upper = labels[:, None] == 1
    unit = np.where(upper, _polar(1.0, angle), 1.0 - _polar(1.0, angle) - [0.0, 0.5])
    return _jitter(3.0 * (unit - [0.5, 0.25]), noise, rng), labels


def spirals(n: int, noise: float, rng: np.random.Generator, k: int) -> tuple[Points, Labels]:
    """k interleaved arms of 1.75 turns out to radius 5; class j is the arm rotated by 2*pi*j/k."""
    labels = np.arange(n) % k
    along = rng.uniform(0.0, 1.0, n)            # position along the arm, centre to tip
    angle = SPIRAL_TURNS * 2 * np.pi * along + 2 * np.pi * labels / k
    return _jitter(_polar(RADIUS * along, angle), noise, rng), labels


def spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[Points, Labels]:
    """The Playground's two-arm spiral."""
    return spirals(n, noise, rng, 2)


def blobs(n: int, noise: float, rng: np.random.Generator, k: int) -> tuple[Points, Labels]:
    """k Gaussian blobs with centres evenly spaced on a circle of radius 4."""
    labels = np.arange(n) % k
    centres = _polar(BLOB_RING, 2 * np.pi * labels / k)
    return centres + rng.normal(0.0, _cluster_std(noise), (n, 2)), labels


def _uniform_plane(n: int, rng: np.random.Generator) -> Points:
    return rng.uniform(-REGRESSION_HALF_WIDTH, REGRESSION_HALF_WIDTH, (n, 2))


def plane(n: int, noise: float, rng: np.random.Generator) -> tuple[Points, Labels]:
    """Target (x1 + x2) / 10, in [-1.2, 1.2]: a linear model fits it exactly."""
    points = _uniform_plane(n, rng)
    return points, points.sum(axis=1) / 10.0 + rng.normal(0.0, noise, n)


# (centre x1, centre x2, sign): a checkerboard of bumps and dips
BUMPS = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]])


def gaussian_sum(n: int, noise: float, rng: np.random.Generator) -> tuple[Points, Labels]:
    """Target = sum of six unit-width Gaussian bumps of alternating sign, in about [-1, 1]."""
    points = _uniform_plane(n, rng)
    squared_distance = ((points[:, None, :] - BUMPS[None, :, :2]) ** 2).sum(axis=2)   # (n, 6)
    target = (BUMPS[:, 2] * np.exp(-squared_distance / 2.0)).sum(axis=1)
    return points, target + rng.normal(0.0, noise, n)


TWO_CLASS = {"circle": circle, "xor": xor, "gaussians": gaussians, "spiral": spiral, "moons": moons}
MULTI_CLASS = {"blobs": blobs, "spirals": spirals}
REGRESSION = {"plane": plane, "gaussian-sum": gaussian_sum}
KINDS = (*TWO_CLASS, *MULTI_CLASS, *REGRESSION)


def generate(kind: str, n: int, noise: float, classes: int, rng: np.random.Generator) -> Table:
    """n points of a 2-D set as a Table of raw coordinates (x1, x2)."""
    if kind in MULTI_CLASS:
        points, labels = MULTI_CLASS[kind](n, noise, rng, classes)
        task, n_outputs, target = "multiclass", classes, "class"
    elif kind in TWO_CLASS:
        points, labels = TWO_CLASS[kind](n, noise, rng)
        task, n_outputs, target = "binary", 1, "class"
    else:
        points, labels = REGRESSION[kind](n, noise, rng)
        task, n_outputs, target = "regression", 1, "value"
    return Table(np.ascontiguousarray(points, dtype=np.float64), labels.astype(np.float64),
                 ("x1", "x2"), target, task, n_outputs)


DERIVED: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1*x2": lambda x1, x2: x1 * x2,
    "sin(x1)": lambda x1, x2: np.sin(x1),
    "sin(x2)": lambda x1, x2: np.sin(x2),
}


def derive_features(points: Points, names: tuple[str, ...]) -> np.ndarray:
    """The network's inputs from plane coordinates, one column per name in the given order."""
    out = np.empty((len(points), len(names)))                 # (n, n_features)
    for column, name in enumerate(names):
        out[:, column] = DERIVED[name](points[:, 0], points[:, 1])
    return out

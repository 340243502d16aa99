"""The loss landscape: the training loss over a 2-D plane through a run's weights, the paths
the weights took projected onto it, and the loss along the step a run takes next.

A network of P weights has a loss over P dimensions; a picture shows two. The plane goes
through the run's current weights w and is spanned by two directions d1, d2 (P,): the point
(a, b) of the plane is the weights w + a·d1 + b·d2. Which plane: as Li et al. ("Visualizing
the Loss Landscape of Neural Nets", 2018) show, random directions miss the path training took
(in many dimensions a random direction is nearly orthogonal to it), while the two principal
directions of the path itself capture most of it. So:

- once a run has a path (``Trajectory``: its weights at each check, bounded), the plane is
  the PCA of the path relative to the current weights: d1, d2 the first two right singular
  vectors of the matrix of (w_i − w) (orthonormal), and ``explained`` the share of the
  path's squared distance from w (its "variance") that the plane holds;
- before that, two random directions, filter-normalised as in that paper: each unit's incoming
  weights in a direction scaled to the norm of that unit's incoming weights in w (biases 0),
  seeded, so the same run gives the same plane; the second made orthogonal to the first.

Runs that start from the same weights (a lesson comparing optimizers or rates) share one plane:
the PCA of all their paths around the selected run's weights, so their paths compare.

The losses of the grid are one kernel call (``grid_losses``): for every point, the weights
w + a·d1 + b·d2 and ``kernels.measure`` on the whole training split, dropout off, as a check
measures the training loss. Nothing here changes a run: it reads ``Run.params`` (and
``Run.train_state``'s copies for the next step) and works on arrays of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels, warmup
from .jit import kernel
from .phases import new_workspace
from .snapshot import frozen

MIN_PCA_SHARE = 1e-12       # a second singular value below this share of the first: no plane
RANDOM_SEED = 2018          # the random plane's seed (the year of Li et al.)
MARGIN = 0.25               # the grid reaches this share of the paths' span beyond them
LINE_STEPS = 3.0            # the step line runs from the weights before the step to 3 steps on
LINE_POINTS = 31            # values of t along it
# What the dashboard's worker may spend on one measurement, in examples × parameters (one
# forward pass over one example costs about one multiply-add per parameter): 1.5e8 is about
# 60 ms here, a 26 × 32 grid of sgd-vs-adam. A bigger network or data set gets a coarser grid,
# down to MIN_GRID a side, then the loss on the first rows of the (shuffled) training split.
DASHBOARD_WORK = 1.5e8
MIN_GRID = 12
MIN_ROWS = 32


# --- the path -------------------------------------------------------------------------------

class Trajectory:
    """A run's flat weights at its checks, in ``capacity`` preallocated rows.

    Thinned as ``HistoryBuffer`` thins its rows: when full, every other row goes and from then
    on only every ``stride``-th check is kept, so a run of any length keeps constant memory and
    which checks survive depends on their index only.
    """

    def __init__(self, n_params: int, capacity: int) -> None:
        self._rows = np.empty((capacity, n_params))                     # (capacity, P)
        self._steps = np.empty(capacity, dtype=np.int64)
        self.clear()

    def clear(self) -> None:
        self._length = 0
        self._stride = 1
        self._checks = 0

    def add(self, step: int, params: np.ndarray) -> None:
        check = self._checks
        self._checks += 1
        if check % self._stride:
            return
        if self._length == len(self._rows):
            kept = slice(0, self._length, 2)
            self._length = len(range(*kept.indices(self._length)))
            self._rows[:self._length] = self._rows[kept].copy()
            self._steps[:self._length] = self._steps[kept].copy()
            self._stride *= 2
            if check % self._stride:
                return
        self._rows[self._length] = params
        self._steps[self._length] = step
        self._length += 1

    @property
    def steps(self) -> np.ndarray:
        return self._steps[:self._length].copy()

    @property
    def weights(self) -> np.ndarray:
        """(n, P) the kept weights, oldest first (a copy)."""
        return self._rows[:self._length].copy()


# --- the plane ------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Plane:
    """The plane w + a·d1 + b·d2 (see the module docstring)."""

    origin: np.ndarray          # (P,) w: the selected run's current weights
    directions: np.ndarray      # (2, P) d1, d2
    kind: str                   # "pca" (of the paths) or "random" (filter-normalised)
    explained: float            # PCA: the share of the paths' variance in the plane; random: nan

    def coordinates(self, weights: np.ndarray) -> np.ndarray:
        """(n, 2) each row of ``weights`` (n, P) projected onto the plane: (a, b) of its
        nearest point (the directions of a PCA plane are orthonormal)."""
        return (np.asarray(weights) - self.origin) @ self.directions.T

    def point(self, a: float, b: float) -> np.ndarray:
        """(P,) the weights at (a, b)."""
        return self.origin + a * self.directions[0] + b * self.directions[1]


def pca_plane(origin: np.ndarray, points: np.ndarray) -> Plane | None:
    """The plane of the two principal directions of ``points`` (n, P) around ``origin`` (P,),
    or None when they do not span two directions. Signs are fixed so that the first point
    (the start) has a ≤ 0 and b ≤ 0: the path comes from the lower left."""
    offsets = np.asarray(points, float) - origin                                    # (n, P)
    offsets = offsets[np.isfinite(offsets).all(axis=1)]
    if len(offsets) < 2:
        return None
    _, singular, vt = np.linalg.svd(offsets, full_matrices=False)
    if len(singular) < 2 or singular[1] <= MIN_PCA_SHARE * singular[0]:
        return None
    directions = vt[:2].copy()
    start = offsets[0] @ directions.T
    directions[start > 0] *= -1.0
    explained = float((singular[:2] ** 2).sum() / (singular ** 2).sum())
    return Plane(frozen(origin), frozen(directions), "pca", explained)


def random_plane(layout, origin: np.ndarray, seed: int = RANDOM_SEED) -> Plane:
    """Two filter-normalised random directions (Li et al.): for every unit, its incoming
    weights' part of a Gaussian direction scaled to the norm of its incoming weights in
    ``origin``; biases 0. The second is then made orthogonal to the first."""
    rng = np.random.default_rng(seed)
    directions = np.zeros((2, layout.n_params))
    for d in directions:
        for W, (W_dir, _) in zip((W for W, _ in layout.unflatten(origin)),
                                 layout.unflatten(d)):
            gaussian = rng.standard_normal(W.shape)                          # (n_in, n_out)
            norms = np.linalg.norm(gaussian, axis=0)
            W_dir[:] = gaussian * (np.linalg.norm(W, axis=0) / np.where(norms > 0, norms, 1.0))
    first = directions[0]
    if first @ first > 0:
        directions[1] -= (directions[1] @ first) / (first @ first) * first
    return Plane(frozen(origin), frozen(directions), "random", float("nan"))


# --- the losses -----------------------------------------------------------------------------

@kernel
def grid_losses(loss_code, origin, first, second, alphas, betas, table, x, y, block_rows, ws,
                params, logits, scratch, out):
    """``out[j, i]``: the mean loss on ``x`` (N, n_in), ``y`` (N, K) of the weights
    origin + alphas[i]·first + betas[j]·second (each (P,)), dropout off; ``params`` (P,),
    ``logits`` and ``scratch`` (N, K) and ``ws`` are workspace. One call for the whole grid, so
    the worker leaves and takes back the GIL once."""
    for j in range(betas.size):
        for i in range(alphas.size):
            for k in range(origin.size):
                params[k] = origin[k] + alphas[i] * first[k] + betas[j] * second[k]
            out[j, i] = kernels.measure(loss_code, params, table, x, y, block_rows, ws, logits,
                                        scratch)[0]


def losses_on_plane(run, plane: Plane, alphas: np.ndarray, betas: np.ndarray,
                    rows: int | None = None) -> np.ndarray:
    """(len(betas), len(alphas)) the training loss of ``run``'s data over the plane's grid (on
    the first ``rows`` rows of the training split; None: all of it)."""
    warmup.ensure("later")
    state = run.train_state()           # copies: the capacity and loss code the run measures with
    x, y = run.dataset.x_train[:rows], run.dataset.y_train[:rows]
    out = np.empty((len(betas), len(alphas)))
    # Writable copies: a read-only array (a frozen one) would be another compiled signature.
    origin, first, second, alphas, betas = (np.array(a, dtype=float) for a in (
        plane.origin, plane.directions[0], plane.directions[1], alphas, betas))
    grid_losses(state.loss_code, origin, first, second, alphas, betas, run.layout.table, x, y,
                state.capacity, new_workspace(run.layout.widths, state.capacity),
                np.empty(run.layout.n_params), np.zeros(y.shape), np.zeros(y.shape), out)
    return out


# --- the picture's numbers ------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RunPath:
    """One run's path on the plane."""

    name: str
    steps: np.ndarray           # (n,) the checks kept (the last: the run's current step)
    coordinates: np.ndarray     # (n, 2) (a, b) of each


@dataclass(frozen=True, eq=False)
class Landscape:
    """The training loss over a grid of the plane through run ``run``'s weights, and the paths."""

    run: str                    # the run whose weights the plane goes through
    step: int
    n_params: int               # the dimensions the plane is a slice of
    plane: Plane
    alphas: np.ndarray          # (cols,) a of each grid column
    betas: np.ndarray           # (rows,) b of each grid row
    losses: np.ndarray          # (rows, cols) the training loss at (alphas[i], betas[j])
    paths: tuple[RunPath, ...]  # every run on this plane (the selected one among them)
    examples: int               # the training examples the losses are measured on: the first
    train_rows: int             # ``examples`` of the split's ``train_rows`` (all, headless)


def shares_start(run, other) -> bool:
    """``run`` and ``other`` started from the same weights (their paths share a plane)."""
    if run is other:
        return True
    if run.layout.n_params != other.layout.n_params or run.trajectory is None \
            or other.trajectory is None:
        return False
    mine, theirs = run.trajectory, other.trajectory
    return (len(mine.steps) and len(theirs.steps) and mine.steps[0] == theirs.steps[0] == 0
            and np.array_equal(mine.weights[0], theirs.weights[0])
            and np.array_equal(run.dataset.x_train, other.dataset.x_train))


def path_points(run) -> tuple[np.ndarray, np.ndarray]:
    """(steps (n,), weights (n, P)) of ``run``'s path, its current weights last."""
    if run.trajectory is None:
        return np.array([run.step]), run.params[None, :].copy()
    steps, weights = run.trajectory.steps, run.trajectory.weights
    if not len(steps) or steps[-1] != run.step:
        steps, weights = np.append(steps, run.step), np.vstack([weights, run.params])
    return steps, weights


def within(work: float | None, shape: tuple[int, int], n_params: int,
           train_rows: int) -> tuple[tuple[int, int], int]:
    """The grid (rows, cols) and the training rows a measurement of ``shape`` over ``train_rows``
    may take for ``work`` (examples × parameters; None: no limit): the grid shrinks first (to
    ``MIN_GRID`` a side, its shape kept), then the rows (to ``MIN_ROWS``)."""
    rows, cols = shape
    if work is None or rows * cols * train_rows * n_params <= work:
        return shape, train_rows
    scale = max(np.sqrt(work / (rows * cols * train_rows * n_params)),
                MIN_GRID / min(rows, cols))
    shape = (max(2, min(rows, round(rows * scale))), max(2, min(cols, round(cols * scale))))
    examples = int(work // (shape[0] * shape[1] * n_params))
    return shape, max(min(MIN_ROWS, train_rows), min(train_rows, examples))


def landscape(runs, selected: int = 0, shape: tuple[int, int] = (21, 21),
              work: float | None = None) -> Landscape:
    """The loss over the plane through ``runs[selected]``'s weights (``shape``: grid rows,
    cols), with the path of every run that shares its start; ``work``: see ``within``."""
    run = runs[selected]
    train_rows = len(run.dataset.y_train)
    shape, examples = within(work, shape, run.layout.n_params, train_rows)
    together = [other for other in runs if shares_start(run, other)]
    paths = [(other.name, *path_points(other)) for other in together]
    origin = run.params.copy()
    plane = pca_plane(origin, np.vstack([weights for _, _, weights in paths]))
    if plane is None:
        plane = random_plane(run.layout, origin)
    drawn = tuple(RunPath(name, frozen(steps, dtype=np.int64), frozen(plane.coordinates(weights)))
                  for name, steps, weights in paths)
    alphas, betas = grid_axes(plane, drawn, shape)
    losses = losses_on_plane(run, plane, alphas, betas, examples)
    return Landscape(run.name, run.step, run.layout.n_params, plane, frozen(alphas), frozen(betas),
                     frozen(losses), drawn, examples, train_rows)


def grid_axes(plane: Plane, paths, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The grid's a and b values: the paths (and the origin) with a margin; a random plane's
    ±1 (one unit: each filter's own norm)."""
    rows, cols = shape
    if plane.kind == "random":
        return np.linspace(-1.0, 1.0, cols), np.linspace(-1.0, 1.0, rows)
    coords = np.vstack([np.zeros((1, 2))] + [p.coordinates for p in paths])
    coords = coords[np.isfinite(coords).all(axis=1)]
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    span = np.maximum(hi - lo, 1e-3 * max(float(np.abs(coords).max()), 1e-6))
    lo, hi = lo - MARGIN * span, hi + MARGIN * span
    return np.linspace(lo[0], hi[0], cols), np.linspace(lo[1], hi[1], rows)


# --- the step along the slope ---------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class StepLine:
    """The training loss along the step a run takes next: from its weights before the step
    (t = 0) along the update, t in step lengths; the step lands at t = 1."""

    run: str
    step: int                   # the step (0-based) this is
    learning_rate: float
    step_length: float          # ‖update‖
    t: np.ndarray               # (n,) 0 … LINE_STEPS
    losses: np.ndarray          # (n,) on the first ``examples`` rows of the training split
    examples: int

    @property
    def landed(self) -> float:
        """The loss where the step lands (t = 1)."""
        return float(np.interp(1.0, self.t, self.losses))

    @property
    def lowest(self) -> float:
        """t of the lowest loss along the line: < 1 the step overshot it, > 1 it stopped short."""
        finite = np.where(np.isfinite(self.losses), self.losses, np.inf)
        return float(self.t[int(np.argmin(finite))])


def next_update(run) -> tuple[np.ndarray, float]:
    """The update (P,) the run's next step makes, and its learning rate: that step taken aside
    on copies (``Run.train_state``), the same batch, masks and rate; the run is not changed."""
    warmup.ensure("later")
    state = run.train_state()
    before = state.params.copy()
    ws = new_workspace(run.layout.widths, state.capacity)
    rows = kernels.next_batch(run.dataset.x_train, run.dataset.y_train, state.order,
                              state.counters, state.streams, state.batch_rows, ws)
    kernels.train_step(state.params, np.zeros_like(before), state.first, state.second,
                       state.weight_mask, run.layout.table, rows, ws,
                       np.zeros(run.layout.n_layers), state.counters, state.streams, state.hyper,
                       state.codes)
    return state.params - before, run.current_lr


def step_line(run, points: int = LINE_POINTS, work: float | None = None) -> StepLine:
    """The loss along the run's next step (see ``StepLine``), at ``points`` values of t;
    ``work``: see ``within`` (the line's points are kept, the rows shrink)."""
    update, lr = next_update(run)
    t = np.linspace(0.0, LINE_STEPS, points)
    plane = Plane(run.params.copy(), np.vstack([update, np.zeros_like(update)]), "line",
                  float("nan"))
    train_rows = len(run.dataset.y_train)
    examples = train_rows if work is None else max(
        min(MIN_ROWS, train_rows), min(train_rows, int(work // (points * run.layout.n_params))))
    losses = losses_on_plane(run, plane, t, np.zeros(1), examples)[0]
    return StepLine(run.name, run.step, lr, float(np.linalg.norm(update)), frozen(t),
                    frozen(losses), examples)


# --- what the dashboard shows ---------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Valley:
    """The landscape pane's numbers for one moment: the plane and the selected run's next step
    along the slope, or why there are none (``reason``)."""

    shape: tuple[int, int]      # the grid asked for (the landscape's may be coarser: ``within``)
    landscape: Landscape | None
    line: StepLine | None
    reason: str = ""


def valley(runs, selected: int, shape: tuple[int, int], work: float | None = DASHBOARD_WORK
           ) -> Valley:
    """``landscape`` and ``step_line`` of ``runs[selected]`` within ``work`` each; none for a run
    whose weights are no longer numbers."""
    run = runs[selected]
    if not np.isfinite(run.params).all():
        return Valley(shape, None, None,
                      f"{run.name} diverged at step {run.diverged_step}: its weights are no "
                      "longer numbers, there is no valley to draw")
    return Valley(shape, landscape(runs, selected, shape, work), step_line(run, work=work))

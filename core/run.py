"""One training run: a network, its data, its optimizer state, stepped in chunks.

``Run`` is the only trainer in nnsim. The TUI, the headless runner, the metrics writer and the
expectation checker all drive or observe it through ``advance`` and the immutable
``Snapshot`` it returns, so they can never disagree about a number.

Steps are grouped into *checks* of ``train.eval_every`` steps (and one at ``train.steps``, so
the end of a run is always measured): after each, the run measures
the loss on the whole training and validation splits, records a history row, and applies
early stopping and reduce-on-plateau. ``advance`` always splits its work at check
boundaries, so how a caller chunks its calls never changes a result.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import kernels, warmup
from .activations import ACTIVATION_NAME
from .budget import MIN_KERNEL_ROWS, available_bytes, check_budget, check_data_budget, run_bytes
from .config import LIVE_KEYS, ConfigError, RunConfig, config_from_dict, with_value
from .data import Dataset, build_dataset
from .data.csv_loader import file_bytes
from .data.fresh import fresh_sample
from .history import HistoryBuffer
from .landscape import Trajectory
from .kernel_io import LossWindow, Position, StepSettings, scheduled_lr, set_lr_scale
from .losses import LOSS_CODE
from .model import ACTIVATION, Layout, build_layout, init_params
from .phases import new_workspace
from .snapshot import Pictures, Snapshot, UnitMaps, frozen

HISTOGRAM_BINS = 32
UNIT_MAP_SHAPE = (16, 16)     # rows, cols of each unit's map: thumbnails a few characters wide

_SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
_LOSS_FOR_TASK = {"binary": "bce", "multiclass": "softmax", "regression": "mse"}
_LOSSES_FOR_TASK = {
    "binary": ("bce", "mse"),
    "multiclass": ("softmax", "mse"),
    "regression": ("mse",),
}


def loss_code(loss: str, task: str) -> int:
    """The kernel's loss code. MSE on a binary task compares the sigmoid output with 0/1."""
    loss = _LOSS_FOR_TASK[task] if loss == "auto" else loss
    if loss not in _LOSSES_FOR_TASK[task]:
        raise ConfigError("train.loss", f"expected one of {', '.join(_LOSSES_FOR_TASK[task])} "
                                        f"for {task} data, got {loss!r}")
    return LOSS_CODE["mse_sigmoid" if loss == "mse" and task == "binary" else loss]


class TrainState(NamedTuple):
    """Copies of everything the next training step reads and writes, so that step can be
    taken aside (``core.trace``) without touching the run."""

    params: np.ndarray          # (P,)
    first: np.ndarray           # (P,) momentum / Adam's m
    second: np.ndarray          # (P,) RMSprop / Adam's v
    weight_mask: np.ndarray     # (P,) 1 on weights, 0 on biases
    counters: np.ndarray        # the run's Position
    streams: np.ndarray         # the random streams (shuffles, dropout masks)
    order: np.ndarray           # (n_train,) this epoch's batch order
    hyper: np.ndarray           # its StepSettings, as the kernels read them
    codes: np.ndarray
    batch_rows: int
    capacity: int               # rows a workspace must hold
    loss_code: int


class Run:
    """A network training on its data; see the module docstring.

    ``config`` is a nested dict with the tables of a scenario file (``data``, ``model``,
    ``train``) or a ``RunConfig``. ``base_dir`` resolves a relative CSV path. ``dataset``
    replaces the one the config would build (tests, or several runs sharing one dataset).
    ``alongside`` is how many runs, this one included, are held in memory at once: they share
    the memory budget.
    """

    def __init__(self, config: dict | RunConfig, *, name: str = "base",
                 base_dir: Path | None = None, dataset: Dataset | None = None,
                 alongside: int = 1):
        self.name = name
        self.config = config_from_dict(config)
        self.boundary_shape = (40, 40)
        self._base_dir = base_dir
        self._alongside = alongside
        self.trajectory: Trajectory | None = None     # the weights at each check, when recorded
        warmup.begin()      # a first start: the kernels compile in helper processes meanwhile
        self._build(dataset)

    # --- construction ----------------------------------------------------------------------

    def _build(self, dataset: Dataset | None) -> None:
        cfg = self.config
        data_seed, init_seed, stream_seed = np.random.SeedSequence(cfg.train.seed).generate_state(3)
        if dataset is None:     # a file too big to read is refused before it is read
            check_data_budget(file_bytes(cfg.data, self._base_dir), available_bytes(), self._alongside)
        self._data_seed = int(data_seed)
        self.dataset = dataset or build_dataset(cfg.data, self._data_seed, self._base_dir)
        self._loss_code = loss_code(cfg.train.loss, self.dataset.task)
        n_train, n_inputs = self.dataset.x_train.shape
        self.layout: Layout = build_layout(n_inputs, self.dataset.n_outputs, cfg.model)
        # A batch larger than the training split is the full batch (the kernel takes what there is).
        self._batch_rows = min(cfg.train.batch_size or n_train, n_train)
        split_rows = tuple(len(getattr(self.dataset, f"y_{split}")) for split in ("train", "val", "test"))
        check_budget(run_bytes(self.layout.widths, self._batch_rows, split_rows), available_bytes(),
                     self._alongside)
        self._initial_params = init_params(self.layout, cfg.model, np.random.default_rng(init_seed))
        self._initial_streams = np.random.default_rng(stream_seed).integers(
            0, 2**63, size=2, dtype=np.uint64)
        self._weight_mask = self.layout.weight_mask().astype(np.float64)
        self._hist_limits = np.array([max(1.0, 1.5 * float(np.abs(W).max(initial=0.0)))
                                      for W, _ in self.layout.unflatten(self._initial_params)])

        widths = self.layout.widths
        capacity = max(self._batch_rows, MIN_KERNEL_ROWS)   # rows per kernel call, training or predicting
        n_params = self.layout.n_params
        self.params = np.empty(n_params)
        self._grads = np.zeros(n_params)
        self._first = np.zeros(n_params)
        self._second = np.zeros(n_params)
        self._previous = np.zeros(n_params)
        self._workspace = new_workspace(widths, capacity)
        self._capacity = capacity
        self._order = np.empty(n_train, dtype=np.int64)
        self._counters = Position.array()
        self._position = Position(self._counters)
        self._streams = np.empty(2, dtype=np.uint64)
        self._initial_loss = np.zeros(1)
        self._hyper, self._codes = StepSettings.arrays()
        n_layers = self.layout.n_layers
        self._window_loss = LossWindow()
        self._window_grad_norms = np.zeros(n_layers)
        self._update_ratio_now = np.full(n_layers, np.nan)
        self._logits = {split: np.zeros((len(getattr(self.dataset, f"y_{split}")),
                                         self.dataset.n_outputs))
                        for split in ("train", "val", "test")}
        self._scratch = {split: np.zeros_like(logits) for split, logits in self._logits.items()}
        self._history = HistoryBuffer(n_layers)
        self._unit_inputs: dict[tuple[int, int], np.ndarray] = {}     # unit_maps' rows, by grid shape
        self.reset()

    def _sync_settings(self) -> None:
        """Copy the mutable settings into the arrays the kernel reads."""
        StepSettings.of(self.config, self._loss_code, self._lr_scale).write(self._hyper, self._codes)

    # --- public API ------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to step 0 with the same initial weights and batch order; settings changed with
        ``set`` are kept, so a change can be compared from the same start."""
        self.params[:] = self._initial_params
        self._first[:] = 0.0
        self._second[:] = 0.0
        self._counters[:] = 0
        self._streams[:] = self._initial_streams
        self._order[:] = np.arange(len(self._order))
        self._initial_loss[0] = 0.0
        self._lr_scale = 1.0
        self._history.clear()
        if self.trajectory is not None:
            self.trajectory.clear()
        self._window_loss.clear()
        self._window_grad_norms[:] = 0.0
        self._update_ratio_now[:] = np.nan
        self._grad_norms = np.full(self.layout.n_layers, np.nan)
        self._update_ratios = np.full(self.layout.n_layers, np.nan)
        self.stopped_early = False
        self.best_step: int | None = None
        self._best_val_loss = np.inf
        self._best_params = None
        self._plateau_best = np.inf
        self._plateau_bad_checks = 0
        self._early_bad_checks = 0
        self._sync_settings()
        self._check()

    def record_trajectory(self, capacity: int) -> None:
        """From now on keep the weights at each check, at most ``capacity`` of them (thinned as
        the history is): the path the loss landscape draws (``core.landscape``). Reading only:
        no result changes."""
        self.trajectory = Trajectory(self.layout.n_params, capacity)
        self.trajectory.add(self.step, self.params)

    def reseed(self, seed: int) -> None:
        """Start again from new initial weights, data sample and batch order."""
        self.config = with_value(self.config, "train.seed", seed)
        self._build(None)

    def set(self, key: str, value) -> None:
        """Change a setting (``train.lr``, ``model.dropout``, ``train.optimizer``, …) from the
        next step on. Switching optimizer starts its moments from zero."""
        if key not in LIVE_KEYS:
            with_value(self.config, key, value)   # a bad key or value is reported as such first
            raise ConfigError(key, "cannot change during a run (it defines a different run); "
                                   f"settable keys: {', '.join(sorted(LIVE_KEYS))}")
        old_optimizer = self.config.train.optimizer
        self.config = with_value(self.config, key, value)
        if self.config.train.optimizer != old_optimizer:
            self._first[:] = 0.0
            self._second[:] = 0.0
            self._position.restart_optimizer()
        self._sync_settings()
        if key == "train.steps" and self.finished and self._checked_at != self.step:
            self._check()   # the run ends here, off a check boundary: its end is measured too

    @property
    def step(self) -> int:
        return self._position.step

    @property
    def epoch(self) -> int:
        return self._position.epoch

    @property
    def diverged_step(self) -> int | None:
        """The step whose loss or weights went non-finite or exploded, if one did."""
        return self._position.diverged_at

    @property
    def diverged(self) -> bool:
        return self.diverged_step is not None

    @property
    def finished(self) -> bool:
        """Nothing more to train: diverged, stopped early, or reached ``train.steps``."""
        return self.diverged or self.stopped_early or self.step >= self.config.train.steps

    @property
    def history(self):
        return self._history.view()

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self._order) // self._batch_rows)

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of ``"train"``, ``"val"`` or ``"test"``, after cleaning and normalising."""
        key = _SPLITS[which]
        return (getattr(self.dataset, f"x_{key}").copy(), getattr(self.dataset, f"y_{key}").copy())

    def get_params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-layer ``(W, b)`` copies, ``W`` shaped ``(n_in, n_out)``: ``y = x @ W + b``."""
        return [(W.copy(), b.copy()) for W, b in self.layout.unflatten(self.params)]

    def set_params(self, params) -> None:
        """Load per-layer ``(W, b)`` (as from ``get_params``) into the network."""
        current = self.layout.unflatten(self.params)
        if len(params) != len(current):
            raise ValueError(f"expected {len(current)} layers, got {len(params)}")
        new = [(np.asarray(W, float), np.asarray(b, float)) for W, b in params]
        for i, ((W, b), (W_new, b_new)) in enumerate(zip(current, new)):
            if W_new.shape != W.shape or b_new.shape != b.shape:
                raise ValueError(f"layer {i}: expected W {W.shape} and b {b.shape}, "
                                 f"got {W_new.shape} and {b_new.shape}")
        for (W, b), (W_new, b_new) in zip(current, new):
            W[:] = W_new
            b[:] = b_new

    def train_state(self) -> TrainState:
        """Copies of the state the next step trains with; changing them changes nothing here."""
        return TrainState(
            self.params.copy(), self._first.copy(), self._second.copy(), self._weight_mask.copy(),
            self._counters.copy(), self._streams.copy(), self._order.copy(), self._hyper.copy(),
            self._codes.copy(), self._batch_rows, self._capacity, self._loss_code)

    def advance(self, n_steps: int, *, past_end: bool = False) -> Snapshot:
        """Train up to ``n_steps`` more steps and return the snapshot after them.

        Stops early at divergence, at early stopping, and at ``train.steps`` unless
        ``past_end`` (the Playground trains until the user pauses it).
        """
        remaining = n_steps
        eval_every = self.config.train.eval_every
        while remaining > 0 and not self.diverged and not self.stopped_early:
            limit = eval_every - self.step % eval_every
            if not past_end:
                limit = min(limit, self.config.train.steps - self.step)
            if limit <= 0:
                break
            done = self._train(min(remaining, limit))
            remaining -= done
            if self.diverged or self.step % eval_every == 0 or self.step == self.config.train.steps:
                self._check()
        return self.snapshot()

    def evaluate(self, which: str) -> tuple[float, float]:
        """Loss and accuracy (NaN for regression) on a whole split, dropout off."""
        return self._measure(_SPLITS[which])

    def evaluate_fresh(self, n: int) -> tuple[float, float]:
        """Loss and accuracy (dropout off) on ``n`` new points from the data's own generator,
        drawn from the data seed (``core.data.fresh``): the same sample for every run that
        shares this run's data and seed, and never seen by training, validation or test."""
        x, y = fresh_sample(self.config.data, self._data_seed, n, self.dataset)
        logits = np.zeros((len(y), self.dataset.n_outputs))
        warmup.wait("check")
        loss, accuracy = kernels.measure(self._loss_code, self.params, self.layout.table, x, y,
                                         self._capacity, self._workspace, logits, np.zeros_like(logits))
        return float(loss), float(accuracy)

    def pictures(self) -> Pictures:
        """What the dashboard draws of the weights now: each layer's histogram and, for 2-D
        data, the decision boundary (one kernel call over the plane's grid)."""
        hist = np.zeros((self.layout.n_layers, HISTOGRAM_BINS))
        edges = np.zeros((self.layout.n_layers, HISTOGRAM_BINS + 1))
        for i, (W, _) in enumerate(self.layout.unflatten(self.params)):
            edges[i] = np.linspace(-self._hist_limits[i], self._hist_limits[i], HISTOGRAM_BINS + 1)
            weights = np.clip(W.ravel(), edges[i, 0], edges[i, -1])
            hist[i] = np.histogram(weights[np.isfinite(weights)], bins=edges[i])[0]
        boundary, extent = self._boundary()
        return Pictures(step=self.step, weight_hist=frozen(hist), weight_hist_edges=frozen(edges),
                        boundary=boundary, boundary_extent=extent)

    def snapshot(self) -> Snapshot:
        """The current state, as an immutable record."""
        return Snapshot(
            name=self.name, step=self.step, epoch=self.epoch, lr=self.current_lr,
            measured_step=self._checked_at,
            train_loss=self._metrics[0], val_loss=self._metrics[1],
            train_acc=self._metrics[2], val_acc=self._metrics[3],
            grad_norms=frozen(self._grad_norms), update_ratios=frozen(self._update_ratios),
            diverged=self.diverged, diverged_step=self.diverged_step,
            stopped_early=self.stopped_early, best_step=self.best_step,
            finished=self.finished, history=self.history,
        )

    def peek(self) -> Snapshot:
        """The snapshot with its losses, accuracies and gradient norms measured at this very
        step, between checks (a learner stepping by hand sees each step's effect). The run's
        checks, history, early stopping and schedule are untouched, so no result changes."""
        snap = self.snapshot()
        if self.step == self._checked_at:
            return snap
        train_loss, train_acc = self._measure("train")
        val_loss, val_acc = self._measure("val")
        steps = self._window_loss.steps
        grad_norms = self._window_grad_norms / steps if steps else self._grad_norms
        return dataclasses.replace(snap, measured_step=self.step, train_loss=train_loss,
                                   val_loss=val_loss, train_acc=train_acc, val_acc=val_acc,
                                   grad_norms=frozen(grad_norms))

    @property
    def current_lr(self) -> float:
        """The learning rate the next step will use (schedule and plateau included)."""
        return scheduled_lr(self._hyper, self._codes, self.step)

    # --- internals -------------------------------------------------------------------------

    def _train(self, n: int) -> int:
        warmup.wait("train")
        done = kernels.train_chunk(
            self.params, self._grads, self._first, self._second, self._previous,
            self._weight_mask, self.layout.table, self.dataset.x_train, self.dataset.y_train,
            self._order, self._counters, self._streams, self._hyper, self._codes,
            self._batch_rows, n, self._workspace, self._initial_loss,
            self.config.train.eval_every, self._window_loss.array, self._window_grad_norms,
            self._update_ratio_now)
        return done

    def _measure(self, split: str) -> tuple[float, float]:
        warmup.wait("check")
        logits = self._logits[split]
        loss, accuracy = kernels.measure(
            self._loss_code, self.params, self.layout.table, getattr(self.dataset, f"x_{split}"),
            getattr(self.dataset, f"y_{split}"), self._capacity, self._workspace, logits,
            self._scratch[split])
        return float(loss), float(accuracy)

    def _check(self) -> None:
        """Measure both splits, record a history row, apply plateau and early stopping."""
        train_loss, train_acc = self._measure("train")
        val_loss, val_acc = self._measure("val")
        self._metrics = (train_loss, val_loss, train_acc, val_acc)
        self._checked_at = self.step
        steps = self._window_loss.steps
        if steps:
            self._grad_norms = self._window_grad_norms / steps
            self._update_ratios = self._update_ratio_now.copy()
        batch_loss, batch_loss_std = self._window_loss.mean_and_std()
        self._window_loss.clear()
        self._window_grad_norms[:] = 0.0
        self._history.append(self.step, self.epoch, self.current_lr, train_loss, val_loss,
                             train_acc, val_acc, batch_loss, batch_loss_std, self._grad_norms,
                             self._update_ratios)
        if self.trajectory is not None:
            self.trajectory.add(self.step, self.params)
        if self.diverged:
            return
        t = self.config.train
        improved = val_loss < self._best_val_loss
        if improved:
            self._best_val_loss = val_loss
            self.best_step = self.step
            if t.early_stopping:
                self._best_params = self.params.copy()
        if t.plateau_patience:
            if val_loss < self._plateau_best:
                self._plateau_best = val_loss
                self._plateau_bad_checks = 0
            else:
                self._plateau_bad_checks += 1
                if self._plateau_bad_checks >= t.plateau_patience:
                    self._lr_scale *= t.plateau_factor
                    set_lr_scale(self._hyper, self._lr_scale)
                    self._plateau_bad_checks = 0
        if t.early_stopping:
            self._early_bad_checks = 0 if improved else self._early_bad_checks + 1
            if self._early_bad_checks >= t.early_stopping:
                self.stopped_early = True
                if t.restore_best and self._best_params is not None:
                    self.params[:] = self._best_params
                    train_loss, train_acc = self._measure("train")
                    val_loss, val_acc = self._measure("val")
                    self._metrics = (train_loss, val_loss, train_acc, val_acc)

    def _plane_inputs(self, shape: tuple[int, int]) -> np.ndarray:
        """The network's inputs at a ``(rows, cols)`` grid over the data plane, row after row
        from x2_min (2-D data only)."""
        rows, cols = shape
        x1_min, x1_max, x2_min, x2_max = self.dataset.plane.extent
        x1, x2 = np.meshgrid(np.linspace(x1_min, x1_max, cols), np.linspace(x2_min, x2_max, rows))
        return np.ascontiguousarray(
            self.dataset.plane.featurize(np.column_stack([x1.ravel(), x2.ravel()])))

    def _boundary(self):
        """The model's output over the data plane, for 2-D inputs (see ``Snapshot``)."""
        plane = self.dataset.plane
        if plane is None:
            return None, None
        rows, cols = self.boundary_shape
        inputs = self._plane_inputs(self.boundary_shape)
        logits = np.zeros((rows * cols, self.dataset.n_outputs))
        kernels.predict(self.params, self.layout.table, inputs, self._capacity, self._workspace,
                        logits)
        if self.dataset.task == "binary":
            with np.errstate(over="ignore"):      # a huge negative logit is simply probability 0
                grid = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        elif self.dataset.task == "multiclass":
            grid = logits.argmax(axis=1).astype(float)
        else:
            grid = logits[:, 0]
        return frozen(grid.reshape(rows, cols)), tuple(float(v) for v in plane.extent)

    def unit_values(self, inputs: np.ndarray) -> np.ndarray:
        """Every unit's act(z) (the output layer's: its logits) at each row of ``inputs``
        (N, n_in), as ``predict`` computes them: (N, U), first hidden layer's units first."""
        outputs = np.zeros((len(inputs), sum(self.layout.widths[1:])))                  # (N, U)
        warmup.ensure("pictures")
        kernels.unit_outputs(self.params, self.layout.table, np.ascontiguousarray(inputs),
                             self._capacity, self._workspace, outputs)
        return outputs

    def unit_maps(self, shape: tuple[int, int] = UNIT_MAP_SHAPE) -> UnitMaps:
        """What every unit computes now (see ``UnitMaps``), from one kernel call over the
        ``(rows, cols)`` grid of the data plane (2-D data) and the training points together."""
        rows, cols = shape
        inputs = self._unit_inputs.get(shape)
        if inputs is None:
            parts = [self.dataset.x_train]
            if self.dataset.plane is not None:
                parts.insert(0, self._plane_inputs(shape))
            inputs = self._unit_inputs[shape] = np.ascontiguousarray(np.concatenate(parts))
        outputs = self.unit_values(inputs)                                          # (G + N, U)
        n_grid = len(inputs) - len(self.dataset.x_train)
        bounds = np.cumsum((0, *self.layout.widths[1:]))
        columns = [inputs[:n_grid]] + [outputs[:n_grid, a:b] for a, b in zip(bounds, bounds[1:])]
        on_train = outputs[n_grid:]
        params = self.layout.unflatten(self.params)
        grads = self.layout.unflatten(self._grads)
        plane = self.dataset.plane
        return UnitMaps(
            step=self.step, feature_names=self.dataset.feature_names,
            activations=tuple(ACTIVATION_NAME[code] for code in self.layout.table[:, ACTIVATION]),
            extent=None if plane is None else tuple(float(v) for v in plane.extent),
            maps=() if plane is None else tuple(frozen(c.T.reshape(-1, rows, cols)) for c in columns),
            zero_share=tuple(frozen((on_train[:, a:b] == 0.0).mean(axis=0) if len(on_train)
                                    else np.zeros(b - a)) for a, b in zip(bounds, bounds[1:])),
            weights=tuple(frozen(W) for W, _ in params),
            biases=tuple(frozen(b) for _, b in params),
            grad_mean=tuple(frozen(np.abs(dW).mean(axis=0)) for dW, _ in grads),
        )

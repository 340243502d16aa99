"""What a run looks like at one moment: the immutable record every observer reads.

The TUI panes, the headless runner, the metrics writer and the expectation checker all read
``Snapshot`` objects and nothing else, so they can never disagree about a number. Arrays in a
snapshot are read-only copies: holding one never pins or races the run's live buffers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def frozen(array, dtype=np.float64) -> np.ndarray:
    """A read-only copy, safe to hand to another thread."""
    out = np.array(array, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class History:
    """Bounded per-check history of a run (downsampled as it grows, so memory stays constant).

    One row per validation check (every ``train.eval_every`` steps), oldest first.
    ``batch_loss`` and ``batch_loss_std`` are the mean and spread of the training batches'
    losses since the previous check (NaN at step 0): how noisy the steps were.
    ``grad_norms`` and ``update_ratios`` are ``(n_rows, n_layers)``.
    """

    step: np.ndarray
    epoch: np.ndarray
    lr: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray
    batch_loss: np.ndarray
    batch_loss_std: np.ndarray
    grad_norms: np.ndarray
    update_ratios: np.ndarray

    def __len__(self) -> int:
        return len(self.step)


@dataclass(frozen=True)
class Snapshot:
    """The state of a run after ``step`` training steps.

    Losses are data losses without the L1/L2 penalty, measured on the whole split with dropout
    off, at the most recent validation check (``measured_step``; ``Run.peek`` measures them
    at ``step`` itself). Accuracies are NaN for regression.
    ``grad_norms`` / ``update_ratios`` are per layer (first hidden layer first), averaged over
    the steps since the previous check. What the dashboard draws of the weights is not here
    but in ``Pictures``, which only the dashboard asks for.
    """

    name: str
    step: int
    epoch: int
    lr: float
    measured_step: int          # the step the losses, accuracies and gradient norms are from
    train_loss: float
    val_loss: float
    train_acc: float
    val_acc: float
    grad_norms: np.ndarray
    update_ratios: np.ndarray
    diverged: bool
    diverged_step: int | None
    stopped_early: bool
    best_step: int | None
    finished: bool
    history: History

    @property
    def state(self) -> str:
        """One word for a status line: diverged, stopped early, finished or running."""
        if self.diverged:
            return "diverged"
        if self.stopped_early:
            return "stopped early"
        if self.finished:
            return "finished"
        return "running"


@dataclass(frozen=True, eq=False)
class Pictures:
    """What the dashboard draws of a run's weights at ``step`` (``Run.pictures``): costly enough
    that a headless run, which draws nothing, never makes them.

    ``weight_hist`` is ``(n_layers, n_bins)`` counts of each layer's weights over the fixed
    edges ``weight_hist_edges`` ``(n_layers, n_bins + 1)``; values outside the edges land in the
    end bins. ``boundary`` is, for 2-D inputs, the model's output over ``boundary_extent`` =
    (x1_min, x1_max, x2_min, x2_max) as a ``(rows, cols)`` grid, row 0 at x2_min: the
    probability of class 1 (binary), the predicted class (multiclass) or the predicted value
    (regression); otherwise None.
    """

    step: int
    weight_hist: np.ndarray
    weight_hist_edges: np.ndarray
    boundary: np.ndarray | None
    boundary_extent: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class UnitMaps:
    """What every unit of a run computes at ``step``, for drawing the network unit by unit.

    ``maps`` (2-D data only, otherwise empty) holds, inputs first, each column's values over
    ``extent`` as ``(n_units, rows, cols)``, row 0 at x2_min: the input features, then each
    layer's act(z) (the output layer's: its logits). ``zero_share`` per layer ``(n_units,)``
    is the fraction of the training points on which the unit outputs exactly 0 (1: a dead
    ReLU). ``weights`` ``(n_in, n_out)`` and ``biases`` are each layer's parameters;
    ``grad_mean`` ``(n_out,)`` is the mean |dL/dw| over each unit's incoming weights at the
    last step taken (the gradient the update used; zeros before the first step).
    """

    step: int
    feature_names: tuple[str, ...]
    activations: tuple[str, ...]            # per layer; "linear" for the output layer
    extent: tuple[float, float, float, float] | None
    maps: tuple[np.ndarray, ...]
    zero_share: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    grad_mean: tuple[np.ndarray, ...]

    @property
    def widths(self) -> tuple[int, ...]:
        """Units per column: inputs, each hidden layer, outputs."""
        return (len(self.feature_names), *(len(b) for b in self.biases))

    def dead(self, layer: int) -> np.ndarray:
        """``(n_units,)`` True where layer ``layer``'s unit outputs 0 on every training point."""
        return self.zero_share[layer] >= 1.0

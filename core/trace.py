"""One training step, phase by phase, as an immutable record: what ``nnsim trace`` prints and
the step-through screen walks.

``trace_step`` takes a run's next step on copies of the run's state (``Run.train_state``) with
the very kernels that train (``kernels.next_batch``, then ``kernels.train_step``) and reads each
phase's result out of the workspace the step leaves behind: the activations, the dropout masks,
dL/dlogits, and backpropagation's dL/d(outputs) and dL/dz of every layer, which the backward
kernel writes to a place per layer (``phases.Workspace``). The run itself is left as it was,
so ``advance(1)`` then takes the same step and lands on the same weights, bit for bit; the
tests hold the trace to it.

What training computes but does not keep is recomputed for the reader by the kernels that
computed it: each layer's pre-activation z (the forward pass applies the activation in place),
act'(z) (``activation_slope``, from the act(z) the workspace keeps), each example's own loss
(``output_loss`` on its row), the gradient before the penalties and clipping (``backward``
again, into a gradient of its own) and the penalties' part (``regularise`` of a zero
gradient). The loss on the same batch after the update is one more forward pass, with the
masks that trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import kernels, warmup
from .activations import ACTIVATION_NAME, activation_slopes
from .config import TrainConfig
from .linalg import matmul
from .losses import LOSS_CODE, output_loss
from .model import ACTIVATION, N_IN, N_OUT, RESIDUAL
from .driver import ScriptedRun
from .kernel_io import Position, dropout_rate, scheduled_lr
from .phases import backward, forward, logits_view, new_workspace, regularise
from .phases import loss as batch_loss
from .run import Run
from .scenario import Scenario
from .snapshot import frozen

_LOSS_NAME = {code: name for name, code in LOSS_CODE.items()}
LOSS_IN_WORDS = {      # each loss function, as a learner reads it
    "mse": "the mean over examples and outputs of (logit - target)^2",
    "mse_sigmoid": "the mean over examples of (sigmoid(logit) - target)^2",
    "bce": "the mean over examples of -ln p of the true class, p = sigmoid(logit)",
    "softmax": "the mean over examples of -ln p of the true class, p = softmax(logits)",
}
EXAMPLE_GRADIENT_IN_WORDS = {   # one example's own d(its loss)/d(logit), before the mean's ÷
    "mse": "2 (logit - target)",
    "mse_sigmoid": "2 (p - y) p (1 - p)",
    "bce": "p - y",
    "softmax": "p - y",
}
OPTIMIZER_IN_WORDS = {  # what "step" is in w <- w - lr x step
    "sgd": "the step is the gradient itself",
    "momentum": "the step is the velocity: momentum x the last velocity + the gradient",
    "nesterov": "the step looks ahead along the velocity (momentum x velocity + gradient)",
    "rmsprop": "the step is the gradient / sqrt(running mean of gradient^2)",
    "adam": "the step is m / (sqrt(v) + eps): running means of the gradient and its square",
    "adamw": "Adam's step, and every weight shrinks by lr x weight_decay",
}


class TraceError(ValueError):
    """The step asked for is one the run never takes."""


@dataclass(frozen=True)
class LayerTrace:
    """One layer's part of the step. B = batch rows; a layer maps n_in values to n_out."""

    activation: str                   # "linear" for the output layer: the loss applies its own
    residual: bool                    # outputs = act(z) × mask + inputs
    inputs: np.ndarray                # (B, n_in) what the layer received
    pre_activations: np.ndarray       # (B, n_out) z = inputs @ W + b
    activations: np.ndarray           # (B, n_out) act(z)
    dropout_mask: np.ndarray | None   # (B, n_out) the inverted-dropout mask that trained, or None
    outputs: np.ndarray               # (B, n_out) what the layer passed on
    weights_before: np.ndarray        # (n_in, n_out) W, so that z = inputs @ W + b
    biases_before: np.ndarray         # (n_out,)
    data_grad_weights: np.ndarray     # (n_in, n_out) dL/dW of the batch loss: backpropagation's
    data_grad_biases: np.ndarray      # (n_out,)
    penalty_grad_weights: np.ndarray | None  # (n_in, n_out) the L1 and L2 terms added, or None
    grad_weights: np.ndarray          # (n_in, n_out) the gradient the update used
    grad_biases: np.ndarray           # (n_out,)
    grad_norm: float                  # ‖dL/dW‖ of the batch loss, before penalties and clipping
    grad_outputs: np.ndarray          # (B, n_out) dL/d(outputs), from the layer above
    slopes: np.ndarray                # (B, n_out) act'(z): the chain rule's factor at each unit
    deltas: np.ndarray                # (B, n_out) dL/dz = dL/d(outputs) × mask × act'(z)
    first_before: np.ndarray          # (n_in, n_out) the optimizer's first moment of W (velocity,
    first_after: np.ndarray           #   Adam's m) before and after the step
    second_before: np.ndarray         # (n_in, n_out) its second moment (RMSprop's, Adam's v)
    second_after: np.ndarray
    weights_after: np.ndarray         # (n_in, n_out)
    biases_after: np.ndarray          # (n_out,)


@dataclass(frozen=True)
class StepTrace:
    """Training step ``step`` (0-based: the step taken after ``step`` steps) of one run."""

    run_name: str
    step: int
    epoch: int
    batch_rows: np.ndarray            # (B,) the examples' rows in the training split
    batch_start: int                  # where the batch starts in this epoch's order
    train_rows: int                   # rows of the training split: an epoch's examples
    batch_size: int                   # rows a batch has when the epoch has that many left
    inputs: np.ndarray                # (B, n_in)
    targets: np.ndarray               # (B, K)
    logits: np.ndarray                # (B, K) the output layer's outputs
    loss_function: str                # mse, bce, softmax, or mse_sigmoid (MSE on a binary task)
    example_losses: np.ndarray        # (B,) each example's own loss (its outputs' mean for MSE)
    loss: float                       # the batch's mean loss, penalties excluded
    dlogits: np.ndarray               # (B, K) dL/dlogits
    penalty: float                    # l1·Σ|w| + l2/2·Σw² (L1 when a gradient), not in ``loss``
    grad_norm_total: float            # ‖gradient‖ of every parameter, penalties in, before clipping
    clip_scale: float                 # clip_norm / grad_norm_total when that shortened it, else 1
    optimizer: str
    learning_rate: float              # schedule and reduce-on-plateau included
    optimizer_t: int                  # this step's count of the optimizer's steps (Adam's t)
    train: TrainConfig                # the settings the step used (penalties, clip, moments)
    layers: tuple[LayerTrace, ...]
    loss_after: float                 # the same batch's loss (same masks) with the weights after

    @property
    def loss_divisor(self) -> int:
        """What the batch's loss divides the sum of its terms by: B, or B × K for MSE (a mean
        over every output), so dL/dlogits is each example's own gradient ÷ this."""
        rows, outputs = self.logits.shape
        return rows * outputs if self.loss_function in ("mse", "mse_sigmoid") else rows

    @property
    def predictions(self) -> np.ndarray:
        """(B, K) what the network predicts from its logits, as the loss reads them: the
        probabilities p for a classifier, the logits themselves for regression."""
        if self.loss_function in ("bce", "mse_sigmoid"):
            return 1.0 / (1.0 + np.exp(-self.logits))
        if self.loss_function == "softmax":
            shifted = np.exp(self.logits - self.logits.max(axis=1, keepdims=True))
            return shifted / shifted.sum(axis=1, keepdims=True)
        return self.logits

    @property
    def batch_in_words(self) -> str:
        """The batch and its place in the epoch: a short last batch says why it is short."""
        rows = len(self.batch_rows)
        if rows == self.train_rows:
            return f"a batch of {rows}: every training example"
        if rows < self.batch_size:
            return (f"a batch of {rows}: the last of epoch {self.epoch}, "
                    f"{rows} of {self.train_rows} left")
        return f"a batch of {rows} of the {self.train_rows} training examples"

    @property
    def example_dlogits(self) -> np.ndarray:
        """(B, K) each example's own dℓ/dlogits: dL/dlogits × ``loss_divisor``."""
        return self.dlogits * self.loss_divisor

    @property
    def l1_proximal(self) -> bool:
        """L1 acts in the update (a shrink towards zero), not as a gradient term."""
        return self.train.l1 > 0.0 and self.train.l1_mode == "proximal"

    @property
    def penalised(self) -> bool:
        """A penalty term is part of the gradient."""
        return self.train.l2 > 0.0 or (self.train.l1 > 0.0 and not self.l1_proximal)


def trace_step(run: Run) -> StepTrace:
    """The run's next training step, phase by phase; the run is not changed."""
    warmup.ensure("later")
    layout, table = run.layout, run.layout.table
    train = run.config.train
    state = run.train_state()
    params, order, counters = state.params, state.order, state.counters
    first_before, second_before = state.first.copy(), state.second.copy()
    grads = np.zeros_like(params)
    ws = new_workspace(layout.widths, state.capacity)
    start = Position(counters).cursor
    rows = kernels.next_batch(run.dataset.x_train, run.dataset.y_train, order, counters,
                              state.streams, state.batch_rows, ws)
    learning_rate = scheduled_lr(state.hyper, state.codes, run.step)
    grad_norms = np.zeros(layout.n_layers)
    loss = kernels.train_step(params, grads, state.first, state.second, state.weight_mask, table,
                              rows, ws, grad_norms, counters, state.streams, state.hyper,
                              state.codes)
    dropout = dropout_rate(state.hyper)
    # The gradient before penalties and clipping, and the penalties' part: the same kernels
    # once more, on the batch the workspace still holds (with scratch of their own, so the
    # chain rule's factors read below are the ones the step itself wrote).
    data_grads = np.zeros_like(params)
    backward(run.params, table, rows, ws.acts, ws.units, ws.masks, ws.dlogits,
             np.zeros_like(ws.dz), np.zeros_like(ws.grad_outputs), dropout, data_grads)
    l1_gradient = 0.0 if train.l1_mode == "proximal" else train.l1
    penalty_grads = np.zeros_like(params)
    penalty = regularise(run.params, table, penalty_grads, l1_gradient, train.l2, 0.0)
    penalised = data_grads + penalty_grads
    grad_norm_total = math.sqrt(float(np.dot(penalised, penalised)))
    clip_scale = (train.clip_norm / grad_norm_total
                  if 0.0 < train.clip_norm < grad_norm_total else 1.0)
    n_inputs, n_outputs = layout.widths[0], layout.widths[-1]
    dlogits = ws.dlogits[:rows * n_outputs].reshape(rows, n_outputs)
    logits = logits_view(table, rows, ws.units)
    targets = ws.targets[:rows * n_outputs].reshape(rows, n_outputs)
    layers = []
    a_off = u_off = 0
    per_layer = zip(*(layout.unflatten(flat) for flat in (
        run.params, data_grads, penalty_grads, grads, first_before, state.first, second_before,
        state.second, params)))
    for i, ((W, b), (W_data, b_data), (W_penalty, _), (W_grad, b_grad), (m_before, _),
            (m_after, _), (v_before, _), (v_after, _), (W_after, b_after)) in enumerate(per_layer):
        n_in, n_out = table[i, N_IN], table[i, N_OUT]
        inputs = ws.acts[a_off:a_off + rows * n_in].reshape(rows, n_in)
        a_off += rows * n_in
        here = slice(u_off, u_off + rows * n_out)
        u_off += rows * n_out
        units = ws.units[here].reshape(rows, n_out)
        products = np.zeros((rows, n_out))
        matmul(inputs, W, products)
        hidden = i < layout.n_layers - 1
        slopes = np.ones((rows, n_out))
        if hidden:          # the output layer's slope is folded into the loss
            activation_slopes(table[i, ACTIVATION], units, slopes)
        layers.append(LayerTrace(
            activation=ACTIVATION_NAME[table[i, ACTIVATION]], residual=bool(table[i, RESIDUAL]),
            inputs=frozen(inputs), pre_activations=frozen(products + b), activations=frozen(units),
            dropout_mask=frozen(ws.masks[here].reshape(rows, n_out)) if hidden and dropout > 0.0
            else None,
            outputs=frozen(ws.acts[a_off:a_off + rows * n_out].reshape(rows, n_out)),
            weights_before=frozen(W), biases_before=frozen(b),
            data_grad_weights=frozen(W_data), data_grad_biases=frozen(b_data),
            penalty_grad_weights=frozen(W_penalty) if train.l2 > 0.0 or l1_gradient > 0.0
            else None,
            grad_weights=frozen(W_grad), grad_biases=frozen(b_grad),
            grad_norm=float(grad_norms[i]),
            grad_outputs=frozen(ws.grad_outputs[here].reshape(rows, n_out) if hidden else dlogits),
            slopes=frozen(slopes), deltas=frozen(ws.dz[here].reshape(rows, n_out)),
            first_before=frozen(m_before), first_after=frozen(m_after),
            second_before=frozen(v_before), second_after=frozen(v_after),
            weights_after=frozen(W_after), biases_after=frozen(b_after)))
    example_losses = np.zeros(rows)
    scratch = np.zeros((1, n_outputs))
    for r in range(rows):
        example_losses[r] = output_loss(state.loss_code, logits[r:r + 1], targets[r:r + 1], scratch)
    trace = dict(
        run_name=run.name, step=run.step, epoch=run.epoch,
        batch_rows=frozen(order[start:start + rows], dtype=np.int64), batch_start=start,
        train_rows=len(order), batch_size=state.batch_rows,
        inputs=frozen(ws.acts[:rows * n_inputs].reshape(rows, n_inputs)),
        targets=frozen(targets), logits=frozen(logits),
        loss_function=_LOSS_NAME[state.loss_code], example_losses=frozen(example_losses),
        loss=float(loss), dlogits=frozen(dlogits), penalty=float(penalty),
        grad_norm_total=grad_norm_total, clip_scale=clip_scale,
        optimizer=train.optimizer, learning_rate=float(learning_rate),
        optimizer_t=Position(counters).optimizer_steps, train=train)
    # The same batch through the updated weights, with the masks that trained (not redrawn).
    forward(params, table, rows, ws.acts, ws.units, ws.masks, dropout, False, state.streams)
    loss_after = batch_loss(state.loss_code, table, rows, ws)
    return StepTrace(**trace, layers=tuple(layers), loss_after=float(loss_after))


def run_to_step(scenario: Scenario, variant: str, step: int) -> Run:
    """A new run of ``variant`` after ``step`` steps, driven by ``ScriptedRun`` as ``nnsim run``
    drives it, so the scenario's events up to ``step`` are applied (one at ``step`` before it)."""
    config = scenario.variant(variant).config
    if step >= config.train.steps:
        raise TraceError(f"--step: expected a step below train.steps ({config.train.steps}) "
                         f"of variant {variant!r}, got {step}")
    scripted = ScriptedRun(Run(config, name=variant, base_dir=scenario.base_dir), scenario)
    scripted.fire_due()
    while scripted.active and scripted.step < step:
        scripted.advance(step - scripted.step, stop_at=step)
        scripted.fire_due()
    run = scripted.run
    if run.step != step or run.diverged or run.stopped_early:
        ended = (f"diverged at step {run.diverged_step}" if run.diverged
                 else f"stopped early at step {run.step}")
        raise TraceError(f"--step: variant {variant!r} {ended}, before step {step}")
    return run

"""One training step, phase by phase, as an immutable record: what ``nnsim trace`` prints and
the step-through screen walks.

``trace_step`` takes a run's next step on copies of the run's state (``Run.train_state``) with
the very kernels that train (``kernels.next_batch``, then ``kernels.train_step``) and reads each
phase's result out of the workspace the step leaves behind. The run itself is left as it was,
so ``advance(1)`` then takes the same step and lands on the same weights, bit for bit; the
tests hold the trace to it.

Two things training never keeps are recomputed for the reader, from what it does keep: each
layer's pre-activation z (the forward pass applies the activation in place), and the chain
rule's factors per unit (backpropagation's scratch is overwritten layer after layer). The loss
on the same batch after the update is one more forward pass, with the masks that trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels
from .activations import ACTIVATION_CODE, ACTIVATION_NAME, activation_slopes
from .linalg import matmul
from .losses import LOSS_CODE
from .model import ACTIVATION, N_IN, N_OUT, RESIDUAL
from .driver import ScriptedRun
from .phases import forward, logits_view, new_workspace
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
    grad_weights: np.ndarray          # (n_in, n_out) the gradient the update used
    grad_biases: np.ndarray           # (n_out,)
    grad_norm: float                  # ‖dL/dW‖ of the batch loss, before penalties and clipping
    grad_outputs: np.ndarray          # (B, n_out) dL/d(outputs), from the layer above
    slopes: np.ndarray                # (B, n_out) act'(z): the chain rule's factor at each unit
    deltas: np.ndarray                # (B, n_out) dL/dz = dL/d(outputs) × mask × act'(z)
    weights_after: np.ndarray         # (n_in, n_out)
    biases_after: np.ndarray          # (n_out,)


@dataclass(frozen=True)
class StepTrace:
    """Training step ``step`` (0-based: the step taken after ``step`` steps) of one run."""

    run_name: str
    step: int
    epoch: int
    batch_rows: np.ndarray            # (B,) the examples' rows in the training split
    inputs: np.ndarray                # (B, n_in)
    targets: np.ndarray               # (B, K)
    logits: np.ndarray                # (B, K) the output layer's outputs
    loss_function: str                # mse, bce, softmax, or mse_sigmoid (MSE on a binary task)
    loss: float                       # the batch's mean loss, penalties excluded
    dlogits: np.ndarray               # (B, K) dL/dlogits
    optimizer: str
    learning_rate: float              # schedule and reduce-on-plateau included
    layers: tuple[LayerTrace, ...]
    loss_after: float                 # the same batch's loss (same masks) with the weights after


def trace_step(run: Run) -> StepTrace:
    """The run's next training step, phase by phase; the run is not changed."""
    layout, table = run.layout, run.layout.table
    state = run.train_state()
    params, order, counters = state.params, state.order, state.counters
    grads = np.zeros_like(params)
    ws = new_workspace(layout.widths, state.capacity)
    start = int(counters[kernels.K_CURSOR])
    rows = kernels.next_batch(run.dataset.x_train, run.dataset.y_train, order, counters,
                              state.streams, state.batch_rows, ws)
    learning_rate = kernels.learning_rate(state.hyper, state.codes[kernels.C_SCHEDULE], run.step)
    grad_norms = np.zeros(layout.n_layers)
    loss = kernels.train_step(params, grads, state.first, state.second, state.weight_mask, table,
                              rows, ws, grad_norms, counters, state.streams, state.hyper,
                              state.codes)
    n_inputs, n_outputs = layout.widths[0], layout.widths[-1]
    dlogits = ws.dlogits[:rows * n_outputs].reshape(rows, n_outputs)
    layers = []
    a_off = u_off = 0
    dropout = state.hyper[kernels.H_DROPOUT]
    for i, ((W, b), (W_grad, b_grad), (W_after, b_after)) in enumerate(zip(
            layout.unflatten(run.params), layout.unflatten(grads), layout.unflatten(params))):
        n_in, n_out = table[i, N_IN], table[i, N_OUT]
        inputs = ws.acts[a_off:a_off + rows * n_in].reshape(rows, n_in)
        a_off += rows * n_in
        units = ws.units[u_off:u_off + rows * n_out].reshape(rows, n_out)
        mask = ws.masks[u_off:u_off + rows * n_out].reshape(rows, n_out)
        u_off += rows * n_out
        products = np.zeros((rows, n_out))
        matmul(inputs, W, products)
        hidden = i < layout.n_layers - 1
        layers.append(dict(
            activation=ACTIVATION_NAME[table[i, ACTIVATION]], residual=bool(table[i, RESIDUAL]),
            inputs=frozen(inputs), pre_activations=frozen(products + b), activations=frozen(units),
            dropout_mask=frozen(mask) if hidden and dropout > 0.0 else None,
            outputs=frozen(ws.acts[a_off:a_off + rows * n_out].reshape(rows, n_out)),
            weights_before=frozen(W), biases_before=frozen(b),
            grad_weights=frozen(W_grad), grad_biases=frozen(b_grad),
            grad_norm=float(grad_norms[i]),
            weights_after=frozen(W_after), biases_after=frozen(b_after)))
    _add_chain_rule(layers, layout.unflatten(run.params), dlogits)
    trace = dict(
        run_name=run.name, step=run.step, epoch=run.epoch,
        batch_rows=frozen(order[start:start + rows], dtype=np.int64),
        inputs=frozen(ws.acts[:rows * n_inputs].reshape(rows, n_inputs)),
        targets=frozen(ws.targets[:rows * n_outputs].reshape(rows, n_outputs)),
        logits=frozen(logits_view(table, rows, ws.units)),
        loss_function=_LOSS_NAME[state.loss_code], loss=float(loss), dlogits=frozen(dlogits),
        optimizer=run.config.train.optimizer, learning_rate=float(learning_rate))
    # The same batch through the updated weights, with the masks that trained (not redrawn).
    forward(params, table, rows, ws.acts, ws.units, ws.masks, dropout, False, state.streams)
    loss_after = batch_loss(state.loss_code, table, rows, ws)
    return StepTrace(**trace, layers=tuple(LayerTrace(**layer) for layer in layers),
                     loss_after=float(loss_after))


def _add_chain_rule(layers: list[dict], weights, dlogits: np.ndarray) -> None:
    """Each layer's dL/d(outputs), act'(z) and dL/dz, output layer first, as backpropagation
    carries them: dL/dz = dL/d(outputs) × mask × act'(z), and the layer below receives
    dL/dz @ Wᵀ (plus dL/d(outputs) itself through a skip connection)."""
    grad_outputs = dlogits
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        slopes = np.ones_like(grad_outputs)
        if i < len(layers) - 1:         # the output layer's slope is folded into the loss
            activation_slopes(ACTIVATION_CODE[layer["activation"]], layer["activations"], slopes)
        mask = layer["dropout_mask"]
        deltas = grad_outputs * slopes * (1.0 if mask is None else mask)
        layer.update(grad_outputs=frozen(grad_outputs), slopes=frozen(slopes),
                     deltas=frozen(deltas))
        below = deltas @ weights[i][0].T
        grad_outputs = below + grad_outputs if layer["residual"] else below


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

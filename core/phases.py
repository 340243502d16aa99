"""The phases of one training step, each a kernel of its own: forward, loss, backward,
regularise, update.

``kernels.train_step`` calls them in that order to train; the gradient tests call the very same
kernels, and ``core.trace`` shows what they computed, so what a learner sees is what trains.
Every array a phase writes is the caller's ``Workspace``, laid out for the current batch of B
rows: nothing is allocated per step and no Python object crosses into a kernel. ``forward`` and
``backward``, the phases compiled as calls, take the workspace's arrays they use rather than the
whole tuple: a compiled call counts a reference up and down for every array of a tuple it is
given, which cost a tiny network about 6% of its step (benchmarks/bench_train.py).

Shapes in comments: B = batch rows, n_in / n_out = a layer's widths, K = outputs, P = params.
"""

import math
from typing import NamedTuple

import numpy as np

from .activations import activate_rows, activation_slope
from .jit import inline_kernel, kernel
from .linalg import matmul, matmul_a_bt, matmul_at_b, sum_of_squares
from .losses import output_loss
from .model import ACTIVATION, B_OFFSET, N_IN, N_OUT, RESIDUAL, W_OFFSET
from .optimizers import optimizer_step
from .streams import R_DROPOUT, next_uniform


class Workspace(NamedTuple):
    """What a step writes, for up to ``capacity`` rows; one per run, reused by every step.

    After a step it still holds each phase's result for that batch (a trace reads them):
    ``acts`` the batch's inputs then each layer's output, layer after layer; ``units`` each
    layer's act(z) before dropout and the skip connection (the output layer's: the logits);
    ``masks`` the dropout masks, laid out as ``units``; ``targets`` and ``dlogits`` (B, K);
    ``dz`` each layer's dL/dz, laid out as ``units``; ``grad_outputs`` each hidden layer's
    dL/d(its outputs), laid out as the hidden layers' part of ``units`` (the output layer's
    is ``dlogits``). Backpropagation writes every layer's to a place of its own rather than
    reusing one layer's scratch for the next, so the chain rule's factors a trace shows are
    the ones the step used, at no cost to the step.
    """

    acts: np.ndarray
    units: np.ndarray
    masks: np.ndarray
    targets: np.ndarray
    dlogits: np.ndarray
    dz: np.ndarray
    grad_outputs: np.ndarray


def workspace_floats(widths: tuple[int, ...], capacity: int) -> int:
    """How many float64s ``new_workspace`` allocates (the memory guard counts before it)."""
    units = capacity * sum(widths[1:])
    return (capacity * sum(widths) + 3 * units + 2 * capacity * widths[-1]
            + capacity * sum(widths[1:-1]))


def new_workspace(widths: tuple[int, ...], capacity: int) -> Workspace:
    """A workspace for a network of these widths (inputs, hidden..., outputs)."""
    units = np.zeros(capacity * sum(widths[1:]))
    return Workspace(
        acts=np.zeros(capacity * sum(widths)), units=units, masks=np.ones_like(units),
        targets=np.zeros(capacity * widths[-1]), dlogits=np.zeros(capacity * widths[-1]),
        dz=np.zeros_like(units), grad_outputs=np.zeros(capacity * sum(widths[1:-1])))


@inline_kernel
def logits_view(table, rows, units):
    """The output layer's part of ``units``: the logits (B, K)."""
    end = 0
    for layer in range(table.shape[0]):
        end += rows * table[layer, N_OUT]
    outputs = table[table.shape[0] - 1, N_OUT]
    return units[end - rows * outputs:end].reshape((rows, outputs))


@kernel
def forward(params, table, rows, acts, units, masks, dropout, draw_masks, rng_state):
    """1. Forward pass: run the network on the batch already at the start of ``acts``
    (``acts``, ``units`` and ``masks`` are the ``Workspace``'s).

    Layer l reads its input right where layer l-1 wrote its output in ``acts``; ``units``
    keeps act(z) before dropout and the skip connection, which is all backpropagation needs.
    Hidden outputs are multiplied by the inverted-dropout masks, drawn here from the run's
    dropout stream when ``draw_masks``, or used as given (gradient checks).
    """
    n_layers = table.shape[0]
    a_off = 0
    u_off = 0
    for layer in range(n_layers):
        w_off, b_off = table[layer, W_OFFSET], table[layer, B_OFFSET]
        n_in, n_out = table[layer, N_IN], table[layer, N_OUT]
        w = params[w_off:w_off + n_in * n_out].reshape((n_in, n_out))               # (n_in, n_out)
        bias = params[b_off:b_off + n_out]                                          # (n_out,)
        a_prev = acts[a_off:a_off + rows * n_in].reshape((rows, n_in))              # (B, n_in)
        a_off += rows * n_in
        a = acts[a_off:a_off + rows * n_out].reshape((rows, n_out))                 # (B, n_out)
        u = units[u_off:u_off + rows * n_out].reshape((rows, n_out))                # (B, n_out)
        matmul(a_prev, w, u)
        activate_rows(table[layer, ACTIVATION], u, bias)
        drop = dropout > 0.0 and layer < n_layers - 1
        if drop and draw_masks:
            keep = 1.0 - dropout
            for k in range(u_off, u_off + rows * n_out):
                masks[k] = 1.0 / keep if next_uniform(rng_state, R_DROPOUT) < keep else 0.0
        residual = table[layer, RESIDUAL]
        for i in range(rows):
            for j in range(n_out):
                value = u[i, j]
                if drop:
                    value *= masks[u_off + i * n_out + j]
                if residual:
                    value += a_prev[i, j]
                a[i, j] = value
        u_off += rows * n_out


@inline_kernel
def loss(loss_code, table, rows, ws):
    """2. Loss: the batch's mean loss of the logits against ``ws.targets`` (B, K); dL/dlogits
    (B, K) into ``ws.dlogits``, where backpropagation starts."""
    logits = logits_view(table, rows, ws.units)                                     # (B, K)
    size = logits.size
    outputs = logits.shape[1]
    return output_loss(loss_code, logits, ws.targets[:size].reshape((rows, outputs)),
                       ws.dlogits[:size].reshape((rows, outputs)))


@kernel
def backward(params, table, rows, acts, units, masks, dlogits, dz_all, grad_outputs, dropout,
             grads):
    """3. Backpropagation: from dL/dlogits, output layer first, dL/dparams into ``grads`` (P,)
    (the array arguments before ``dropout`` are the ``Workspace``'s).

    Each layer turns dL/d(its output) into dL/dz (into ``dz_all``), its weights' and biases'
    gradients, and dL/d(its input), which is the layer below's dL/d(its output) (into
    ``grad_outputs``); ``dlogits`` is only read. A residual layer sends its upstream gradient
    straight down as well, which is why skip connections keep early layers' gradients alive.
    """
    n_layers = table.shape[0]
    a_end = 0
    u_end = 0
    for layer in range(n_layers):
        a_end += rows * table[layer, N_IN]
        u_end += rows * table[layer, N_OUT]
    above = dlogits                    # dL/d(this layer's output)
    for layer in range(n_layers - 1, -1, -1):
        w_off, b_off = table[layer, W_OFFSET], table[layer, B_OFFSET]
        n_in, n_out = table[layer, N_IN], table[layer, N_OUT]
        u_end -= rows * n_out
        a_end -= rows * n_in
        w = params[w_off:w_off + n_in * n_out].reshape((n_in, n_out))               # (n_in, n_out)
        grad_w = grads[w_off:w_off + n_in * n_out].reshape((n_in, n_out))           # (n_in, n_out)
        grad_b = grads[b_off:b_off + n_out]                                         # (n_out,)
        a_prev = acts[a_end:a_end + rows * n_in].reshape((rows, n_in))              # (B, n_in)
        u = units[u_end:u_end + rows * n_out].reshape((rows, n_out))                # (B, n_out)
        g = above[:rows * n_out].reshape((rows, n_out))                             # (B, n_out)
        dz = dz_all[u_end:u_end + rows * n_out].reshape((rows, n_out))              # (B, n_out)
        hidden = layer < n_layers - 1
        code = table[layer, ACTIVATION]
        for j in range(n_out):
            grad_b[j] = 0.0
        for i in range(rows):
            for j in range(n_out):
                value = g[i, j]
                if hidden:
                    if dropout > 0.0:
                        value *= masks[u_end + i * n_out + j]
                    value *= activation_slope(code, u[i, j])
                dz[i, j] = value
                grad_b[j] += value
        matmul_at_b(a_prev, dz, grad_w)
        if layer == 0:
            break
        # The layer below's outputs sit where its units do: rows * n_in values before ours.
        below = grad_outputs[u_end - rows * n_in:u_end]
        g_prev = below.reshape((rows, n_in))                                        # (B, n_in)
        matmul_a_bt(dz, w, g_prev)
        if table[layer, RESIDUAL]:
            for i in range(rows):
                for j in range(n_in):
                    g_prev[i, j] += g[i, j]
        above = below


@inline_kernel
def regularise(params, table, grads, l1, l2, clip):
    """3b. Add the L1 (l1·Σ|w|) and L2 (l2/2·Σw²) penalties' gradients to ``grads`` (P,),
    then shorten ``grads`` to a global L2 norm of ``clip`` if it is longer (0: no clipping).
    Returns the penalty, which the batch loss the run reports leaves out.

    Biases are not penalised. Proximal L1 is no gradient: it passes l1 = 0 here and acts in
    ``update``.
    """
    total = 0.0
    if l1 > 0.0 or l2 > 0.0:
        for layer in range(table.shape[0]):
            for k in range(table[layer, W_OFFSET], table[layer, B_OFFSET]):
                w = params[k]
                total += 0.5 * l2 * w * w + l1 * abs(w)
                grads[k] += l2 * w + (l1 if w > 0.0 else (-l1 if w < 0.0 else 0.0))
    if clip > 0.0:
        norm = math.sqrt(sum_of_squares(grads, 0, grads.size))
        if norm > clip:
            for k in range(grads.size):
                grads[k] *= clip / norm
    return total


@inline_kernel
def update(optimizer, params, grads, first, second, weight_mask, t, lr, momentum, beta1, beta2,
           eps, weight_decay, l1):
    """4. Update: the optimizer's step against the gradient (``core.optimizers``), then
    proximal L1, which moves each weight lr·l1 towards zero and stops it there, so unneeded
    weights become exactly zero (l1 = 0: none)."""
    optimizer_step(optimizer, params, grads, first, second, t, lr, momentum, beta1, beta2, eps,
                   weight_decay, weight_mask)
    if l1 > 0.0:
        threshold = lr * l1
        for k in range(params.size):
            if weight_mask[k] > 0.0:
                w = params[k]
                params[k] = w - threshold if w > threshold else (
                    w + threshold if w < -threshold else 0.0)

"""The training loop and evaluation, compiled: a whole chunk of training steps per call.

Python decides, kernels compute. ``train_chunk`` runs many mini-batch steps per call, because
for a Playground-sized network the cost of one call from Python is larger than the step
itself. Each step is ``train_step``: the phases of ``core.phases`` in the guide's order. Around
it, ``train_chunk`` only takes the next batch, adds up what the next check reports and watches
for divergence. Every array is the caller's (``core.run``): nothing here allocates per step.

Shapes in comments: B = batch rows, N = a split's rows, n_in = inputs, K = outputs,
P = params, L = layers.
"""

import math

import numpy as np

from .config import SCHEDULES
from .jit import inline_kernel, kernel, quick_kernel
from .linalg import sum_of_squares
from .losses import MSE, output_loss
from .model import B_OFFSET, N_OUT, W_OFFSET
from .phases import backward, forward, logits_view, loss, regularise, update
from .streams import shuffle

# Slots of the float ``hyper`` array and the int ``codes`` array passed to train_chunk.
(H_LR, H_MOMENTUM, H_BETA1, H_BETA2, H_EPS, H_WEIGHT_DECAY, H_L1, H_L2, H_DROPOUT, H_CLIP,
 H_SCHEDULE_STEP, H_SCHEDULE_GAMMA, H_TOTAL_STEPS, H_DIVERGENCE, H_LR_SCALE, N_HYPER) = range(16)
C_LOSS, C_OPTIMIZER, C_SCHEDULE, C_L1_PROXIMAL, N_CODES = range(5)
CONSTANT, STEP, COSINE = range(3)
SCHEDULE_CODE = dict(zip(SCHEDULES, (CONSTANT, STEP, COSINE), strict=True))
# Slots of the int64 ``counters`` array: the run's position, advanced by train_chunk.
K_STEP, K_EPOCH, K_CURSOR, K_ADAM_T, K_DIVERGED_AT, N_COUNTERS = range(6)
# Slots of the float ``window_loss`` array: what the batches since the last check had in common.
W_LOSS_SUM, W_LOSS_SQUARES, W_STEPS, N_WINDOW = range(4)


# --- evaluation ----------------------------------------------------------------------------

@inline_kernel
def forward_rows(params, table, x, start, rows, ws):
    """The forward pass, dropout off, on ``rows`` rows of ``x`` (N, n_in) from ``start``."""
    n_in = x.shape[1]
    batch = ws.acts[:rows * n_in].reshape((rows, n_in))                             # (B, n_in)
    copy_rows(x, start, rows, batch)
    # Dropout 0 draws no mask, so ``draw_masks`` is as train_step passes it: one compiled
    # ``forward`` serves both (each literal flag would be a compilation of its own).
    forward(params, table, rows, ws.acts, ws.units, ws.masks, 0.0, True,
            np.zeros(2, dtype=np.uint64))


@inline_kernel
def copy_rows(source, start, rows, out):
    """out[:rows] = source[start:start + rows] for (N, n) arrays, as plain loops: a slice
    assignment compiles NumPy's broadcasting checks and their error messages, several seconds
    of a first start (benchmarks/README.md)."""
    for i in range(rows):
        for j in range(source.shape[1]):
            out[i, j] = source[start + i, j]


@kernel
def predict(params, table, x, block_rows, ws, out):
    """Logits for every row of ``x`` (N, n_in) into ``out`` (N, K), ``block_rows`` rows at a
    time (the workspace's batch capacity); dropout off."""
    start = 0
    while start < x.shape[0]:
        rows = min(block_rows, x.shape[0] - start)
        forward_rows(params, table, x, start, rows, ws)
        copy_rows(logits_view(table, rows, ws.units), 0, rows, out[start:])         # (B, K)
        start += rows


@kernel
def unit_outputs(params, table, x, block_rows, ws, out):
    """Every unit's act(z) for every row of ``x`` (N, n_in) into ``out`` (N, U), U the units of
    every layer side by side, first hidden layer first (the output layer's: its logits), as
    ``predict`` computes them, ``block_rows`` rows at a time; dropout off."""
    start = 0
    while start < x.shape[0]:
        rows = min(block_rows, x.shape[0] - start)
        forward_rows(params, table, x, start, rows, ws)
        column = 0
        u_off = 0
        for layer in range(table.shape[0]):
            n_out = table[layer, N_OUT]
            copy_rows(ws.units[u_off:u_off + rows * n_out].reshape((rows, n_out)), 0, rows,
                      out[start:, column:column + n_out])                           # (B, n_out)
            column += n_out
            u_off += rows * n_out
        start += rows


@kernel
def loss_and_accuracy(loss_code, logits, targets, scratch):
    """Mean data loss of the logits (N, K) and the accuracy (NaN for regression: plain MSE on
    one output). ``scratch`` (N, K) receives the unused gradient."""
    mean_loss = output_loss(loss_code, logits, targets, scratch)
    rows, outputs = logits.shape
    if loss_code == MSE and outputs == 1:
        return mean_loss, np.nan
    correct = 0
    for i in range(rows):
        if outputs == 1:
            predicted = 1.0 if logits[i, 0] > 0.0 else 0.0
            correct += predicted == targets[i, 0]
        else:
            best = 0
            for j in range(1, outputs):
                if logits[i, j] > logits[i, best]:
                    best = j
            correct += targets[i, best] == 1.0
    return mean_loss, correct / rows


@kernel
def measure(loss_code, params, table, x, y, block_rows, ws, logits, scratch):
    """Mean loss and accuracy of the network on a whole split ``x`` (N, n_in), ``y`` (N, K);
    ``logits`` and ``scratch`` (N, K) are workspace. One call, so a check leaves and takes
    back the GIL once per split."""
    predict(params, table, x, block_rows, ws, logits)
    return loss_and_accuracy(loss_code, logits, y, scratch)


# --- one training step ---------------------------------------------------------------------

@quick_kernel
def learning_rate(hyper, schedule, step):
    """The learning rate for ``step`` (0-based): base × plateau scale × schedule."""
    lr = hyper[H_LR] * hyper[H_LR_SCALE]
    if schedule == STEP:
        lr *= hyper[H_SCHEDULE_GAMMA] ** (step // int(hyper[H_SCHEDULE_STEP]))
    elif schedule == COSINE:
        progress = min(step / hyper[H_TOTAL_STEPS], 1.0)
        lr *= 0.5 * (1.0 + math.cos(math.pi * progress))
    return lr


@inline_kernel
def next_batch(x, y, order, counters, rng_state, batch_size, ws):
    """Copy the next rows of this epoch's shuffled ``order`` (the last batch may be short) into
    ``ws.acts`` (B, n_in) and ``ws.targets`` (B, K), shuffling as an epoch starts; move the
    cursor (and the epoch) on. Returns B."""
    n_train, n_in = x.shape
    outputs = y.shape[1]
    if counters[K_CURSOR] == 0:
        shuffle(order, rng_state)
    start = counters[K_CURSOR]
    rows = min(batch_size, n_train - start)
    xb = ws.acts[:rows * n_in].reshape((rows, n_in))                                # (B, n_in)
    yb = ws.targets[:rows * outputs].reshape((rows, outputs))                       # (B, K)
    for i in range(rows):
        row = order[start + i]
        for j in range(n_in):
            xb[i, j] = x[row, j]
        for j in range(outputs):
            yb[i, j] = y[row, j]
    counters[K_CURSOR] = start + rows
    if counters[K_CURSOR] >= n_train:
        counters[K_CURSOR] = 0
        counters[K_EPOCH] += 1
    return rows


@inline_kernel
def train_step(params, grads, first, second, weight_mask, table, rows, ws, grad_norms,
               counters, rng_state, hyper, codes):
    """One step on the batch ``next_batch`` put in ``ws``; returns its mean loss.

    ``grad_norms`` (L,) receives each layer's ‖dL/dW‖ before penalties and clipping, what the
    gradient pane plots. Afterwards ``ws`` still holds what each phase computed, ``grads`` the
    gradient the update used.
    """
    dropout = hyper[H_DROPOUT]
    # L1 acts either on the gradient (subgradient mode) or in the update (proximal mode).
    proximal = codes[C_L1_PROXIMAL] == 1
    l1_gradient = 0.0 if proximal else hyper[H_L1]
    l1_update = hyper[H_L1] if proximal else 0.0
    # 1. Forward pass: the inputs (B, n_in) through every layer to the logits (B, K).
    forward(params, table, rows, ws.acts, ws.units, ws.masks, dropout, True, rng_state)
    # 2. Loss: the batch's mean loss, and dL/dlogits (B, K).
    batch_loss = loss(codes[C_LOSS], table, rows, ws)
    # 3. Backpropagation: dL/dparams (P,), output layer first; then penalties and clipping.
    backward(params, table, rows, ws.acts, ws.units, ws.masks, ws.dlogits, ws.dz,
             ws.grad_outputs, dropout, grads)
    for layer in range(table.shape[0]):
        grad_norms[layer] = math.sqrt(sum_of_squares(grads, table[layer, W_OFFSET],
                                                     table[layer, B_OFFSET]))
    regularise(params, table, grads, l1_gradient, hyper[H_L2], hyper[H_CLIP])
    # 4. Update: the optimizer's step against the gradient, every parameter (P,) at once.
    counters[K_ADAM_T] += 1
    update(codes[C_OPTIMIZER], params, grads, first, second, weight_mask, counters[K_ADAM_T],
           learning_rate(hyper, codes[C_SCHEDULE], counters[K_STEP]), hyper[H_MOMENTUM],
           hyper[H_BETA1], hyper[H_BETA2], hyper[H_EPS], hyper[H_WEIGHT_DECAY], l1_update)
    return batch_loss


# --- the training loop ---------------------------------------------------------------------

@kernel
def train_chunk(params, grads, first, second, previous, weight_mask, table, x, y, order,
                counters, rng_state, hyper, codes, batch_size, n_steps, ws, initial_loss,
                check_every, window_loss, window_grad_norms, update_ratios):
    """Run ``n_steps`` mini-batch steps; return how many ran (fewer only on divergence).

    Per step it adds the batch loss (and its square, and 1) to ``window_loss`` and each
    layer's weight-gradient L2 norm to ``window_grad_norms``, one step after another, so the
    sums do not depend on the chunking; the caller reads and clears them at each check. On
    the last step before a check (every ``check_every`` steps) it writes each layer's
    update/weight ratio ‖Δw‖/‖w‖ to ``update_ratios``. The position (step, epoch, cursor into
    ``order``), the random streams and the optimizer moments live in the caller's arrays, so
    ten calls of 100 steps compute bit for bit what one call of 1000 does. A step whose loss
    or parameters are not finite, or whose loss exceeds ``divergence`` × the first step's,
    stops the chunk and is recorded in ``counters[K_DIVERGED_AT]`` (1-based step).
    """
    n_layers = table.shape[0]
    grad_norms = np.empty(n_layers)                                                 # (L,)
    for s in range(n_steps):
        step = counters[K_STEP]
        rows = next_batch(x, y, order, counters, rng_state, batch_size, ws)
        # Only the last step before a check keeps a copy of the old weights: its update/weight
        # ratio is what the check reports, whatever the chunking.
        measure_update = (step + 1) % check_every == 0
        if measure_update:
            for k in range(params.size):
                previous[k] = params[k]
        batch_loss = train_step(params, grads, first, second, weight_mask, table, rows, ws,
                                grad_norms, counters, rng_state, hyper, codes)
        if measure_update:
            for layer in range(n_layers):
                moved = 0.0
                size = 0.0
                for k in range(table[layer, W_OFFSET], table[layer, B_OFFSET]):
                    delta = params[k] - previous[k]
                    moved += delta * delta
                    size += previous[k] * previous[k]
                update_ratios[layer] = math.sqrt(moved) / math.sqrt(size) if size > 0.0 else 0.0
        counters[K_STEP] = step + 1
        window_loss[W_LOSS_SUM] += batch_loss
        window_loss[W_LOSS_SQUARES] += batch_loss * batch_loss
        window_loss[W_STEPS] += 1.0
        for layer in range(n_layers):
            window_grad_norms[layer] += grad_norms[layer]
        if step == 0:
            initial_loss[0] = batch_loss
        # A non-finite weight makes the sum of squares non-finite (as does one past 1e154,
        # which has diverged just as surely).
        finite = math.isfinite(batch_loss) and math.isfinite(sum_of_squares(params, 0, params.size))
        if not finite or (initial_loss[0] > 0.0 and batch_loss > hyper[H_DIVERGENCE] * initial_loss[0]):
            counters[K_DIVERGED_AT] = step + 1
            return s + 1
    return n_steps

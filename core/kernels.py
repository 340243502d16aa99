"""Compiled kernels: forward pass, loss, backpropagation and a whole chunk of training steps.

Python decides, kernels compute. ``train_chunk`` runs many mini-batch steps per call, because
for a Playground-sized network the cost of one call from Python is larger than the step
itself. Every array is preallocated by the caller (``core.run``); nothing here allocates per
step, and no Python object crosses the boundary. All layers' activations live in one flat
workspace, laid out layer after layer for the current batch size.

Shapes in comments: B = batch rows, n_in / n_out = a layer's widths, K = outputs, P = params.
"""

import math

import numpy as np

from .activations import activate_rows, activation_slope
from .config import LOSSES, SCHEDULES
from .jit import kernel, quick_kernel
from .model import ACTIVATION, B_OFFSET, N_IN, N_OUT, RESIDUAL, W_OFFSET
from .optimizers import optimizer_step

MSE, BCE, SOFTMAX, MSE_SIGMOID = range(4)
# The losses by name: the config's choices but "auto" (which picks one by the data's task), and
# "mse_sigmoid", what "mse" computes on a binary task (the sigmoid output against 0/1 labels).
LOSS_CODE = dict(zip((*(name for name in LOSSES if name != "auto"), "mse_sigmoid"),
                     (MSE, BCE, SOFTMAX, MSE_SIGMOID), strict=True))

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
# Slots of the uint64 ``rng_state`` array: separate streams, so toggling dropout leaves the
# batch order unchanged.
R_SHUFFLE, R_DROPOUT = range(2)

# Below this many multiply-adds, plain loops beat a BLAS call's fixed overhead (measured with
# benchmarks/bench_train.py).
BLAS_MIN_WORK = 8192


# --- random numbers: splitmix64, state owned by the run ------------------------------------

@kernel
def next_uniform(rng_state, stream):
    """A uniform float in [0, 1) from the run's own stream (reproducible, thread-safe)."""
    rng_state[stream] += np.uint64(0x9E3779B97F4A7C15)
    z = rng_state[stream]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel
def shuffle(order, rng_state):
    """Fisher–Yates shuffle of the sample order for a new epoch."""
    for i in range(order.size - 1, 0, -1):
        j = int(next_uniform(rng_state, R_SHUFFLE) * (i + 1))
        order[i], order[j] = order[j], order[i]


# --- matrix products: loops for tiny layers, BLAS for wide ones ----------------------------

@kernel
def matmul(a, b, out):
    """out = a @ b: (B, n_in) @ (n_in, n_out) -> (B, n_out)."""
    rows, inner = a.shape
    cols = b.shape[1]
    if rows * inner * cols >= BLAS_MIN_WORK:
        np.dot(a, b, out)
        return
    for i in range(rows):
        for j in range(cols):
            out[i, j] = 0.0
        # i-p-j order: the innermost loop runs along rows of b and out, contiguous in memory.
        for p in range(inner):
            a_ip = a[i, p]
            for j in range(cols):
                out[i, j] += a_ip * b[p, j]


@kernel
def matmul_at_b(a, d, out):
    """out = aᵀ @ d: (B, n_in)ᵀ @ (B, n_out) -> (n_in, n_out), the weight gradient."""
    rows, inner = a.shape
    cols = d.shape[1]
    if rows * inner * cols >= BLAS_MIN_WORK:
        np.dot(a.T, d, out)
        return
    out[:, :] = 0.0
    for i in range(rows):
        for p in range(inner):
            a_ip = a[i, p]
            for j in range(cols):
                out[p, j] += a_ip * d[i, j]


@kernel
def matmul_a_bt(d, w, out):
    """out = d @ wᵀ: (B, n_out) @ (n_in, n_out)ᵀ -> (B, n_in), the gradient sent back."""
    rows, cols = d.shape
    inner = w.shape[0]
    if rows * inner * cols >= BLAS_MIN_WORK:
        np.dot(d, w.T, out)
        return
    for i in range(rows):
        for p in range(inner):
            total = 0.0
            for j in range(cols):
                total += d[i, j] * w[p, j]
            out[i, p] = total


@kernel
def sum_of_squares(a, start, stop):
    """Σ a[start:stop]² with four running sums, so the loop vectorises without ``reassoc``
    and the order of additions, hence the result, is fixed."""
    s0 = s1 = s2 = s3 = 0.0
    k = start
    while k + 4 <= stop:
        s0 += a[k] * a[k]
        s1 += a[k + 1] * a[k + 1]
        s2 += a[k + 2] * a[k + 2]
        s3 += a[k + 3] * a[k + 3]
        k += 4
    while k < stop:
        s0 += a[k] * a[k]
        k += 1
    return (s0 + s1) + (s2 + s3)


# --- forward, loss, backward ---------------------------------------------------------------

@kernel
def forward(params, table, batch_rows, acts, units, masks, dropout, draw_masks, rng_state):
    """Run the network on the batch already copied into ``acts`` (its first B·n_in values).

    Layer l reads its input right where layer l-1 wrote its output in ``acts``. ``units``
    keeps each layer's act(z) before dropout and the skip connection (for the output layer:
    the logits), which is all backpropagation needs. Hidden activations are multiplied by the
    inverted-dropout ``masks`` (same layout as ``units``), drawn here from the run's dropout
    stream when ``draw_masks``, or used as given (gradient checks).
    """
    n_layers = table.shape[0]
    a_off = 0
    u_off = 0
    for layer in range(n_layers):
        w_off, b_off = table[layer, W_OFFSET], table[layer, B_OFFSET]
        n_in, n_out = table[layer, N_IN], table[layer, N_OUT]
        code, residual = table[layer, ACTIVATION], table[layer, RESIDUAL]
        w = params[w_off:w_off + n_in * n_out].reshape((n_in, n_out))
        bias = params[b_off:b_off + n_out]
        a_prev = acts[a_off:a_off + batch_rows * n_in].reshape((batch_rows, n_in))  # (B, n_in)
        a_off += batch_rows * n_in
        a = acts[a_off:a_off + batch_rows * n_out].reshape((batch_rows, n_out))    # (B, n_out)
        u = units[u_off:u_off + batch_rows * n_out].reshape((batch_rows, n_out))   # (B, n_out)
        matmul(a_prev, w, u)
        activate_rows(code, u, bias)
        drop = dropout > 0.0 and layer < n_layers - 1
        if drop and draw_masks:
            keep = 1.0 - dropout
            for k in range(u_off, u_off + batch_rows * n_out):
                masks[k] = 1.0 / keep if next_uniform(rng_state, R_DROPOUT) < keep else 0.0
        for i in range(batch_rows):
            for j in range(n_out):
                value = u[i, j]
                if drop:
                    value *= masks[u_off + i * n_out + j]
                if residual:
                    value += a_prev[i, j]
                a[i, j] = value
        u_off += batch_rows * n_out


@kernel
def output_loss(loss_code, logits, targets, dlogits):
    """Mean loss over the batch and its gradient with respect to the logits.

    Sigmoid and softmax are folded into their cross-entropies (log-sum-exp form), so a
    confident wrong answer costs a large finite loss, never log(0). ``MSE_SIGMOID`` is the
    squared error of a sigmoid output against 0/1 labels: its gradient carries the factor
    σ'(s), which all but vanishes on a confident wrong answer — the lesson of loss-functions.
    """
    rows, outputs = logits.shape     # (B, K)
    total = 0.0
    if loss_code == MSE_SIGMOID:
        scale = 2.0 / (rows * outputs)
        for i in range(rows):
            for j in range(outputs):
                p = 1.0 / (1.0 + math.exp(-logits[i, j]))
                diff = p - targets[i, j]
                total += diff * diff
                dlogits[i, j] = scale * diff * p * (1.0 - p)
        return total / (rows * outputs)
    if loss_code == MSE:
        scale = 2.0 / (rows * outputs)
        for i in range(rows):
            for j in range(outputs):
                diff = logits[i, j] - targets[i, j]
                total += diff * diff
                dlogits[i, j] = scale * diff
        return total / (rows * outputs)
    if loss_code == BCE:
        for i in range(rows):
            for j in range(outputs):
                s = logits[i, j]
                y = targets[i, j]
                total += max(s, 0.0) - s * y + math.log1p(math.exp(-abs(s)))
                dlogits[i, j] = (1.0 / (1.0 + math.exp(-s)) - y) / rows
        return total / rows
    for i in range(rows):
        largest = logits[i, 0]
        for j in range(1, outputs):
            largest = max(largest, logits[i, j])
        sum_exp = 0.0
        for j in range(outputs):
            sum_exp += math.exp(logits[i, j] - largest)
        log_sum_exp = largest + math.log(sum_exp)
        for j in range(outputs):
            total += targets[i, j] * (log_sum_exp - logits[i, j])
            dlogits[i, j] = (math.exp(logits[i, j] - log_sum_exp) - targets[i, j]) / rows
    return total / rows


@kernel
def backward(params, table, batch_rows, acts, units, masks, dropout, grads, upstream, dz_buf,
             downstream):
    """Backpropagate from dL/dlogits (in ``upstream``) and write dL/dparams into ``grads``.

    ``upstream`` holds dL/da of the current layer; ``downstream`` receives dL/da of the layer
    below; they swap roles each layer. A residual layer sends its upstream gradient straight
    down as well, which is why skip connections keep early layers' gradients alive.
    """
    n_layers = table.shape[0]
    a_end = 0
    u_end = 0
    for layer in range(n_layers):
        a_end += batch_rows * table[layer, N_IN]
        u_end += batch_rows * table[layer, N_OUT]
    for layer in range(n_layers - 1, -1, -1):
        w_off, b_off = table[layer, W_OFFSET], table[layer, B_OFFSET]
        n_in, n_out = table[layer, N_IN], table[layer, N_OUT]
        code, residual = table[layer, ACTIVATION], table[layer, RESIDUAL]
        u_end -= batch_rows * n_out
        a_end -= batch_rows * n_in
        w = params[w_off:w_off + n_in * n_out].reshape((n_in, n_out))
        grad_w = grads[w_off:w_off + n_in * n_out].reshape((n_in, n_out))
        grad_b = grads[b_off:b_off + n_out]
        a_prev = acts[a_end:a_end + batch_rows * n_in].reshape((batch_rows, n_in))  # (B, n_in)
        u = units[u_end:u_end + batch_rows * n_out].reshape((batch_rows, n_out))    # (B, n_out)
        g = upstream[:batch_rows * n_out].reshape((batch_rows, n_out))              # (B, n_out)
        dz = dz_buf[:batch_rows * n_out].reshape((batch_rows, n_out))               # (B, n_out)
        hidden = layer < n_layers - 1
        for j in range(n_out):
            grad_b[j] = 0.0
        for i in range(batch_rows):
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
        g_prev = downstream[:batch_rows * n_in].reshape((batch_rows, n_in))         # (B, n_in)
        matmul_a_bt(dz, w, g_prev)
        if residual:
            for i in range(batch_rows):
                for j in range(n_in):
                    g_prev[i, j] += g[i, j]
        upstream, downstream = downstream, upstream


@kernel
def penalty(params, table, grads, l1, l2):
    """Add the L1 (l1·Σ|w|) and L2 (l2/2·Σw²) penalties on weights to ``grads``; return them.

    Biases are not penalised. With ``l1 = 0`` here, L1 is applied instead as a proximal step
    after the update (see ``soft_threshold``).
    """
    total = 0.0
    for layer in range(table.shape[0]):
        w_off = table[layer, W_OFFSET]
        for k in range(w_off, w_off + table[layer, N_IN] * table[layer, N_OUT]):
            w = params[k]
            total += 0.5 * l2 * w * w + l1 * abs(w)
            grads[k] += l2 * w + (l1 if w > 0.0 else (-l1 if w < 0.0 else 0.0))
    return total


@kernel
def loss_and_grads(params, table, loss_code, x, y, acts, units, masks, dropout, draw_masks,
                   rng_state, grads, upstream, dz_buf, downstream, l1, l2):
    """Loss (data + penalty) of the batch ``x`` (B, n_in), ``y`` (B, K) and its gradient."""
    rows, n_in = x.shape
    outputs = y.shape[1]
    acts[:rows * n_in] = x.ravel()
    forward(params, table, rows, acts, units, masks, dropout, draw_masks, rng_state)
    total_units = 0
    for layer in range(table.shape[0]):
        total_units += rows * table[layer, N_OUT]
    logits = units[total_units - rows * outputs:total_units].reshape((rows, outputs))                # (B, K)
    dlogits = upstream[:rows * outputs].reshape((rows, outputs))
    loss = output_loss(loss_code, logits, y, dlogits)
    backward(params, table, rows, acts, units, masks, dropout, grads, upstream, dz_buf, downstream)
    return loss + penalty(params, table, grads, l1, l2)


# --- evaluation ----------------------------------------------------------------------------

@kernel
def predict(params, table, x, block_rows, acts, units, out):
    """Logits for every row of ``x`` (N, n_in) into ``out`` (N, K), ``block_rows`` rows at a
    time (the workspace's batch capacity); dropout off."""
    n_rows, n_in = x.shape
    outputs = out.shape[1]
    no_rng = np.zeros(2, dtype=np.uint64)
    start = 0
    while start < n_rows:
        rows = min(block_rows, n_rows - start)
        batch = acts[:rows * n_in].reshape((rows, n_in))
        for i in range(rows):
            batch[i, :] = x[start + i]
        forward(params, table, rows, acts, units, units, 0.0, False, no_rng)
        total_units = 0
        for layer in range(table.shape[0]):
            total_units += rows * table[layer, N_OUT]
        out[start:start + rows] = units[total_units - rows * outputs:total_units].reshape((rows, outputs))
        start += rows


@kernel
def loss_and_accuracy(loss_code, logits, targets, scratch):
    """Mean data loss of the logits (N, K) and the accuracy (NaN for regression: plain MSE on
    one output). ``scratch`` (N, K) receives the unused gradient."""
    loss = output_loss(loss_code, logits, targets, scratch)
    rows, outputs = logits.shape
    if loss_code == MSE and outputs == 1:
        return loss, np.nan
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
    return loss, correct / rows


@kernel
def measure(loss_code, params, table, x, y, block_rows, acts, units, logits, scratch):
    """Mean loss and accuracy of the network on a whole split ``x`` (N, n_in), ``y`` (N, K);
    ``logits`` and ``scratch`` (N, K) are workspace. One call, so a check leaves and takes
    back the GIL once per split."""
    predict(params, table, x, block_rows, acts, units, logits)
    return loss_and_accuracy(loss_code, logits, y, scratch)


# --- the training loop ---------------------------------------------------------------------

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


@kernel
def train_chunk(params, grads, first, second, previous, weight_mask, table, x, y, order,
                counters, rng_state, hyper, codes, batch_size, n_steps, acts, units, masks,
                upstream, dz_buf, downstream, initial_loss, check_every, window_loss,
                window_grad_norms, update_ratios):
    """Run ``n_steps`` mini-batch steps; return how many ran (fewer only on divergence).

    Per step it adds the batch loss (and its square, and 1) to ``window_loss`` and each
    layer's weight-gradient L2 norm to ``window_grad_norms``, one step after another, so the
    sums do not depend on the chunking; the caller reads and clears them at each check. On
    the last step before a check (every ``check_every`` steps) it writes each layer's
    update/weight ratio ‖Δw‖/‖w‖ to ``update_ratios``. The position (step, epoch, cursor into
    ``order``), the random streams and the optimizer moments live in the caller's arrays, so
    ten calls of 100 steps compute bit for bit what one call of 1000 does. A step whose loss or parameters are not
    finite, or whose loss exceeds ``divergence`` × the first step's, stops the chunk and is
    recorded in ``counters[K_DIVERGED_AT]`` (1-based step).
    """
    n_train, n_in = x.shape
    outputs = y.shape[1]
    n_layers = table.shape[0]
    l1 = hyper[H_L1]
    l1_proximal = codes[C_L1_PROXIMAL] == 1
    for s in range(n_steps):
        step = counters[K_STEP]
        # The batch: the next rows of this epoch's shuffled order (the last may be short).
        if counters[K_CURSOR] == 0:
            shuffle(order, rng_state)
        start = counters[K_CURSOR]
        rows = min(batch_size, n_train - start)
        xb = acts[:rows * n_in].reshape((rows, n_in))                              # (B, n_in)
        yb = dz_buf[:rows * outputs].reshape((rows, outputs))                      # (B, K)
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
        # Forward and loss. yb is read by output_loss before backward reuses dz_buf.
        forward(params, table, rows, acts, units, masks, hyper[H_DROPOUT], True, rng_state)
        total_units = 0
        for layer in range(n_layers):
            total_units += rows * table[layer, N_OUT]
        logits = units[total_units - rows * outputs:total_units].reshape((rows, outputs))    # (B, K)
        dlogits = upstream[:rows * outputs].reshape((rows, outputs))              # (B, K)
        loss = output_loss(codes[C_LOSS], logits, yb, dlogits)
        backward(params, table, rows, acts, units, masks, hyper[H_DROPOUT], grads, upstream,
                 dz_buf, downstream)
        for layer in range(n_layers):
            w_off = table[layer, W_OFFSET]
            window_grad_norms[layer] += math.sqrt(sum_of_squares(grads, w_off, table[layer, B_OFFSET]))
        if hyper[H_L2] > 0.0 or (l1 > 0.0 and not l1_proximal):
            penalty(params, table, grads, 0.0 if l1_proximal else l1, hyper[H_L2])
        clip = hyper[H_CLIP]
        if clip > 0.0:
            norm = math.sqrt(sum_of_squares(grads, 0, grads.size))
            if norm > clip:
                for k in range(grads.size):
                    grads[k] *= clip / norm
        # The update. Only the last step before a check keeps a copy of the old weights: its
        # update/weight ratio is what the check reports, whatever the chunking.
        lr = learning_rate(hyper, codes[C_SCHEDULE], step)
        measure_update = (step + 1) % check_every == 0
        if measure_update:
            previous[:] = params
        counters[K_ADAM_T] += 1
        optimizer_step(codes[C_OPTIMIZER], params, grads, first, second, counters[K_ADAM_T],
                       lr, hyper[H_MOMENTUM], hyper[H_BETA1], hyper[H_BETA2], hyper[H_EPS],
                       hyper[H_WEIGHT_DECAY], weight_mask)
        if l1_proximal and l1 > 0.0:
            threshold = lr * l1
            for k in range(params.size):
                if weight_mask[k] > 0.0:
                    w = params[k]
                    params[k] = w - threshold if w > threshold else (
                        w + threshold if w < -threshold else 0.0)
        # A non-finite weight makes the sum of squares non-finite (as does one past 1e154,
        # which has diverged just as surely).
        finite = math.isfinite(loss) and math.isfinite(sum_of_squares(params, 0, params.size))
        if measure_update:
            for layer in range(n_layers):
                w_off = table[layer, W_OFFSET]
                moved = 0.0
                size = 0.0
                for k in range(w_off, table[layer, B_OFFSET]):
                    delta = params[k] - previous[k]
                    moved += delta * delta
                    size += previous[k] * previous[k]
                update_ratios[layer] = math.sqrt(moved) / math.sqrt(size) if size > 0.0 else 0.0
        counters[K_STEP] = step + 1
        window_loss[W_LOSS_SUM] += loss
        window_loss[W_LOSS_SQUARES] += loss * loss
        window_loss[W_STEPS] += 1.0
        if step == 0:
            initial_loss[0] = loss
        if not finite or (initial_loss[0] > 0.0 and loss > hyper[H_DIVERGENCE] * initial_loss[0]):
            counters[K_DIVERGED_AT] = step + 1
            return s + 1
    return n_steps

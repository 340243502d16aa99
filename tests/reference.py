"""A plain NumPy network: forward, losses, backpropagation and the six optimizers.

The engine's kernels are tested against this. It is written to be read, not to be fast:
whole-array NumPy expressions, derivatives in terms of the pre-activation ``z`` (the kernels
use the kept output instead), fresh arrays everywhere, and no code shared with ``nnsim.core``
beyond the names of ``Layout.table``'s columns and of the activation codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnsim.core.activations import ACTIVATION_CODE
from nnsim.core.model import ACTIVATION, B_OFFSET, N_IN, N_OUT, RESIDUAL, W_OFFSET

LEAKY_SLOPE = 0.01
ACTIVATION_NAME = {code: name for name, code in ACTIVATION_CODE.items()}


@dataclass
class Layer:
    W: np.ndarray          # (n_in, n_out)
    b: np.ndarray          # (n_out,)
    activation: str        # "linear" for the output layer
    residual: bool


def unpack(table: np.ndarray, params: np.ndarray) -> list[Layer]:
    """Copies of each layer's weights from the flat buffer, read through ``Layout.table``
    (weight offset, bias offset, n_in, n_out, activation code, residual flag)."""
    layers = []
    for row in table:
        w_off, b_off, n_in, n_out = row[W_OFFSET], row[B_OFFSET], row[N_IN], row[N_OUT]
        layers.append(Layer(params[w_off:w_off + n_in * n_out].reshape(n_in, n_out).copy(),
                            params[b_off:b_off + n_out].copy(), ACTIVATION_NAME[row[ACTIVATION]],
                            bool(row[RESIDUAL])))
    return layers


def pack(table: np.ndarray, per_layer: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The flat buffer of per-layer ``(W, b)`` pairs (parameters or their gradients)."""
    flat = np.zeros(int(table[-1, B_OFFSET] + table[-1, N_OUT]))
    for row, (W, b) in zip(table, per_layer, strict=True):
        flat[row[W_OFFSET]:row[B_OFFSET]] = W.ravel()
        flat[row[B_OFFSET]:row[B_OFFSET] + row[N_OUT]] = b
    return flat


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return sigmoid(z)
    return z


def slope(name: str, z: np.ndarray) -> np.ndarray:
    """d activate(z) / dz."""
    if name == "relu":
        return (z > 0).astype(float)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, LEAKY_SLOPE)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "sigmoid":
        return sigmoid(z) * (1.0 - sigmoid(z))
    return np.ones_like(z)


def forward(layers: list[Layer], x: np.ndarray, masks=None):
    """Logits (B, K) and, per layer, ``(input, z)`` for backpropagation.

    ``masks``: one (B, n_out) inverted-dropout mask per hidden layer, or None. A hidden layer
    computes ``a = act(z) * mask (+ input, if residual)``; the output layer is linear.
    """
    cache = []
    a = x
    for i, layer in enumerate(layers):
        z = a @ layer.W + layer.b
        cache.append((a, z))
        out = activate(layer.activation, z)
        if masks is not None and i < len(layers) - 1:
            out = out * masks[i]
        if layer.residual:
            out = out + a
        a = out
    return a, cache


def data_loss(loss: str, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss over the batch and dL/dlogits."""
    rows = len(logits)
    if loss == "mse":
        return np.mean((logits - y) ** 2), 2.0 * (logits - y) / logits.size
    if loss == "mse_sigmoid":
        p = sigmoid(logits)
        return np.mean((p - y) ** 2), 2.0 * (p - y) * p * (1.0 - p) / logits.size
    if loss == "bce":
        # -[y log p + (1 - y) log(1 - p)] with p = sigmoid(s) is log(1 + e^s) - y s.
        return np.sum(np.logaddexp(0.0, logits) - y * logits) / rows, (sigmoid(logits) - y) / rows
    log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return -np.sum(y * log_p) / rows, (np.exp(log_p) - y) / rows


def chain_rule(layers: list[Layer], cache, dlogits: np.ndarray, masks=None):
    """Per layer, output layer last, ``(dL/da, act'(z), dL/dz)``: the gradient arriving at
    the layer's outputs, the activation's slope (1 on the output layer) and their product
    through the dropout mask, as backpropagation through ``forward`` carries them."""
    factors = [None] * len(layers)
    upstream = dlogits                                       # dL/da of the current layer
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        _, z = cache[i]
        factor = np.ones_like(z)
        dz = upstream
        if i < len(layers) - 1:
            if masks is not None:
                dz = dz * masks[i]
            factor = slope(layer.activation, z)
            dz = dz * factor
        factors[i] = (upstream, factor, dz)
        below = dz @ layer.W.T
        if layer.residual:
            below = below + upstream
        upstream = below
    return factors


def backward(layers: list[Layer], cache, dlogits: np.ndarray, masks=None):
    """Per-layer ``(dW, db)`` from dL/dlogits, by the chain rule through ``forward``."""
    return [(a_prev.T @ dz, dz.sum(axis=0))
            for (a_prev, _), (_, _, dz) in zip(cache, chain_rule(layers, cache, dlogits, masks))]


def penalty(layers: list[Layer], l1: float, l2: float):
    """l1·Σ|w| + l2/2·Σw² over weights (not biases), and its per-layer gradient."""
    value = sum(l1 * np.abs(layer.W).sum() + 0.5 * l2 * (layer.W ** 2).sum() for layer in layers)
    grads = [(l1 * np.sign(layer.W) + l2 * layer.W, np.zeros_like(layer.b)) for layer in layers]
    return value, grads


def loss_and_gradients(layers, x, y, loss, l1=0.0, l2=0.0, masks=None):
    """Total loss (data + penalty) and per-layer ``(dW, db)``."""
    logits, cache = forward(layers, x, masks)
    value, dlogits = data_loss(loss, logits, y)
    grads = backward(layers, cache, dlogits, masks)
    extra, extra_grads = penalty(layers, l1, l2)
    grads = [(dW + pW, db + pb) for (dW, db), (pW, pb) in zip(grads, extra_grads)]
    return value + extra, grads


# --- optimizers -------------------------------------------------------------------------

@dataclass
class OptimizerState:
    first: np.ndarray      # velocity (momentum, nesterov) or Adam's mean
    second: np.ndarray     # running mean of g² (rmsprop, adam)
    t: int = 0


def optimizer_update(name: str, params, grads, state: OptimizerState, lr: float, *, momentum,
                     beta1, beta2, eps, weight_decay, weight_mask):
    """New parameters after one update (``params`` is not modified)."""
    state.t += 1
    if name == "sgd":
        return params - lr * grads
    if name in ("momentum", "nesterov"):
        state.first = momentum * state.first + grads
        step = state.first if name == "momentum" else grads + momentum * state.first
        return params - lr * step
    if name == "rmsprop":
        state.second = beta2 * state.second + (1 - beta2) * grads ** 2
        return params - lr * grads / (np.sqrt(state.second) + eps)
    if name == "adamw":
        params = params - lr * weight_decay * weight_mask * params
    state.first = beta1 * state.first + (1 - beta1) * grads
    state.second = beta2 * state.second + (1 - beta2) * grads ** 2
    mean = state.first / (1 - beta1 ** state.t)
    square_avg = state.second / (1 - beta2 ** state.t)
    return params - lr * mean / (np.sqrt(square_avg) + eps)


def train_full_batch(table, params, x, y, loss: str, train, n_steps: int) -> np.ndarray:
    """``n_steps`` full-batch steps with the settings of ``train`` (a ``TrainConfig``; constant
    learning rate, no dropout); returns the flat parameters."""
    weight_mask = pack(table, [(np.ones_like(layer.W), np.zeros_like(layer.b))
                               for layer in unpack(table, params)])
    state = OptimizerState(np.zeros_like(params), np.zeros_like(params))
    proximal = train.l1_mode == "proximal"
    for _ in range(n_steps):
        layers = unpack(table, params)
        _, grads = loss_and_gradients(layers, x, y, loss, 0.0 if proximal else train.l1, train.l2)
        flat = pack(table, grads)
        norm = np.linalg.norm(flat)
        if 0 < train.clip_norm < norm:
            flat = flat * train.clip_norm / norm
        params = optimizer_update(train.optimizer, params, flat, state, train.lr,
                                  momentum=train.momentum, beta1=train.beta1, beta2=train.beta2,
                                  eps=train.eps, weight_decay=train.weight_decay,
                                  weight_mask=weight_mask)
        if proximal and train.l1 > 0:
            threshold = train.lr * train.l1
            shrunk = np.sign(params) * np.maximum(np.abs(params) - threshold, 0.0)
            params = np.where(weight_mask > 0, shrunk, params)
    return params

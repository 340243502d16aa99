"""Hidden-layer activations: each one's rule beside its local derivative, as kernels.

The codes are this module's; ``ACTIVATION_CODE`` maps the config's names onto them by name, so
neither list can drift from the other.
"""

import math

from .config import ACTIVATIONS
from .jit import inline_kernel, kernel

LINEAR, RELU, LEAKY_RELU, TANH, SIGMOID = range(5)
ACTIVATION_CODE = dict(zip(ACTIVATIONS, (LINEAR, RELU, LEAKY_RELU, TANH, SIGMOID), strict=True))
ACTIVATION_NAME = {code: name for name, code in ACTIVATION_CODE.items()}
LEAKY_SLOPE = 0.01


@inline_kernel
def activate(code, z):
    if code == RELU:
        return z if z > 0.0 else 0.0
    if code == LEAKY_RELU:
        return z if z > 0.0 else LEAKY_SLOPE * z
    if code == TANH:
        # tanh through one exp: a third of libm's tanh time, exact to 1e-16, and it saturates
        # to ±1 (exp overflowing to inf gives 1 − 0), never NaN.
        return 1.0 - 2.0 / (math.exp(2.0 * z) + 1.0)
    if code == SIGMOID:
        return 1.0 / (1.0 + math.exp(-z))
    return z


@kernel
def activate_rows(code, u, bias):
    """u ← act(u + bias) in place, (B, n) with bias (n,). One loop per activation, so the
    branch is taken once per layer and the ReLU loops vectorise."""
    rows, cols = u.shape
    if code == RELU:
        for i in range(rows):
            for j in range(cols):
                u[i, j] = activate(RELU, u[i, j] + bias[j])
    elif code == TANH:
        for i in range(rows):
            for j in range(cols):
                u[i, j] = activate(TANH, u[i, j] + bias[j])
    else:
        for i in range(rows):
            for j in range(cols):
                u[i, j] = activate(code, u[i, j] + bias[j])


@inline_kernel
def activation_slope(code, a):
    """d act(z) / dz written in terms of the output a = act(z), which the forward pass kept,
    so backpropagation needs no second exp."""
    if code == RELU:
        return 1.0 if a > 0.0 else 0.0
    if code == LEAKY_RELU:
        return 1.0 if a > 0.0 else LEAKY_SLOPE
    if code == TANH:
        return 1.0 - a * a
    if code == SIGMOID:
        return a * (1.0 - a)
    return 1.0


@kernel
def activation_slopes(code, a, out):
    """``activation_slope`` of every element of ``a`` (B, n) into ``out`` (B, n): the factor
    the chain rule multiplies by at each unit (a trace shows it)."""
    rows, cols = a.shape
    for i in range(rows):
        for j in range(cols):
            out[i, j] = activation_slope(code, a[i, j])

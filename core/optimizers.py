"""Optimizers, from the simplest to Adam, each a few lines over the previous idea.

Every function updates the whole flat parameter buffer in place from the gradient buffer of
the same layout, so one call updates every layer. ``optimizer_step`` picks one by its code
(``OPTIMIZER_CODE``); the moment buffers ``first``/``second`` mean what each optimizer
says they mean, and switching optimizer mid-run starts them again from zero.
"""

import math

from .config import OPTIMIZERS
from .jit import inline_kernel, kernel

SGD, MOMENTUM, NESTEROV, RMSPROP, ADAM, ADAMW = range(6)
OPTIMIZER_CODE = dict(zip(OPTIMIZERS, (SGD, MOMENTUM, NESTEROV, RMSPROP, ADAM, ADAMW), strict=True))


@inline_kernel
def sgd(params, grads, lr):
    """Step against the gradient: p ← p − lr·g."""
    for i in range(params.size):
        params[i] -= lr * grads[i]


@inline_kernel
def momentum(params, grads, velocity, lr, beta):
    """Remember the direction of past steps: v ← βv + g; p ← p − lr·v.

    Along a direction where gradients agree, the step grows towards lr/(1−β)·g; across a
    ravine, where they alternate, they cancel.
    """
    for i in range(params.size):
        velocity[i] = beta * velocity[i] + grads[i]
        params[i] -= lr * velocity[i]


@inline_kernel
def nesterov(params, grads, velocity, lr, beta):
    """Momentum that looks ahead: step with the gradient plus the velocity it is about to add."""
    for i in range(params.size):
        velocity[i] = beta * velocity[i] + grads[i]
        params[i] -= lr * (grads[i] + beta * velocity[i])


@inline_kernel
def rmsprop(params, grads, square_avg, lr, decay, eps):
    """Divide each step by a running RMS of its gradient, so every parameter moves at a
    similar pace however large or small its gradients are."""
    for i in range(params.size):
        square_avg[i] = decay * square_avg[i] + (1.0 - decay) * grads[i] * grads[i]
        params[i] -= lr * grads[i] / (math.sqrt(square_avg[i]) + eps)


@inline_kernel
def adam(params, grads, mean, square_avg, t, lr, beta1, beta2, eps):
    """Momentum (a running mean of g) over RMSProp (a running mean of g²), both corrected for
    starting at zero; ``t`` counts Adam's steps from 1."""
    correction1 = 1.0 - beta1 ** t
    correction2 = 1.0 - beta2 ** t
    for i in range(params.size):
        mean[i] = beta1 * mean[i] + (1.0 - beta1) * grads[i]
        square_avg[i] = beta2 * square_avg[i] + (1.0 - beta2) * grads[i] * grads[i]
        params[i] -= lr * (mean[i] / correction1) / (math.sqrt(square_avg[i] / correction2) + eps)


@inline_kernel
def adamw(params, grads, mean, square_avg, t, lr, beta1, beta2, eps, weight_decay, weight_mask):
    """Adam with the weight decay taken out of the gradient: weights shrink by lr·λ each step,
    unscaled by Adam's per-parameter step size (Loshchilov & Hutter). Biases do not decay."""
    for i in range(params.size):
        params[i] -= lr * weight_decay * weight_mask[i] * params[i]
    adam(params, grads, mean, square_avg, t, lr, beta1, beta2, eps)


@kernel
def optimizer_step(code, params, grads, first, second, t, lr, beta, beta1, beta2, eps,
                   weight_decay, weight_mask):
    """One update by the optimizer ``code``; ``beta`` is the momentum coefficient."""
    if code == SGD:
        sgd(params, grads, lr)
    elif code == MOMENTUM:
        momentum(params, grads, first, lr, beta)
    elif code == NESTEROV:
        nesterov(params, grads, first, lr, beta)
    elif code == RMSPROP:
        rmsprop(params, grads, second, lr, beta2, eps)
    elif code == ADAM:
        adam(params, grads, first, second, t, lr, beta1, beta2, eps)
    else:
        adamw(params, grads, first, second, t, lr, beta1, beta2, eps, weight_decay, weight_mask)

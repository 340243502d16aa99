"""Each optimizer's first two updates against the formulas, written out here by hand.

The kernels in ``nnsim.core.optimizers`` update a flat buffer in place from a gradient; the
expected values below are closed forms of the first and second update (not the recursion the
kernels run), for gradients chosen to span signs and magnitudes.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnsim.core import optimizers
from nnsim.core.config import OPTIMIZERS
from nnsim.core.optimizers import OPTIMIZER_CODE

LR, BETA, BETA1, BETA2, EPS, DECAY = 0.1, 0.9, 0.8, 0.95, 1e-8, 0.3

START = np.array([0.5, -1.5, 2.0, 0.0, 0.25])
G1 = np.array([0.4, -2.0, 1e-3, 3.0, -0.7])
G2 = np.array([-0.1, -1.0, 2e-3, 3.0, 0.9])
WEIGHT_MASK = np.array([1.0, 1.0, 1.0, 0.0, 0.0])     # the last two are biases


def expected_updates(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Parameters after one and after two updates, by hand."""
    p0 = START
    if name == "sgd":
        return p0 - LR * G1, p0 - LR * G1 - LR * G2
    if name == "momentum":                      # v1 = g1; v2 = β g1 + g2
        p1 = p0 - LR * G1
        return p1, p1 - LR * (BETA * G1 + G2)
    if name == "nesterov":                      # step with g + β v
        p1 = p0 - LR * (1 + BETA) * G1
        return p1, p1 - LR * (G2 + BETA * (BETA * G1 + G2))
    if name == "rmsprop":                       # s1 = (1-ρ) g1²; s2 = ρ(1-ρ) g1² + (1-ρ) g2²
        p1 = p0 - LR * G1 / (np.sqrt(1 - BETA2) * np.abs(G1) + EPS)
        s2 = BETA2 * (1 - BETA2) * G1 ** 2 + (1 - BETA2) * G2 ** 2
        return p1, p1 - LR * G2 / (np.sqrt(s2) + EPS)
    # Adam: bias correction makes step 1 exactly lr·g/(|g| + eps); at step 2 the corrected
    # moments are the weighted means (β g1 + g2)/(1 + β).
    decay = DECAY * WEIGHT_MASK if name == "adamw" else 0.0
    p1 = p0 - LR * decay * p0 - LR * G1 / (np.abs(G1) + EPS)
    mean2 = (BETA1 * G1 + G2) / (1 + BETA1)
    square2 = (BETA2 * G1 ** 2 + G2 ** 2) / (1 + BETA2)
    return p1, p1 - LR * decay * p1 - LR * mean2 / (np.sqrt(square2) + EPS)


def two_updates_direct(name: str) -> list[np.ndarray]:
    """Call the named kernel itself twice."""
    params, first, second = START.copy(), np.zeros_like(START), np.zeros_like(START)
    kernel = getattr(optimizers, name)
    out = []
    for t, grads in enumerate((G1, G2), start=1):
        if name == "sgd":
            kernel(params, grads, LR)
        elif name in ("momentum", "nesterov"):
            kernel(params, grads, first, LR, BETA)
        elif name == "rmsprop":
            kernel(params, grads, second, LR, BETA2, EPS)
        elif name == "adam":
            kernel(params, grads, first, second, t, LR, BETA1, BETA2, EPS)
        else:
            kernel(params, grads, first, second, t, LR, BETA1, BETA2, EPS, DECAY, WEIGHT_MASK)
        out.append(params.copy())
    return out


def two_updates_dispatched(name: str) -> list[np.ndarray]:
    """Through ``optimizer_step`` and the code the run passes for ``train.optimizer``."""
    params, first, second = START.copy(), np.zeros_like(START), np.zeros_like(START)
    out = []
    for t, grads in enumerate((G1, G2), start=1):
        optimizers.optimizer_step(OPTIMIZER_CODE[name], params, grads, first, second, t, LR,
                                  BETA, BETA1, BETA2, EPS, DECAY, WEIGHT_MASK)
        out.append(params.copy())
    return out


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("call", [two_updates_direct, two_updates_dispatched],
                         ids=["direct", "dispatched"])
def test_first_two_updates_match_the_formulas(name, call):
    first, second = call(name)
    expected_first, expected_second = expected_updates(name)
    np.testing.assert_allclose(first, expected_first, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(second, expected_second, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_updates_are_not_interchangeable(name):
    """Every optimizer's second update differs from every other's: the expectations above
    could not all pass with the wrong formula or a swapped code."""
    mine = expected_updates(name)[1]
    for other in OPTIMIZERS:
        if other != name:
            assert not np.allclose(mine, expected_updates(other)[1], rtol=1e-6, atol=0)


def test_adam_first_step_is_lr_times_the_sign():
    """The textbook property: at t=1, each parameter moves by ≈ lr whatever its gradient's size."""
    params, mean, square = START.copy(), np.zeros(5), np.zeros(5)
    optimizers.adam(params, G1, mean, square, 1, LR, 0.9, 0.999, EPS)
    np.testing.assert_allclose(START - params, LR * np.sign(G1), rtol=1e-5)


def test_adamw_does_not_decay_biases():
    params, mean, square = START.copy(), np.zeros(5), np.zeros(5)
    zero = np.zeros(5)
    optimizers.adamw(params, zero, mean, square, 1, LR, BETA1, BETA2, EPS, DECAY, WEIGHT_MASK)
    np.testing.assert_allclose(params, START - LR * DECAY * WEIGHT_MASK * START, rtol=1e-15)
    np.testing.assert_array_equal(params[WEIGHT_MASK == 0], START[WEIGHT_MASK == 0])

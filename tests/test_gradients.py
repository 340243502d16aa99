"""Gradients of the compiled kernels against finite differences and the NumPy reference.

``kernels.loss_and_grads`` is checked on small random networks in float64 over every hidden
activation × every loss, with L1 (subgradient) and L2 penalties, residual connections and
dropout under a fixed mask. The checker is shown to catch a wrong gradient (negative
controls), and a quick subset of this file runs again with Numba's JIT disabled.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import reference
from nnsim.core import kernels
from nnsim.core.activations import LEAKY_SLOPE
from nnsim.core.config import ACTIVATIONS, ModelConfig
from nnsim.core.model import B_OFFSET, N_OUT, RESIDUAL, W_OFFSET, build_layout

TOLERANCE = 1e-6        # relative error allowed between an analytic and a numeric gradient
STEP = 1e-5             # finite-difference step
KINK_MARGIN = 1e-3      # ReLU pre-activations must stay this far from 0 (≫ the step's effect)
L1_MARGIN = 0.05        # |w| at least this under L1, so no step crosses |w|'s kink
BATCH = 6
DROPOUT = 0.3

# Per loss (the reference's name): the kernels' loss code and the number of outputs.
LOSSES = {
    "mse": (kernels.MSE, 1),
    "bce": (kernels.BCE, 1),
    "softmax": (kernels.SOFTMAX, 3),
    "mse_sigmoid": (kernels.MSE_SIGMOID, 1),
}
VARIANTS = ("plain", "l1_l2", "residual", "dropout", "everything")


class Problem:
    """A small random network, a batch and the kernel's workspace for it."""

    def __init__(self, activation: str, loss: str, variant: str, seed: int):
        rng = np.random.default_rng(seed)
        self.loss = loss
        self.loss_code, n_outputs = LOSSES[loss]
        residual = variant in ("residual", "everything")
        penalised = variant in ("l1_l2", "everything")
        self.dropout = DROPOUT if variant in ("dropout", "everything") else 0.0
        self.l1, self.l2 = (0.02, 0.03) if penalised else (0.0, 0.0)
        # With residual connections every hidden layer keeps the input width, so each has one.
        n_inputs, hidden = (4, (4, 4)) if residual else (3, (5, 4))
        self.layout = build_layout(n_inputs, n_outputs,
                                   ModelConfig(layers=hidden, activation=activation, residual=residual))
        if residual:
            assert self.layout.table[:-1, RESIDUAL].all()
        self.x = rng.normal(size=(BATCH, n_inputs))
        if loss == "mse":
            self.y = rng.normal(size=(BATCH, 1))
        elif loss == "softmax":
            self.y = np.eye(n_outputs)[rng.integers(0, n_outputs, BATCH)]
        else:
            self.y = rng.integers(0, 2, (BATCH, 1)).astype(float)
        keep = 1.0 - self.dropout
        self.hidden_masks = [np.where(rng.random((BATCH, n)) < keep, 1.0 / keep, 0.0)
                             for n in hidden] if self.dropout else None
        for _ in range(100):
            self.params = self._draw_params(rng, far_from_zero=penalised)
            if activation not in ("relu", "leaky_relu") or self._clear_of_kinks():
                break
        else:
            raise AssertionError("no parameters clear of the ReLU kink in 100 draws")
        widths = self.layout.widths
        self.acts = np.zeros(BATCH * sum(widths))
        self.units = np.zeros(BATCH * sum(widths[1:]))
        self.masks = np.ones_like(self.units)
        if self.hidden_masks is not None:
            self.masks[:BATCH * sum(hidden)] = np.concatenate([m.ravel() for m in self.hidden_masks])
        self.buffers = [np.zeros(BATCH * max(widths)) for _ in range(3)]
        self.rng_state = np.zeros(2, dtype=np.uint64)

    def _draw_params(self, rng, far_from_zero: bool) -> np.ndarray:
        params = rng.normal(0.0, 0.7, self.layout.n_params)
        if far_from_zero:
            weights = self.layout.weight_mask()
            params[weights] = np.sign(params[weights]) * (L1_MARGIN + np.abs(params[weights]))
        return params

    def _clear_of_kinks(self) -> bool:
        _, cache = reference.forward(self.layers(self.params), self.x, self.hidden_masks)
        return all(np.abs(z).min() > KINK_MARGIN for _, z in cache[:-1])

    def layers(self, params):
        return reference.unpack(self.layout.table, params)

    def kernel(self, params) -> tuple[float, np.ndarray]:
        """Loss and flat gradient from ``kernels.loss_and_grads`` with the fixed masks."""
        grads = np.zeros(self.layout.n_params)
        loss = kernels.loss_and_grads(
            params, self.layout.table, self.loss_code, self.x, self.y, self.acts, self.units,
            self.masks, self.dropout, False, self.rng_state, grads, *self.buffers, self.l1, self.l2)
        return loss, grads

    def reference(self, params) -> tuple[float, np.ndarray]:
        loss, grads = reference.loss_and_gradients(self.layers(params), self.x, self.y,
                                                   self.loss, self.l1, self.l2,
                                                   self.hidden_masks)
        return loss, reference.pack(self.layout.table, grads)


def numeric_gradient(loss, params: np.ndarray) -> np.ndarray:
    """Five-point central differences: error O(STEP⁴) plus rounding ~1e-16/STEP."""
    grad = np.zeros_like(params)
    for k in range(params.size):
        def at(offset):
            shifted = params.copy()
            shifted[k] += offset
            return loss(shifted)
        grad[k] = (8 * (at(STEP) - at(-STEP)) - (at(2 * STEP) - at(-2 * STEP))) / (12 * STEP)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray, layout) -> float:
    """The worst, over each layer's weights and biases and the whole vector, of
    ‖analytic − numeric‖ / max(‖analytic‖, ‖numeric‖)."""
    blocks = [slice(None)]
    for row in layout.table:
        blocks += [slice(row[W_OFFSET], row[B_OFFSET]),
                   slice(row[B_OFFSET], row[B_OFFSET] + row[N_OUT])]
    worst = 0.0
    for block in blocks:
        a, n = analytic[block], numeric[block]
        scale = max(np.linalg.norm(a), np.linalg.norm(n), 1e-12)
        worst = max(worst, np.linalg.norm(a - n) / scale)
    return worst


CASES = [(a, loss, v) for a in ACTIVATIONS for loss in LOSSES for v in VARIANTS]


@pytest.mark.parametrize("activation,loss,variant", CASES, ids=["-".join(c) for c in CASES])
def test_gradient_matches_finite_differences(activation, loss, variant):
    problem = Problem(activation, loss, variant, seed=CASES.index((activation, loss, variant)))
    value, analytic = problem.kernel(problem.params)
    numeric = numeric_gradient(lambda p: problem.kernel(p)[0], problem.params)
    assert relative_error(analytic, numeric, problem.layout) < TOLERANCE
    # The reference computes the same loss, and its own gradient agrees too.
    expected_value, expected_grad = problem.reference(problem.params)
    assert value == pytest.approx(expected_value, rel=1e-12)
    assert relative_error(expected_grad, numeric, problem.layout) < TOLERANCE


def test_dropout_mask_is_used_not_drawn():
    """With draw_masks=False the kernel reads the masks buffer: a zero mask entry removes the
    unit from the gradient of every weight into it."""
    problem = Problem("tanh", "bce", "dropout", seed=1)
    _, grads = problem.kernel(problem.params)
    W_grad, _ = problem.layout.unflatten(grads)[0]
    dropped = problem.hidden_masks[0] == 0.0             # (B, n_hidden)
    never_kept = dropped.all(axis=0)
    np.testing.assert_array_equal(W_grad[:, never_kept], 0.0)
    assert np.all(problem.masks[:BATCH * problem.layout.widths[1]] == problem.hidden_masks[0].ravel())


# --- negative controls: the checker must catch a wrong gradient --------------------------

def test_negative_control_one_perturbed_entry_is_caught():
    problem = Problem("tanh", "softmax", "everything", seed=7)
    _, analytic = problem.kernel(problem.params)
    numeric = numeric_gradient(lambda p: problem.kernel(p)[0], problem.params)
    assert relative_error(analytic, numeric, problem.layout) < TOLERANCE
    wrong = analytic.copy()
    k = int(np.argmax(np.abs(analytic)))
    wrong[k] *= 1 + 1e-5
    assert relative_error(wrong, numeric, problem.layout) > TOLERANCE


def test_negative_control_wrong_leaky_slope_is_caught(monkeypatch):
    """Backpropagating leaky ReLU with slope 0.02 instead of 0.01 gives a wrong gradient."""
    problem = Problem("leaky_relu", "mse", "plain", seed=3)
    layers = problem.layers(problem.params)
    logits, cache = reference.forward(layers, problem.x)
    assert any((z < 0).any() for _, z in cache[:-1])     # the slope matters somewhere
    _, dlogits = reference.data_loss("mse", logits, problem.y)
    numeric = numeric_gradient(lambda p: problem.kernel(p)[0], problem.params)
    right = reference.pack(problem.layout.table, reference.backward(layers, cache, dlogits))
    assert relative_error(right, numeric, problem.layout) < TOLERANCE
    monkeypatch.setattr(reference, "LEAKY_SLOPE", 2 * LEAKY_SLOPE)
    wrong = reference.pack(problem.layout.table, reference.backward(layers, cache, dlogits))
    assert relative_error(wrong, numeric, problem.layout) > TOLERANCE


def test_negative_control_gradient_without_the_mask_is_caught():
    """The gradient of the network without dropout is not the gradient under the mask."""
    problem = Problem("sigmoid", "bce", "dropout", seed=5)
    numeric = numeric_gradient(lambda p: problem.kernel(p)[0], problem.params)
    _, unmasked = reference.loss_and_gradients(problem.layers(problem.params), problem.x,
                                               problem.y, "bce")
    assert relative_error(reference.pack(problem.layout.table, unmasked), numeric,
                          problem.layout) > TOLERANCE


# --- the same checks with the JIT off ----------------------------------------------------

QUICK_SUBSET = "tanh-softmax-everything or relu-bce-everything or negative_control"


def test_quick_subset_passes_uncompiled():
    """With NUMBA_DISABLE_JIT=1 the kernels run as plain Python and must agree as well."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(Path(__file__)), "-q", "-p", "no:cacheprovider",
         "-k", QUICK_SUBSET],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "deselected" in result.stdout

"""Gradients of the phase kernels that train against finite differences and the NumPy reference.

The phases ``forward`` → ``loss`` → ``backward`` → ``regularise`` (``core.phases``, the kernels
``kernels.train_step`` calls) are checked on small random networks in float64 over every
hidden activation × every loss, with L1 (subgradient) and L2 penalties, residual connections
and dropout under a fixed mask; ``train_step`` is shown to update with that very gradient. The
checker is shown to catch a wrong gradient (negative controls), and a quick subset of this
file runs again with Numba's JIT disabled.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import reference
from nnsim.core import kernels, phases
from nnsim.core.activations import LEAKY_SLOPE
from nnsim.core.config import ACTIVATIONS, ModelConfig
from nnsim.core.losses import LOSS_CODE
from nnsim.core.model import B_OFFSET, N_OUT, RESIDUAL, W_OFFSET, build_layout
from nnsim.core.optimizers import OPTIMIZER_CODE

TOLERANCE = 1e-6        # relative error allowed between an analytic and a numeric gradient
STEP = 1e-5             # finite-difference step
KINK_MARGIN = 1e-3      # ReLU pre-activations must stay this far from 0 (≫ the step's effect)
L1_MARGIN = 0.05        # |w| at least this under L1, so no step crosses |w|'s kink
BATCH = 6
DROPOUT = 0.3

# Per loss (the reference's name, which is also the kernels'): the number of outputs.
LOSSES = {"mse": 1, "bce": 1, "softmax": 3, "mse_sigmoid": 1}
VARIANTS = ("plain", "l1_l2", "residual", "dropout", "everything")


class Problem:
    """A small random network, a batch and the kernel's workspace for it."""

    def __init__(self, activation: str, loss: str, variant: str, seed: int):
        rng = np.random.default_rng(seed)
        self.loss = loss
        self.loss_code, n_outputs = LOSS_CODE[loss], LOSSES[loss]
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
        self.ws = phases.new_workspace(self.layout.widths, BATCH)
        self.ws.acts[:self.x.size] = self.x.ravel()
        self.ws.targets[:self.y.size] = self.y.ravel()
        if self.hidden_masks is not None:
            self.ws.masks[:BATCH * sum(hidden)] = np.concatenate([m.ravel() for m in self.hidden_masks])
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
        """Loss (data + penalty) and flat gradient from the phase kernels, in train_step's
        order, with the fixed masks."""
        table = self.layout.table
        grads = np.zeros(self.layout.n_params)
        ws = self.ws
        phases.forward(params, table, BATCH, ws.acts, ws.units, ws.masks, self.dropout, False,
                       self.rng_state)
        value = phases.loss(self.loss_code, table, BATCH, ws)
        phases.backward(params, table, BATCH, ws.acts, ws.units, ws.masks, ws.dlogits, ws.dz,
                        ws.grad_outputs, self.dropout, grads)
        return value + phases.regularise(params, table, grads, self.l1, self.l2, 0.0), grads

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
    assert np.all(problem.ws.masks[:BATCH * problem.layout.widths[1]] == problem.hidden_masks[0].ravel())


@pytest.mark.parametrize("loss", LOSSES)
def test_train_step_updates_with_the_checked_gradient(loss):
    """``train_step`` (what train_chunk runs) leaves in ``grads`` exactly the gradient the
    phases give above, and moves every parameter against it."""
    problem = Problem("tanh", loss, "l1_l2", seed=11)
    _, expected = problem.kernel(problem.params)
    hyper = np.zeros(kernels.N_HYPER)
    hyper[[kernels.H_LR, kernels.H_LR_SCALE, kernels.H_L1, kernels.H_L2]] = 0.1, 1.0, problem.l1, problem.l2
    codes = np.zeros(kernels.N_CODES, dtype=np.int64)
    codes[kernels.C_LOSS] = problem.loss_code
    codes[kernels.C_OPTIMIZER] = OPTIMIZER_CODE["sgd"]
    codes[kernels.C_SCHEDULE] = kernels.SCHEDULE_CODE["constant"]
    params = problem.params.copy()
    grads = np.zeros_like(params)
    moments = np.zeros_like(params), np.zeros_like(params)
    kernels.train_step(params, grads, *moments, problem.layout.weight_mask().astype(float),
                       problem.layout.table, BATCH, problem.ws, np.zeros(problem.layout.n_layers),
                       np.zeros(kernels.N_COUNTERS, dtype=np.int64), problem.rng_state, hyper, codes)
    assert grads.tobytes() == expected.tobytes()
    np.testing.assert_allclose(params, problem.params - 0.1 * expected, rtol=0, atol=1e-15)
    assert np.all(params != problem.params)


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
         "-n", "0", "-k", QUICK_SUBSET],        # one process: workers would not say "deselected"
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "deselected" in result.stdout

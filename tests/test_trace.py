"""``nnsim trace`` and ``core.trace``: the traced step is the step training takes, and its
numbers agree with the independent NumPy reference on every activation and loss."""

from __future__ import annotations

import json

import numpy as np
import pytest

import reference
from nnsim.__main__ import main
from nnsim.core import Run, linalg
from nnsim.core.config import ACTIVATIONS
from nnsim.core.scenario import load_scenario
from nnsim.core.trace import run_to_step, trace_step

SMALL = {"data": {"kind": "circle", "n_points": 80},
         "model": {"layers": [6, 5]},
         "train": {"batch_size": 8, "lr": 0.05, "steps": 100, "eval_every": 5}}
TRACED_STEP = 7       # mid-epoch and mid-check: the batch and the moments are not fresh


def weights_after(trace) -> list[np.ndarray]:
    return [a for layer in trace.layers for a in (layer.weights_after, layer.biases_after)]


def trace_and_step(traced: Run, stepped: Run, assert_identical):
    """Trace ``traced`` at TRACED_STEP and check its weights after against one ``advance(1)``
    of ``stepped``, an identical run."""
    traced.advance(TRACED_STEP)
    stepped.advance(TRACED_STEP + 1)
    before = traced.params.copy()
    trace = trace_step(traced)
    assert traced.params.tobytes() == before.tobytes()           # a trace leaves the run alone
    assert_identical(weights_after(trace), [a for W, b in stepped.get_params() for a in (W, b)])
    assert trace.step == TRACED_STEP
    return trace


@pytest.mark.parametrize("dropout", [0.0, 0.3], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_the_traced_step_is_the_step_advance_takes(optimizer, dropout, assert_identical):
    config = {**SMALL, "model": {**SMALL["model"], "dropout": dropout},
              "train": {**SMALL["train"], "optimizer": optimizer}}
    traced = Run(config)
    trace = trace_and_step(traced, Run(config), assert_identical)
    # The mask shown is the mask that trained: the gradient the reference computes under it is
    # the gradient that moved the weights (with a fresh mask it would not be).
    masks = [layer.dropout_mask for layer in trace.layers[:-1]]
    layers = reference.unpack(traced.layout.table, traced.params)
    _, grads = reference.loss_and_gradients(layers, trace.inputs, trace.targets, "bce",
                                            masks=masks if dropout else None)
    for layer, (dW, db) in zip(trace.layers, grads, strict=True):
        np.testing.assert_allclose(layer.grad_weights, dW, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(layer.grad_biases, db, rtol=1e-9, atol=1e-12)
    if dropout:
        assert all(0.0 in mask and 1 / (1 - dropout) in mask for mask in masks)
        hidden = trace.layers[0]
        assert hidden.outputs.tobytes() == (hidden.activations * hidden.dropout_mask).tobytes()
    else:
        assert masks == [None, None]


def test_the_traced_step_is_the_step_advance_takes_through_blas(assert_identical):
    """Layers wide enough for the matrix products to go to BLAS, with L2 and clipping."""
    config = {"data": {"kind": "blobs", "classes": 3, "n_points": 200},
              "model": {"layers": [128, 64], "activation": "relu", "dropout": 0.1},
              "train": {"batch_size": 16, "l2": 0.01, "clip_norm": 0.5, "steps": 100}}
    trace = trace_and_step(Run(config), Run(config), assert_identical)
    assert trace.inputs.shape[0] * 128 * 64 >= linalg.BLAS_MIN_WORK


def test_run_to_step_fires_the_events_before_the_step():
    """learning-loop raises the learning rate to 0.3 at step 60: step 59 still trains at 0.1."""
    scenario = load_scenario("learning-loop")
    rates = {step: trace_step(run_to_step(scenario, "base", step)).learning_rate
             for step in (59, 60)}
    assert rates == {59: scenario.base.train.lr, 60: 0.3}


# --- the JSON against the NumPy reference, on every activation and loss -------------------

LOSS_CASES = {    # the reference's loss name: the scenario tables that make a run use it
    "bce": {"data": {"kind": "circle"}},
    "mse_sigmoid": {"data": {"kind": "circle"}, "train": {"loss": "mse"}},
    "softmax": {"data": {"kind": "blobs", "classes": 3}},
    "mse": {"data": {"kind": "plane"}},
}
JSON_CASES = [(a, loss) for a in ACTIVATIONS for loss in LOSS_CASES]


def scenario_file(tmp_path, tables: dict) -> str:
    lines = ['title = "trace test"', 'summary = "one step, traced"', 'lesson = "."']
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path = tmp_path / "trace.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def traced_json(argv, capsys) -> dict:
    assert main(["trace", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("activation,loss", JSON_CASES, ids=["-".join(c) for c in JSON_CASES])
def test_json_agrees_with_the_reference(activation, loss, tmp_path, capsys):
    case = LOSS_CASES[loss]
    tables = {"data": {**case["data"], "n_points": 60},
              "model": {"layers": [5, 4], "activation": activation, "dropout": 0.2},
              "train": {**case.get("train", {}), "optimizer": "sgd", "lr": 0.05,
                        "batch_size": 6, "steps": 50}}
    out = traced_json([scenario_file(tmp_path, tables), "--step", "3"], capsys)
    assert (out["step"], out["loss_function"], len(out["batch_rows"])) == (3, loss, 6)
    layers = [reference.Layer(np.array(layer["W_before"]), np.array(layer["b_before"]),
                              layer["activation"], layer["residual"]) for layer in out["layers"]]
    assert [layer.activation for layer in layers] == [activation, activation, "linear"]
    x, y = np.array(out["inputs"]), np.array(out["targets"])
    masks = [np.array(layer["dropout_mask"]) for layer in out["layers"][:-1]]
    logits, cache = reference.forward(layers, x, masks)
    value, dlogits = reference.data_loss(loss, logits, y)
    grads = reference.backward(layers, cache, dlogits, masks)

    def close(actual, expected):
        np.testing.assert_allclose(np.array(actual), expected, rtol=1e-9, atol=1e-12)

    close(out["logits"], logits)
    close(out["loss"], value)
    close(out["dL_dlogits"], dlogits)
    for traced, layer, (a_prev, z), (dW, db) in zip(out["layers"], layers, cache, grads, strict=True):
        close(traced["inputs"], a_prev)
        close(traced["pre_activations"], z)
        close(traced["activations"], reference.activate(layer.activation, z))
        close(traced["dL_dW"], dW)
        close(np.array(traced["inputs"]).T @ np.array(traced["dL_dz"]), dW)
        if layer.activation != "linear":
            close(traced["activation_slopes"], reference.slope(layer.activation, z))
        close(traced["dL_db"], db)
        close(traced["W_update"], -out["learning_rate"] * dW)           # plain SGD
        close(traced["W_after"], layer.W - out["learning_rate"] * dW)
        close(traced["b_after"], layer.b - out["learning_rate"] * db)


# --- the command line ----------------------------------------------------------------------

def test_text_shows_the_four_phases_for_the_first_examples(capsys):
    assert main(["trace", "learning-loop", "--step", "2", "--batch", "3"]) == 0
    text = capsys.readouterr().out
    order = [text.index(f"{n}. {phase}") for n, phase in
             enumerate(("Forward pass", "Loss", "Backpropagation", "Update"), start=1)]
    assert order == sorted(order)
    assert "step 2 " in text and "The tables show the first 3" in text
    inputs_table = text[text.index("  inputs"):text.index("Layer 1")]
    assert "example 3" in inputs_table and "example 4" not in inputs_table


@pytest.mark.parametrize("argv, message", [
    (["learning-rate", "--variant", "fastest"],
     "nnsim: --variant: expected one of too-high, good, too-low for learning-rate, got 'fastest'"),
    (["learning-loop", "--step", "150"],
     "nnsim: --step: expected a step below train.steps (150) of variant 'base', got 150"),
    (["learning-rate", "--variant", "too-high", "--step", "299"], "nnsim: --step: variant 'too-high' diverged at step"),
    (["no-such-lesson"], "no-such-lesson: no built-in lesson"),
])
def test_bad_input_is_one_line_and_status_2(argv, message, capsys):
    assert main(["trace", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith(message), captured.err
    assert captured.out == ""


def test_help(capsys):
    assert main(["trace", "--help"]) == 0
    assert "usage: nnsim trace" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["learning-loop", "--step", "-1"], ["learning-loop", "--batch", "0"]])
def test_bad_numbers_are_usage_errors(argv, capsys):
    assert main(["trace", *argv]) == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("dropout", [0.0, 0.3], ids=["no-dropout", "dropout"])
def test_the_chain_rule_factors_carry_the_gradients_the_step_used(dropout):
    """dL/dW = inputsᵀ @ dL/dz in every layer, dL/dz = dL/d(outputs) × mask × act'(z), and
    the output layer's dL/d(outputs) is dL/dlogits."""
    config = {**SMALL, "model": {**SMALL["model"], "dropout": dropout}}
    trace = trace_step(Run(config))
    assert trace.layers[-1].grad_outputs.tobytes() == trace.dlogits.tobytes()
    for layer in trace.layers:
        np.testing.assert_allclose(layer.inputs.T @ layer.deltas, layer.grad_weights,
                                   rtol=1e-9, atol=1e-15)
        mask = 1.0 if layer.dropout_mask is None else layer.dropout_mask
        np.testing.assert_array_equal(layer.deltas, layer.grad_outputs * layer.slopes * mask)
    hidden = trace.layers[0]
    np.testing.assert_allclose(hidden.slopes, 1.0 - np.tanh(hidden.pre_activations) ** 2,
                               rtol=1e-9)


@pytest.mark.parametrize("lr, lower", [(0.05, True), (1e4, False)], ids=["small-lr", "huge-lr"])
def test_the_loss_after_the_update_is_the_same_batch_through_the_new_weights(lr, lower):
    config = {**SMALL, "train": {**SMALL["train"], "lr": lr, "batch_size": 80}}
    run = Run(config)
    trace = trace_step(run)
    run.advance(1)
    full_batch_loss, _ = run.evaluate("train")      # the batch is the whole training split
    assert trace.loss_after == pytest.approx(full_batch_loss, rel=1e-12)
    assert (trace.loss_after < trace.loss) == lower


def test_train_state_is_a_copy():
    run = Run(SMALL)
    state = run.train_state()
    for array in (state.params, state.first, state.counters, state.streams, state.order):
        array[...] = 7
    assert run.params.tobytes() == Run(SMALL).params.tobytes() and run.step == 0

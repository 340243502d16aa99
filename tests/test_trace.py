"""``nnsim trace`` and ``core.trace``: the traced step is the step training takes, and its
numbers agree with the independent NumPy reference on every activation and loss."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import reference
from nnsim.__main__ import main
from nnsim.core import Run, linalg
from nnsim.core.config import ACTIVATIONS
from nnsim.core.scenario import load_scenario
from nnsim.core.snapshot import frozen
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
    inputs_table = text[text.index("  inputs"):text.index("h1 (hidden layer 1)")]
    assert "example 3" in inputs_table and "example 4" not in inputs_table


def table_in(text: str, title: str, after: str = "") -> np.ndarray:
    """The numbers of the first table titled ``title`` (after the line starting ``after``) in
    ``nnsim trace``'s text, as printed."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after)) if after else 0
    first = next(i for i in range(start, len(lines)) if lines[i].strip().startswith(title)
                 and lines[i].startswith("  ") and not lines[i].startswith("   "))
    rows = []
    for line in lines[first + 2:]:
        if not line.startswith("    "):
            break
        words = line.split()
        rows.append([float(v) for v in (words[2:] if words[0].isalpha() else words)])
    return np.array(rows)


def printed_close(printed, computed, factors: int = 1):
    """A printed number (4 significant figures) against one ``computed`` from ``factors``
    other printed numbers: each carries a rounding of up to 5 in its 5th figure."""
    np.testing.assert_allclose(printed, computed, rtol=5e-4 * (factors + 1), atol=1e-12)


@pytest.mark.parametrize("case", ["residual", "penalised-clipped", "everything"])
def test_text_shows_every_factor_and_they_multiply_out(case, tmp_path, capsys):
    """Item 3 of issue 26: the text has the loss after the step and each hidden layer's
    dL/d(outputs), act'(z) and dL/dz; a reader multiplying them out gets the next number."""
    tables = {"data": SMALL["data"], "model": {**SMALL["model"], **FACTOR_CASES[case].get("model", {})},
              "train": {**SMALL["train"], **FACTOR_CASES[case].get("train", {})}}
    path = scenario_file(tmp_path, tables)
    assert main(["trace", path, "--step", str(TRACED_STEP), "--batch", "8"]) == 0
    text = capsys.readouterr().out
    assert "Loss after the step, on the same batch" in text
    n_layers = len(tables["model"]["layers"]) + 1
    p = table_in(text, "p")
    y = table_in(text, "targets")
    printed_close(table_in(text, "p - y"), p - y, factors=2)
    printed_close(table_in(text, "dL/dlogits = that / 8"), table_in(text, "p - y") / 8)
    assert table_in(text, "each example's loss").shape == (1, 8)
    for i in range(n_layers - 1, 0, -1):
        section = f"h{i} (hidden layer {i}), "
        grad_outputs = table_in(text, "dL/d(outputs)", section)
        slopes = table_in(text, "act'(z)", section)
        deltas = table_in(text, "dL/dz", section)
        mask = table_in(text, "dropout mask", section) if case == "everything" else 1.0
        printed_close(deltas, grad_outputs * mask * slopes, factors=3)
        above = f"h{i + 1}" if i < n_layers - 1 else "out"
        assert section + f"tanh: dL/d(outputs) = dL/dz of {above} @ {above}'s W^T" in text
    assert ("its skip connection" in text) == bool(FACTOR_CASES[case].get("model", {}).get("residual"))
    if case != "residual":
        assert "Clipping: |gradient| over every parameter" in text


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


# --- the chain rule's factors: backpropagation's own, against the reference ----------------

FACTOR_CASES = {   # the networks whose factors a slip in backpropagation would get wrong
    "plain": {},
    "residual": {"model": {"layers": [4, 4, 4], "residual": True}},
    "dropout": {"model": {"activation": "relu", "dropout": 0.3}},
    "penalised-clipped": {"train": {"l1": 0.02, "l1_mode": "subgradient", "l2": 0.03,
                                    "clip_norm": 0.05}},
    "everything": {"model": {"layers": [4, 4, 4], "residual": True, "dropout": 0.2},
                   "train": {"optimizer": "adam", "l2": 0.01, "clip_norm": 0.05}},
}


def factor_run(case: str, seed: int) -> Run:
    tables = FACTOR_CASES[case]
    return Run({"data": SMALL["data"],
                "model": {**SMALL["model"], **tables.get("model", {})},
                "train": {**SMALL["train"], "seed": seed, **tables.get("train", {})}})


def check_against_reference(trace) -> None:
    """Every number backpropagation showed, from dL/dlogits to the gradient the update used,
    against the NumPy reference on the same weights, batch and masks."""
    layers = [reference.Layer(layer.weights_before, layer.biases_before, layer.activation,
                              layer.residual) for layer in trace.layers]
    masks = ([layer.dropout_mask for layer in trace.layers[:-1]]
             if trace.layers[0].dropout_mask is not None else None)
    logits, cache = reference.forward(layers, trace.inputs, masks)
    value, dlogits = reference.data_loss(trace.loss_function, logits, trace.targets)
    l1 = 0.0 if trace.l1_proximal else trace.train.l1
    _, penalty_grads = reference.penalty(layers, l1, trace.train.l2)

    def close(actual, expected):
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)

    close(trace.loss, value)
    close(trace.example_losses.mean(), value)
    close(trace.dlogits, dlogits)
    used = []
    for traced, (a_prev, _), (upstream, factor, dz), (penalty_W, _) in zip(
            trace.layers, cache, reference.chain_rule(layers, cache, dlogits, masks),
            penalty_grads, strict=True):
        close(traced.grad_outputs, upstream)
        close(traced.slopes, factor)
        close(traced.deltas, dz)
        close(traced.data_grad_weights, a_prev.T @ dz)
        close(traced.data_grad_biases, dz.sum(axis=0))
        if traced.penalty_grad_weights is not None:
            close(traced.penalty_grad_weights, penalty_W)
        used.append((a_prev.T @ dz + penalty_W, dz.sum(axis=0)))
    flat = np.concatenate([part.ravel() for pair in used for part in pair])
    norm = np.linalg.norm(flat)
    close(trace.grad_norm_total, norm)
    clip = trace.train.clip_norm
    scale = clip / norm if 0 < clip < norm else 1.0
    for traced, (dW, db) in zip(trace.layers, used):
        close(traced.grad_weights, scale * dW)
        close(traced.grad_biases, scale * db)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", FACTOR_CASES)
def test_the_chain_rule_factors_are_backpropagations_and_the_reference_agrees(case, seed):
    """dL/d(outputs), act'(z) and dL/dz as the backward kernel wrote them for the step, and
    dL/dz the product of the other two through the mask in the kernel's own order, bit for
    bit, so the act'(z) shown is the factor it multiplied by."""
    run = factor_run(case, seed)
    run.advance(TRACED_STEP)
    trace = trace_step(run)
    check_against_reference(trace)
    assert trace.layers[-1].grad_outputs.tobytes() == trace.dlogits.tobytes()
    for layer in trace.layers:
        product = layer.grad_outputs if layer.dropout_mask is None else (
            layer.grad_outputs * layer.dropout_mask)
        assert (product * layer.slopes).tobytes() == layer.deltas.tobytes()
    if case == "penalised-clipped":
        assert trace.clip_scale < 1.0 and trace.penalty > 0.0
    if FACTOR_CASES[case].get("model", {}).get("residual"):
        assert [layer.residual for layer in trace.layers] == [False, True, True, False]


def _without_skip_term(trace, i):
    """The reviewer's slip: layer i's dL/d(outputs) without what the skip connection of the
    layer above sends straight down."""
    layers = list(trace.layers)
    layers[i] = dataclasses.replace(layers[i], grad_outputs=frozen(
        layers[i].grad_outputs - layers[i + 1].grad_outputs))
    return dataclasses.replace(trace, layers=tuple(layers))


def _one_wrong(trace, field):
    layers = list(trace.layers)
    wrong = np.array(getattr(layers[0], field))
    wrong[0, 0] = wrong[0, 0] * 1.01 + 1e-3
    layers[0] = dataclasses.replace(layers[0], **{field: frozen(wrong)})
    return dataclasses.replace(trace, layers=tuple(layers))


@pytest.mark.parametrize("plant", ["skip-term", "grad_outputs", "slopes", "deltas",
                                   "penalty_grad_weights", "grad_weights"])
def test_a_wrong_factor_fails_the_check(plant):
    """The negative control: one wrong factor, anywhere backpropagation's story goes, is caught."""
    run = factor_run("everything", 0)
    run.advance(TRACED_STEP)
    trace = trace_step(run)
    wrong = _without_skip_term(trace, 1) if plant == "skip-term" else _one_wrong(trace, plant)
    with pytest.raises(AssertionError):
        check_against_reference(wrong)


def test_a_partial_batch_is_the_rest_of_its_epoch():
    """80 points leave 56 to train on: batches of 12 end each epoch with a batch of 8."""
    run = Run({**SMALL, "train": {**SMALL["train"], "batch_size": 12}})
    trace = trace_step(run)
    assert (trace.train_rows, trace.batch_size) == (56, 12)
    run.advance(4)
    last = trace_step(run)
    assert (last.batch_start, len(last.batch_rows), last.epoch) == (48, 8, 0)
    run.advance(1)
    assert trace_step(run).batch_start == 0 and run.epoch == 1


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

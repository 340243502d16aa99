"""``nnsim.core.Run``: the compiled training loop against a plain NumPy reference, determinism
and chunking invariance, divergence, the public API, and the GIL released by kernel calls.

Expected values come from ``reference.py``, from a second run, or from the configuration —
never from numbers copied out of a previous run.
"""

from __future__ import annotations

import math
import threading
import time

import numba
import numpy as np
import pytest

import reference
from nnsim.core import ConfigError, Run


def merged(base: dict, **tables) -> dict:
    """``base`` with some keys of some tables changed: merged(cfg, train={"lr": 0.1})."""
    return {t: {**base.get(t, {}), **tables.get(t, {})} for t in {*base, *tables}}


def flat_weights(run) -> np.ndarray:
    return np.concatenate([W.ravel() for W, _ in run.get_params()])


# Full batch, so the batch order only changes the order of a sum (rounding, not results).
FULL_BATCH = {"data": {"kind": "circle", "n_points": 60},
              "model": {"layers": [5, 5]},
              "train": {"batch_size": 0, "optimizer": "sgd", "lr": 0.1}}

# A run that exercises every stateful part of the loop: mini-batches, dropout masks, a step
# schedule, reduce-on-plateau and early stopping.
EVERYTHING = {"data": {"kind": "xor", "n_points": 80, "noise": 0.3},
              "model": {"layers": [32, 32], "dropout": 0.1},
              "train": {"batch_size": 10, "lr": 0.02, "steps": 1000, "schedule": "step",
                        "schedule_step": 150, "plateau_patience": 3, "eval_every": 10}}


# --- the compiled step against the NumPy reference --------------------------------------

REFERENCE_CASES = {
    "sgd": ({"optimizer": "sgd"}, {}, "bce"),
    "momentum": ({"optimizer": "momentum"}, {}, "bce"),
    "nesterov": ({"optimizer": "nesterov"}, {}, "bce"),
    "rmsprop": ({"optimizer": "rmsprop", "lr": 0.002}, {}, "bce"),
    "adam": ({"optimizer": "adam", "lr": 0.01}, {}, "bce"),
    "adamw": ({"optimizer": "adamw", "lr": 0.01, "weight_decay": 0.5}, {}, "bce"),
    "sgd-l2": ({"l2": 0.05}, {}, "bce"),
    "sgd-l1-proximal": ({"l1": 0.05}, {}, "bce"),
    "adam-l1-subgradient": ({"optimizer": "adam", "lr": 0.01, "l1": 0.01, "l1_mode": "subgradient"},
                            {}, "bce"),
    "momentum-clip": ({"optimizer": "momentum", "clip_norm": 0.05}, {}, "bce"),
    "softmax": ({}, {"data": {"kind": "blobs", "classes": 3}}, "softmax"),
    "mse-regression": ({"lr": 0.01}, {"data": {"kind": "plane"}}, "mse"),
    "mse-binary": ({"loss": "mse"}, {}, "mse_sigmoid"),
    "residual-relu": ({"optimizer": "nesterov"},
                      {"model": {"layers": [6, 6, 6], "activation": "relu", "residual": True,
                                 "init": "he"}},
                      "bce"),
}


@pytest.mark.parametrize("case", REFERENCE_CASES)
def test_compiled_steps_match_the_numpy_reference(case):
    train, tables, loss = REFERENCE_CASES[case]
    run = Run(merged(FULL_BATCH, train=train, **tables))
    x, y = run.split("train")
    start = run.params.copy()
    snapshot = run.advance(8)
    expected = reference.train_full_batch(run.layout.table, start, x, y, loss, run.config.train, 8)
    assert np.abs(expected - start).max() > 1e-3              # the steps moved the weights
    np.testing.assert_allclose(run.params, expected, rtol=0, atol=1e-12)
    # The snapshot's training loss is the data loss of the whole split (no penalty).
    logits, _ = reference.forward(reference.unpack(run.layout.table, run.params), x)
    assert snapshot.step == 8
    assert run.evaluate("train")[0] == pytest.approx(reference.data_loss(loss, logits, y)[0], rel=1e-12)


def test_snapshot_gradient_norms_and_update_ratios_match_the_reference():
    """At a check: per layer, the mean over the steps since the last check of ‖∂L/∂W‖, and
    ‖ΔW‖/‖W‖ of the last step."""
    config = merged(FULL_BATCH, model={"layers": [5, 4]}, train={"optimizer": "momentum"})
    stepped = Run(config)
    x, y = stepped.split("train")
    trajectory = [stepped.params.copy()]
    for _ in range(10):
        stepped.advance(1)
        trajectory.append(stepped.params.copy())
    snapshot = Run(config).advance(10)
    norms = []
    for params in trajectory[:-1]:
        layers = reference.unpack(stepped.layout.table, params)
        _, grads = reference.loss_and_gradients(layers, x, y, "bce")
        norms.append([np.linalg.norm(dW) for dW, _ in grads])
    np.testing.assert_allclose(snapshot.grad_norms, np.mean(norms, axis=0), rtol=1e-12)
    before, after = (reference.unpack(stepped.layout.table, p) for p in trajectory[-2:])
    ratios = [np.linalg.norm(a.W - b.W) / np.linalg.norm(b.W) for a, b in zip(after, before)]
    np.testing.assert_allclose(snapshot.update_ratios, ratios, rtol=1e-9)


def test_a_checks_batch_loss_is_the_mean_and_spread_of_the_steps_since_the_last_check():
    """Full batch, so each step's batch loss is the reference loss of the whole split at the
    weights it started from: a check records their mean and (population) standard deviation
    over the steps since the previous check, and nothing at step 0, before any step."""
    every = 4
    run = Run(merged(FULL_BATCH, train={"eval_every": every, "steps": 20}))
    x, y = run.split("train")
    losses = []
    for _ in range(20):
        layers = reference.unpack(run.layout.table, run.params)
        losses.append(reference.loss_and_gradients(layers, x, y, "bce")[0])
        run.advance(1)
    history = run.history
    assert list(history.step) == list(range(0, 21, every))
    assert math.isnan(history.batch_loss[0]) and math.isnan(history.batch_loss_std[0])
    windows = np.array(losses).reshape(-1, every)          # (checks, steps since the last)
    assert windows.std(axis=1).min() > 1e-6                 # the loss moved within each window
    np.testing.assert_allclose(history.batch_loss[1:], windows.mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(history.batch_loss_std[1:], windows.std(axis=1), rtol=1e-6)


# --- determinism -------------------------------------------------------------------------

def test_same_config_and_seed_give_bit_identical_runs(assert_identical):
    first, second = Run(EVERYTHING), Run(EVERYTHING)
    assert_identical(first.advance(300), second.advance(300))
    assert_identical(first.params, second.params)


CHUNKINGS = {"one call": [1000], "ten calls": [100] * 10, "ragged": [7, 93, 300, 1, 250, 349]}


@pytest.mark.parametrize("patience", [0, 30], ids=["to the end", "early stopping"])
def test_chunking_never_changes_a_result(patience, assert_identical):
    config = merged(EVERYTHING, train={"early_stopping": patience})
    results = {}
    for name, chunks in CHUNKINGS.items():
        run = Run(config)
        for n in chunks:
            snapshot = run.advance(n)
        results[name] = (snapshot, run.params.copy())
    final = results["one call"][0]
    assert final.stopped_early == bool(patience)
    assert len(np.unique(final.history.lr)) > 3             # schedule and plateau both acted
    assert final.step == 1000 if not patience else 300 < final.step < 1000
    for name in ("ten calls", "ragged"):
        assert_identical(results[name], results["one call"])


def test_different_seeds_differ():
    first = Run(merged(EVERYTHING, train={"seed": 0}))
    other = Run(merged(EVERYTHING, train={"seed": 1}))
    assert not np.array_equal(first.params, other.params)
    assert first.advance(100).train_loss != other.advance(100).train_loss


# --- divergence --------------------------------------------------------------------------

DIVERGING = {
    "houses-raw-lr-1": {"data": {"kind": "houses"}, "train": {"optimizer": "sgd", "lr": 1.0}},
    "plane-lr-100": {"data": {"kind": "plane"}, "train": {"optimizer": "sgd", "lr": 100.0}},
}


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("case", DIVERGING)
def test_huge_learning_rate_diverges_without_exception(case):
    run = Run(DIVERGING[case])
    snapshot = run.advance(500)
    assert snapshot.diverged and snapshot.state == "diverged" and snapshot.finished
    assert isinstance(snapshot.diverged_step, int)
    assert 1 <= snapshot.diverged_step == snapshot.step < 500
    # Nothing moves after divergence.
    params, rows = run.params.copy(), len(run.history)
    again = run.advance(100)
    assert again.step == snapshot.step and again.diverged_step == snapshot.diverged_step
    assert np.array_equal(run.params, params, equal_nan=True) and len(run.history) == rows
    # reset() recovers, and the same run diverges again at the same step.
    run.reset()
    fresh = run.snapshot()
    assert fresh.step == 0 and not fresh.diverged and fresh.diverged_step is None
    assert math.isfinite(fresh.train_loss) and math.isfinite(fresh.val_loss)
    assert run.advance(500).diverged_step == snapshot.diverged_step


@pytest.mark.parametrize("case", DIVERGING)
def test_divergence_step_does_not_depend_on_chunking(case):
    whole = Run(DIVERGING[case]).advance(500)
    stepwise = Run(DIVERGING[case])
    for _ in range(500):
        single = stepwise.advance(1)
    assert single.diverged_step == whole.diverged_step


# --- the public API ----------------------------------------------------------------------

def test_split_shapes_follow_the_configuration():
    run = Run({"data": {"kind": "circle", "n_points": 200, "features": ["x1", "x2", "x1^2"],
                        "split": [0.6, 0.25, 0.15]}})
    sizes = {"train": 120, "val": 50, "test": 30}
    for which, n in sizes.items():
        x, y = run.split(which)
        assert x.shape == (n, 3) and y.shape == (n, 1)
        assert x.dtype == y.dtype == np.float64
    x, _ = run.split("train")
    x[:] = 0.0                                               # a copy: the run's data is untouched
    assert not np.all(run.split("train")[0] == 0.0)
    assert np.array_equal(run.split("validation")[0], run.split("val")[0])
    digits = Run({"data": {"kind": "digits"}})
    x, y = digits.split("test")
    assert x.shape[1] == 64 and y.shape == (len(x), 10) and np.all(y.sum(axis=1) == 1)


def test_get_params_shapes_and_set_params_round_trip():
    run = Run(merged(FULL_BATCH, model={"layers": [5, 4]}))
    params = run.get_params()
    widths = (2, 5, 4, 1)
    expected = [((n_in, n_out), (n_out,)) for n_in, n_out in zip(widths, widths[1:])]
    assert [(W.shape, b.shape) for W, b in params] == expected
    params[0][0][:] = 123.0                                  # copies: the run is untouched
    assert not np.any(run.get_params()[0][0] == 123.0)
    rng = np.random.default_rng(0)
    new = [(rng.normal(size=W.shape), rng.normal(size=b.shape)) for W, b in params]
    run.set_params(new)
    for (W, b), (W_new, b_new) in zip(run.get_params(), new):
        assert np.array_equal(W, W_new) and np.array_equal(b, b_new)
    # The loaded weights are the ones the network computes with.
    x, y = run.split("val")
    logits, _ = reference.forward(reference.unpack(run.layout.table, run.params), x)
    assert run.evaluate("val")[0] == pytest.approx(reference.data_loss("bce", logits, y)[0], rel=1e-12)


def test_set_params_rejects_wrong_shapes_and_changes_nothing():
    run = Run(FULL_BATCH)
    before = run.params.copy()
    good = [(W + 1.0, b + 1.0) for W, b in run.get_params()]
    wrong_shape = [*good[:-1], (good[-1][0].T, good[-1][1])]
    with pytest.raises(ValueError, match="layer 2"):
        run.set_params(wrong_shape)
    with pytest.raises(ValueError):
        run.set_params(good[:-1])
    assert np.array_equal(run.params, before)


# key, value the run starts with, value set after 20 steps
SETTABLE = [
    ("train.lr", 0.1, 0.5),
    ("train.l1", 0.0, 0.02),
    ("train.l2", 0.0, 0.05),
    ("train.optimizer", "sgd", "adam"),
]


@pytest.mark.parametrize("key,old,new", SETTABLE, ids=[k for k, _, _ in SETTABLE])
def test_set_takes_effect_at_the_next_step(key, old, new):
    """After set(key, new) the run continues exactly as a run configured with ``new`` would
    from the same weights (full batch: the batch order only reorders a sum)."""
    table, name = key.split(".")
    config = merged(FULL_BATCH, **{table: {name: old}})
    changed, unchanged = Run(config), Run(config)
    changed.advance(20)
    unchanged.advance(20)
    fresh = Run(merged(FULL_BATCH, **{table: {name: new}}))
    fresh.set_params(changed.get_params())
    changed.set(key, new)
    assert getattr(getattr(changed.config, table), name) == new
    changed.advance(10)
    unchanged.advance(10)
    fresh.advance(10)
    np.testing.assert_allclose(changed.params, fresh.params, rtol=0, atol=1e-12)
    assert np.abs(changed.params - unchanged.params).max() > 1e-4


def test_set_dropout_acts_from_the_next_step_like_the_configured_rate(assert_identical):
    """Masks come from the run's own stream, so dropout switched on at step 20 gives exactly
    the run that was configured with that rate and had it off for the first 20 steps."""
    plain = merged(FULL_BATCH, train={"batch_size": 8})
    changed, unchanged = Run(plain), Run(plain)
    configured = Run(merged(plain, model={"dropout": 0.3}))
    configured.set("model.dropout", 0.0)
    for run in (changed, unchanged, configured):
        run.advance(20)
    assert_identical(changed.params, configured.params)
    changed.set("model.dropout", 0.3)
    configured.set("model.dropout", 0.3)
    changed.advance(1)
    unchanged.advance(1)
    configured.advance(1)
    assert not np.array_equal(changed.params, unchanged.params)
    assert_identical(changed.params, configured.params)


@pytest.mark.parametrize("key,value", [("model.layers", [4]), ("data.kind", "xor"),
                                       ("train.batch_size", 4), ("train.seed", 3)])
def test_set_of_a_key_that_defines_the_run_raises(key, value):
    run = Run(FULL_BATCH)
    with pytest.raises(ConfigError) as error:
        run.set(key, value)
    assert error.value.key == key
    assert run.config == Run(FULL_BATCH).config


def test_set_validates_values_and_names():
    run = Run(FULL_BATCH)
    with pytest.raises(ConfigError) as error:
        run.set("train.lr", -1.0)
    assert error.value.key == "train.lr" and run.config.train.lr == 0.1
    with pytest.raises(ConfigError, match="did you mean 'train.lr'"):
        run.set("train.lrr", 0.2)


def test_reset_returns_to_the_same_start_and_trajectory(assert_identical):
    run = Run(EVERYTHING)
    initial = run.params.copy()
    first = run.advance(200)
    run.reset()
    assert run.step == 0 and run.epoch == 0 and len(run.history) == 1
    assert_identical(run.params, initial)
    assert_identical(run.advance(200), first)


def test_reseed_draws_new_weights_and_the_old_seed_brings_them_back(assert_identical):
    run = Run(EVERYTHING)
    initial = run.params.copy()
    run.advance(50)
    run.reseed(1)
    assert run.step == 0 and run.config.train.seed == 1
    assert not np.array_equal(run.params, initial)
    run.reseed(0)
    assert_identical(run.params, initial)


def test_early_stopping_restores_the_best_weights(assert_identical):
    config = merged(EVERYTHING, train={"early_stopping": 8, "steps": 5000})
    run = Run(config)
    snapshot = run.advance(5000)
    history = snapshot.history
    best = int(np.argmin(history.val_loss))
    assert snapshot.stopped_early and snapshot.finished and snapshot.step < 5000
    assert snapshot.step == history.step[-1] == history.step[best] + 8 * 10
    assert snapshot.best_step == history.step[best]
    assert snapshot.val_loss == history.val_loss[best] == run.evaluate("val")[0]
    # The restored weights are those a fresh run has at the best step.
    replay = Run(config)
    replay.advance(snapshot.best_step)
    assert_identical(run.params, replay.params)
    # Further advance() does nothing.
    assert run.advance(100).step == snapshot.step


def test_proximal_l1_gives_exact_zeros_and_the_subgradient_does_not():
    config = {"data": {"kind": "circle"}, "model": {"layers": [16, 16]},
              "train": {"optimizer": "sgd", "lr": 0.3, "l1": 3e-3, "steps": 1000}}
    zeros = {}
    for mode in ("proximal", "subgradient"):
        run = Run(merged(config, train={"l1_mode": mode}))
        run.advance(1000)
        zeros[mode] = np.mean(flat_weights(run) == 0.0)
    assert zeros["proximal"] > 0.3
    assert zeros["subgradient"] < 0.01


def test_weight_histogram_counts_every_weight():
    run = Run(merged(FULL_BATCH, model={"layers": [7, 3]}, train={"lr": 3.0}))
    widths = (2, 7, 3, 1)
    before = run.pictures()
    run.advance(300)
    for pictures in (before, run.pictures()):
        assert pictures.weight_hist.shape[0] == pictures.weight_hist_edges.shape[0] == 3
        assert pictures.weight_hist_edges.shape[1] == pictures.weight_hist.shape[1] + 1
        np.testing.assert_array_equal(pictures.weight_hist.sum(axis=1),
                                      [i * o for i, o in zip(widths, widths[1:])])
    assert (before.step, run.pictures().step) == (0, 300)


@pytest.mark.parametrize("kind,task", [("circle", "binary"), ("blobs", "multiclass"),
                                       ("plane", "regression")])
def test_boundary_is_the_model_over_the_plane(kind, task):
    run = Run({"data": {"kind": kind, "features": ["x1", "x2", "x1*x2"]}, "train": {"steps": 50}})
    run.advance(50)
    pictures = run.pictures()
    rows, cols = run.boundary_shape
    assert pictures.boundary.shape == (rows, cols)
    assert pictures.boundary_extent == run.dataset.plane.extent
    x1_min, x1_max, x2_min, x2_max = pictures.boundary_extent
    x1, x2 = np.meshgrid(np.linspace(x1_min, x1_max, cols), np.linspace(x2_min, x2_max, rows))
    inputs = run.dataset.plane.featurize(np.column_stack([x1.ravel(), x2.ravel()]))
    logits, _ = reference.forward(reference.unpack(run.layout.table, run.params), inputs)
    if task == "binary":
        expected = reference.sigmoid(logits[:, 0])
        assert pictures.boundary.min() >= 0.0 and pictures.boundary.max() <= 1.0
    elif task == "multiclass":
        expected = logits.argmax(axis=1)
    else:
        expected = logits[:, 0]
    np.testing.assert_allclose(pictures.boundary, expected.reshape(rows, cols), rtol=1e-12, atol=1e-12)


def test_no_boundary_without_a_plane():
    run = Run({"data": {"kind": "digits"}, "model": {"layers": [16]}})
    run.advance(10)
    assert run.pictures().boundary is None and run.pictures().boundary_extent is None
    assert math.isnan(Run({"data": {"kind": "plane"}}).evaluate("test")[1])


# --- the GIL -----------------------------------------------------------------------------

def longest_pause_while(work) -> tuple[float, float]:
    """Run ``work`` on a thread while this one ticks in 1 ms sleeps; return the longest gap
    between ticks and how long ``work`` took."""
    finished = threading.Event()
    duration = []

    def worker():
        start = time.perf_counter()
        work()
        duration.append(time.perf_counter() - start)
        finished.set()

    thread = threading.Thread(target=worker)
    ticks = [time.perf_counter()]
    thread.start()
    while not finished.is_set():
        time.sleep(0.001)
        ticks.append(time.perf_counter())
    thread.join()
    return float(np.diff(ticks).max()), duration[0]


@numba.njit(nogil=False, cache=False)
def _spin_holding_the_gil(n):
    total = 1.0
    for i in range(n):
        total = total * 1.0000001 + 1e-9       # a dependency chain: not vectorisable
    return total


def test_a_long_kernel_call_releases_the_gil():
    """One ``train_chunk`` call on a digits-sized network (eval_every = the whole chunk)
    leaves the main thread ticking; the same measurement on a GIL-holding Numba loop of
    similar length shows a pause as long as the call, so the criterion can fail."""
    steps = 800
    run = Run({"data": {"kind": "digits"}, "model": {"layers": [128, 64]},
               "train": {"batch_size": 64, "eval_every": steps, "steps": steps + 1}})
    run.advance(1)                                           # compiled, buffers warm
    pause, duration = longest_pause_while(lambda: run.advance(steps - 1))
    assert run.step == steps
    assert pause < 0.25 * duration, (pause, duration)

    _spin_holding_the_gil(10)
    start = time.perf_counter()
    _spin_holding_the_gil(10**6)
    n = int(10**6 * duration / max(time.perf_counter() - start, 1e-6))
    pause, held = longest_pause_while(lambda: _spin_holding_the_gil(n))
    assert pause > 0.5 * held, (pause, held)


# --- the end of a run is always measured ---------------------------------------------------

@pytest.mark.parametrize("steps, eval_every", [(35, 10), (7, 100)])
def test_the_end_of_a_run_is_measured_off_a_check_boundary(steps, eval_every):
    run = Run(merged(FULL_BATCH, train={"steps": steps, "eval_every": eval_every}))
    snapshot = run.advance(10_000)
    assert snapshot.finished and snapshot.step == steps and run.history.step[-1] == steps
    assert (snapshot.train_loss, snapshot.train_acc) == run.evaluate("train")
    assert (snapshot.val_loss, snapshot.val_acc) == run.evaluate("val")
    checks = [s for s in range(0, steps, eval_every)] + [steps]
    assert list(run.history.step) == checks


def test_a_run_ending_on_a_check_gets_no_extra_row(assert_identical):
    run = Run(merged(FULL_BATCH, train={"steps": 40, "eval_every": 10}))
    snapshot = run.advance(40)
    assert list(run.history.step) == [0, 10, 20, 30, 40]
    chunked = Run(merged(FULL_BATCH, train={"steps": 40, "eval_every": 10}))
    for _ in range(8):
        last = chunked.advance(5)
    assert_identical(snapshot, last)


def test_setting_train_steps_to_the_current_step_measures_there():
    run = Run(merged(FULL_BATCH, train={"steps": 100, "eval_every": 10}))
    run.advance(13)
    assert run.history.step[-1] == 10
    run.set("train.steps", 13)
    assert run.finished and run.history.step[-1] == 13
    assert run.snapshot().val_loss == run.evaluate("val")[0]

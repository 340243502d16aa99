"""The learning-rate range test (core.lr_find): its rates, its losses against plain training at
those rates, where it stops and what it suggests, and that the run is not touched."""

from __future__ import annotations

import numpy as np
import pytest

from nnsim.core import lr_find
from nnsim.core.run import Run


def config(optimizer="sgd", **train):
    return {"data": {"kind": "circle", "n_points": 200, "noise": 0.1},
            "model": {"layers": [8, 8], "activation": "tanh"},
            "train": {"lr": 0.1, "optimizer": optimizer, "batch_size": 32, "steps": 5000,
                      "eval_every": 10, "seed": 5, **train}}


def test_the_rates_grow_exponentially_from_start_to_end():
    rates = lr_find.rates(1e-6, 10.0, 200)
    assert rates[0] == pytest.approx(1e-6) and rates[-1] == pytest.approx(10.0)
    np.testing.assert_allclose(rates[1:] / rates[:-1], (1e7) ** (1 / 199))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_its_losses_are_plain_training_at_those_rates(optimizer):
    """A twin run trained one step at a time, its rate set before each step to the test's, and
    measured at every step (eval_every 1: a check's batch loss is that one step's)."""
    run = Run(config(optimizer))
    run.advance(30)
    test = lr_find.range_test(run, 1e-4, 1.0, 40)
    twin = Run(config(optimizer, eval_every=1))
    twin.advance(30)
    for rate, loss in zip(test.rates, test.losses):
        twin.set("train.lr", float(rate))
        twin.advance(1)
        # equal up to rounding: on a fresh clone (CI) Adam's losses once differed in the last
        # bit; a rate off by 1% moves them in the third digit (the next test)
        assert twin.history.batch_loss[-1] == pytest.approx(loss, rel=1e-12, abs=0)
    assert len(test.losses) == 40


def test_a_wrong_rate_is_caught():
    """Negative control: the twin at a slightly different rate no longer matches."""
    run = Run(config())
    test = lr_find.range_test(run, 1e-2, 1.0, 5)
    twin = Run(config(eval_every=1))
    for rate in test.rates:
        twin.set("train.lr", float(rate) * 1.01)
        twin.advance(1)
    assert twin.history.batch_loss[-1] != test.losses[-1]


def test_it_stops_when_the_loss_diverges_and_suggests_the_steepest_descent():
    """A regression (MSE): a classifier's cross-entropy climbs but hardly ever explodes."""
    run = Run({"data": {"kind": "houses"}, "model": {"layers": [8], "activation": "tanh"},
               "train": {"lr": 0.01, "optimizer": "sgd", "batch_size": 32, "seed": 5}})
    test = lr_find.range_test(run)
    assert test.diverged is not None and test.diverged < lr_find.STEPS - 1
    assert test.smoothed[test.diverged] > lr_find.STOP_FACTOR * np.min(test.smoothed[:test.diverged])
    assert test.suggestion is not None
    assert test.rates[0] < test.suggestion < test.rates[test.diverged]
    reach, log_rates = lr_find.SLOPE_REACH, np.log10(test.rates)
    centres = np.arange(lr_find.SKIP_START, test.diverged - reach)
    slopes = ((test.smoothed[centres + reach] - test.smoothed[centres - reach])
              / (log_rates[centres + reach] - log_rates[centres - reach]))
    assert slopes.min() < 0
    assert test.steepest == centres[np.argmin(slopes)]


def test_the_run_is_not_touched():
    run, twin = Run(config()), Run(config())
    run.advance(20)
    twin.advance(20)
    lr_find.range_test(run)
    run.advance(20)
    twin.advance(20)
    np.testing.assert_array_equal(run.params, twin.params)
    assert run.config == twin.config

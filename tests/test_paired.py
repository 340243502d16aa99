"""The kind ``paired``: pairs of runs read at the same step (equal time) or each at the first
check where its own training loss reaches ``fit`` (equal fit), the mean over pairs of the first
run's value minus the second's, or with both how that difference changes from one reading to the
other; pending while a run has not been read, and the refusals."""

from dataclasses import replace

import pytest

from nnsim.core.config import ConfigError
from nnsim.core.expectations import parse_expectation
from nnsim.core.paired import reading
from scenario_helpers import expect, history, outcome, runs

STEPS = [0, 10, 20, 30, 40]


def run(name, train_loss, val_acc, finished=True):
    return outcome(name, history(STEPS[:len(train_loss)], train_loss=train_loss, val_acc=val_acc),
                   finished=finished)


# Two data sets. SGD fits slowly: at step 20 it is less fit and better on validation (the
# impression); Adam reaches train_loss 0.3 at step 10, SGD at step 30, and there they score the
# same on the first data set and Adam 0.02 better on the second.
PAIRS = runs(run("sgd-1", [0.7, 0.5, 0.4, 0.3, 0.2], [0.5, 0.70, 0.80, 0.78, 0.77]),
             run("adam-1", [0.7, 0.3, 0.1, 0.05, 0.01], [0.5, 0.78, 0.72, 0.70, 0.69]),
             run("sgd-2", [0.7, 0.6, 0.45, 0.25, 0.2], [0.5, 0.65, 0.79, 0.76, 0.75]),
             run("adam-2", [0.7, 0.28, 0.1, 0.05, 0.01], [0.5, 0.78, 0.74, 0.71, 0.70]))
TWO = [["sgd-1", "adam-1"], ["sgd-2", "adam-2"]]
AT_STEP = {"kind": "paired", "pairs": TWO, "metric": "val_acc", "step": 20}
AT_FIT = {"kind": "paired", "pairs": TWO, "metric": "val_acc", "fit": 0.3}


def test_at_a_step_the_mean_difference_over_pairs():
    result = expect({**AT_STEP, "above": 0.05}, PAIRS)
    figures = dict(result.figures)
    assert figures["value"] == pytest.approx((0.80 + 0.79) / 2)
    assert figures["other"] == pytest.approx((0.72 + 0.74) / 2)
    assert figures["difference"] == pytest.approx(((0.80 - 0.72) + (0.79 - 0.74)) / 2)
    assert result.passed is True and "at step 20" in result.message
    assert expect({**AT_STEP, "above": 0.07}, PAIRS).passed is False
    loss = dict(expect({**AT_STEP, "metric": "train_loss", "above": 0.0}, PAIRS).figures)
    assert loss["difference"] == pytest.approx(((0.4 - 0.1) + (0.45 - 0.1)) / 2)


def test_at_equal_fit_each_run_is_read_at_its_own_first_check_reaching_it():
    result = expect({**AT_FIT, "below": 0.0}, PAIRS)
    figures = dict(result.figures)
    # sgd-1 at step 30 (0.3 counts: at or below), adam-1 at step 10; sgd-2 at 30, adam-2 at 10
    assert figures["value"] == pytest.approx((0.78 + 0.76) / 2)
    assert figures["other"] == pytest.approx((0.78 + 0.78) / 2)
    assert figures["difference"] == pytest.approx(-0.01)
    assert figures["step"] == 30 and figures["other_step"] == 10
    assert result.passed is True and "sgd-2 val_acc 0.76 at step 30" in result.details[1]
    # the impression at step 20 and the reading at equal fit point opposite ways
    assert expect({**AT_STEP, "below": 0.0}, PAIRS).passed is False
    assert reading(PAIRS["sgd-1"], "val_acc", fit=0.35) == (30, 0.78)
    assert reading(PAIRS["sgd-1"], "val_acc", fit=0.1) is None
    assert reading(PAIRS["sgd-1"], "val_acc", step=40) == (40, 0.77)


def test_with_a_step_and_a_fit_it_bounds_the_change_from_equal_time_to_equal_fit():
    result = expect({**AT_STEP, "fit": 0.3, "below": -0.05}, PAIRS)
    figures = dict(result.figures)
    assert figures["at_step"] == pytest.approx(0.065)        # the impression at step 20
    assert figures["difference"] == pytest.approx(-0.01)     # gone at equal fit
    assert figures["change"] == pytest.approx(-0.075)
    assert result.passed is True
    assert result.message == ("mean of 2 pairs: val_acc difference 0.065 at step 20, -0.01 at "
                              "train_loss <= 0.3 (reached at step 30 vs 10 on average): change "
                              "-0.075 (needed < -0.05)")
    assert expect({**AT_STEP, "fit": 0.3, "below": -0.08}, PAIRS).passed is False


def test_identical_runs_differ_by_nothing():
    """The lesson's control for the step checks: both runs of a pair trained the same way."""
    same = runs(PAIRS["adam-1"], replace(PAIRS["adam-1"], snapshot=replace(PAIRS["adam-1"].snapshot,
                                                                        name="copy")))
    for table in (AT_STEP, AT_FIT):
        result = expect({**table, "pairs": [["adam-1", "copy"]], "above": 0.0}, same)
        assert dict(result.figures)["difference"] == 0.0 and result.passed is False
    change = expect({**AT_STEP, "fit": 0.3, "pairs": [["adam-1", "copy"]], "below": 0.0}, same)
    assert dict(change.figures)["change"] == 0.0 and change.passed is False


def test_pending_until_every_run_is_read_then_decided_while_they_train():
    going = {**PAIRS, "sgd-2": run("sgd-2", [0.7, 0.6, 0.45], [0.5, 0.65, 0.79], finished=False)}
    pending = expect({**AT_FIT, "below": 0.0}, going)
    assert pending.passed is None and "3 of 4 runs read at train_loss <= 0.3, sgd-2 not yet" == pending.message
    assert "n/a" not in pending.message
    # with a step too, the fits are named first: they come before the step while runs train
    early = {**PAIRS, "sgd-2": run("sgd-2", [0.7, 0.6], [0.5, 0.65], finished=False)}
    both = expect({**AT_STEP, "fit": 0.3, "below": 0.0}, early)
    assert both.passed is None and both.message == "3 of 4 runs read at train_loss <= 0.3, sgd-2 not yet"
    # once every run has a reading it cannot change: decided though sgd-2 trains on
    read = {**PAIRS, "sgd-2": run("sgd-2", [0.7, 0.6, 0.45, 0.25], [0.5, 0.65, 0.79, 0.76],
                                  finished=False)}
    assert expect({**AT_FIT, "below": 0.0}, read).passed is True
    assert expect({**AT_STEP, "above": 0.05}, read).passed is True


def test_a_run_that_ended_without_reaching_the_fit_is_not_measured():
    short = {**PAIRS, "sgd-2": run("sgd-2", [0.7, 0.6, 0.45], [0.5, 0.65, 0.79])}
    result = expect({**AT_FIT, "below": 0.0}, short)
    assert result.passed is False
    assert result.message == "sgd-2 never reached train_loss 0.3 (lowest 0.45): not measured"


@pytest.mark.parametrize("change, key, words", [
    ({"pairs": [["sgd-1", "adam-1", "sgd-2"]]}, "pairs", "a list of pairs"),
    ({"pairs": []}, "pairs", "a list of pairs"),
    ({"pairs": [["sgd-1", "nope"]]}, "pairs", "no variant named 'nope'"),
    ({"metric": "test_acc"}, "metric", "logged at every check"),
    ({"step": None}, "step", "or both"),
    ({"step": 15}, "step", "a logged step"),
    ({"step": None, "fit": 0.0}, "fit", "a training loss > 0"),
    ({"above": None}, "below", "expected 'below', 'above'"),
])
def test_bad_pairs_are_refused_naming_the_key(change, key, words):
    configs = {name: o.config for name, o in PAIRS.items()}
    table = {**AT_STEP, "above": 0.0, **change}
    table = {k: v for k, v in table.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        parse_expectation(table, configs)
    assert err.value.key == key and words in err.value.message

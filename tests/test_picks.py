"""The kind ``pick`` (a choice made by one score, judged by another) and the fresh sample it
judges by: which run each rule chooses, how much its reported score flatters it, the refusals;
and the fresh sample (``data.fresh_points``): new points of the same generator, the same for a
seed, apart from the splits, scaled as the training split was."""

from dataclasses import replace

import numpy as np
import pytest

import reference

from nnsim.core.config import ConfigError, config_from_dict
from nnsim.core.data import build_dataset
from nnsim.core.data.fresh import fresh_sample
from nnsim.core.expectations import Outcome, parse_expectation
from nnsim.core.picks import chosen, flattery
from nnsim.core.run import Run
from scenario_helpers import expect, history, outcome, runs

FRESH = config_from_dict({"data": {"kind": "xor", "fresh_points": 1000}})


def scored(name, *, val_acc, test_acc, fresh_acc, val_loss=0.5, test_loss=0.5, fresh_loss=0.5):
    """A finished run with these scores at its end (its config draws a fresh sample)."""
    run = outcome(name, history([0, 10], val_acc=[0.5, val_acc], val_loss=[0.7, val_loss]),
                  test=(test_loss, test_acc))
    return replace(run, config=FRESH, fresh=(fresh_loss, fresh_acc))


# Three runs on one data set; every way of choosing wrongly picks a different one:
# by test_acc (highest) -> b, by val_acc (highest) -> c, lowest test_acc -> a, lowest val_acc -> a or b.
GROUP = runs(scored("a", val_acc=0.60, test_acc=0.60, fresh_acc=0.62),
             scored("b", val_acc=0.61, test_acc=0.80, fresh_acc=0.64),
             scored("c", val_acc=0.70, test_acc=0.66, fresh_acc=0.65))
BY_TEST = {"kind": "pick", "groups": [["a", "b", "c"]], "by": "test_acc", "metric": "test_acc",
           "truth": "fresh_acc"}


def test_a_pick_by_the_test_score_takes_the_best_on_test_and_reads_its_flattery():
    result = expect({**BY_TEST, "above": 0.1}, GROUP)
    figures = dict(result.figures)
    assert figures["reported"] == pytest.approx(0.80) and figures["truth"] == pytest.approx(0.64)
    assert figures["flattery"] == pytest.approx(0.16)          # b: 0.80 on test, 0.64 really
    assert result.passed is True and "chose b" in result.details[0]
    assert expect({**BY_TEST, "above": 0.2}, GROUP).passed is False


def test_against_the_pick_by_validation_the_excess_is_the_difference_of_flatteries():
    result = expect({**BY_TEST, "than_by": "val_acc", "above": 0.0}, GROUP)
    figures = dict(result.figures)
    assert figures["other_reported"] == pytest.approx(0.66)    # c, the best on validation
    assert figures["other_flattery"] == pytest.approx(0.01)
    assert figures["excess"] == pytest.approx(0.15)
    assert result.passed is True
    assert [line.split(": ")[1] for line in result.details] == ["test_acc chose b", "val_acc chose c"]


def test_a_loss_is_chosen_lowest_and_flatters_by_truth_minus_reported():
    group = runs(scored("a", val_acc=0.5, test_acc=0.5, fresh_acc=0.5, test_loss=0.30, fresh_loss=0.50),
                 scored("b", val_acc=0.5, test_acc=0.5, fresh_acc=0.5, test_loss=0.40, fresh_loss=0.41))
    result = expect({"kind": "pick", "groups": [["a", "b"]], "by": "test_loss", "metric": "test_loss",
                     "truth": "fresh_loss", "above": 0.15}, group)
    assert dict(result.figures)["flattery"] == pytest.approx(0.20) and result.passed is True


def test_the_mean_is_over_groups_each_choosing_among_its_own_runs():
    second = runs(scored("d", val_acc=0.9, test_acc=0.50, fresh_acc=0.55),
                  scored("e", val_acc=0.5, test_acc=0.70, fresh_acc=0.66))
    result = expect({**BY_TEST, "groups": [["a", "b", "c"], ["d", "e"]], "above": 0.0},
                    {**GROUP, **second})
    assert dict(result.figures)["flattery"] == pytest.approx((0.16 + 0.04) / 2)   # b and e


def test_identical_runs_give_one_choice_and_no_excess():
    """The lesson's negative control: with nothing to choose between, both rules take the
    same run and the choice flatters neither more than the other."""
    same = runs(*(scored(n, val_acc=0.6, test_acc=0.7, fresh_acc=0.65) for n in "xyz"))
    result = expect({**BY_TEST, "groups": [["x", "y", "z"]], "than_by": "val_acc", "above": 0.0}, same)
    assert dict(result.figures)["excess"] == 0.0 and result.passed is False


def test_the_first_of_equals_is_chosen_and_an_unmeasured_score_never():
    assert chosen([0.7, 0.8, 0.8], lower_is_better=False) == 1
    assert chosen([0.3, 0.2, 0.2], lower_is_better=True) == 1
    assert chosen([float("nan"), 0.1], lower_is_better=False) == 1
    assert chosen([float("nan"), 5.0], lower_is_better=True) == 1
    assert flattery(0.8, 0.7, "test_acc") == pytest.approx(0.1)
    assert flattery(0.3, 0.5, "test_loss") == pytest.approx(0.2)


def test_a_run_still_going_leaves_it_pending():
    going = {**GROUP, "c": replace(GROUP["c"], snapshot=replace(GROUP["c"].snapshot, finished=False))}
    assert expect({**BY_TEST, "above": 0.0}, going).passed is None
    # While runs train their test and fresh samples are unscored: the Lesson pane says when the
    # choice is made, not "n/a" for every figure.
    unscored = {**GROUP, "c": replace(GROUP["c"], snapshot=replace(GROUP["c"].snapshot, finished=False),
                                      test=None, fresh=None)}
    pending = expect({**BY_TEST, "above": 0.0}, unscored)
    assert pending.passed is None and "when the runs end" in pending.message
    assert "n/a" not in pending.message and pending.message.count("test_acc") == 1


@pytest.mark.parametrize("change, key, words", [
    ({"groups": [["a"]]}, "groups", "at least two"),
    ({"groups": [["a", "nope"]]}, "groups", "no variant named 'nope'"),
    ({"by": "val_los"}, "by", "a score of the run at its end"),
    ({"truth": "fresh_loss"}, "truth", "the same measure"),
    ({"metric": "grad_norm_0"}, "metric", "a score of the run at its end"),
])
def test_bad_picks_are_refused_naming_the_key(change, key, words):
    configs = {name: o.config for name, o in GROUP.items()}
    with pytest.raises(ConfigError) as err:
        parse_expectation({**BY_TEST, "above": 0.0, **change}, configs)
    assert err.value.key == key and words in err.value.message


def test_a_fresh_or_test_score_needs_its_sample():
    no_fresh = config_from_dict({"data": {"kind": "xor"}})
    no_test = config_from_dict({"data": {"kind": "xor", "split": [0.5, 0.5, 0.0], "fresh_points": 10}})
    for metric, config, words in (("fresh_acc", no_fresh, "data.fresh_points = 0"),
                                  ("test_acc", no_test, "needs a test split")):
        with pytest.raises(ConfigError) as err:
            parse_expectation({"kind": "final_above", "metric": metric, "threshold": 0.5}, {"a": config})
        assert err.value.key == "metric" and words in err.value.message
    with pytest.raises(ConfigError) as err:
        parse_expectation({**BY_TEST, "truth": "fresh_acc", "above": 0.0, "groups": [["a", "b"]]},
                          {"a": no_fresh, "b": no_fresh})
    assert err.value.key == "truth"


def test_only_a_generated_set_draws_a_fresh_sample():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"data": {"kind": "houses", "fresh_points": 100}})
    assert err.value.key == "data.fresh_points"


# ----------------------------------------------------------------------------- the fresh sample

def test_the_fresh_sample_is_new_points_the_same_for_a_seed_and_scaled_as_training():
    cfg = config_from_dict({"data": {"kind": "moons", "n_points": 200, "normalize": "zscore",
                                     "fresh_points": 500}}).data
    dataset = build_dataset(cfg, 7)
    x, y = fresh_sample(cfg, 7, 500, dataset)
    again, _ = fresh_sample(cfg, 7, 500, dataset)
    other, _ = fresh_sample(cfg, 8, 500, dataset)
    assert x.shape == (500, 2) and y.shape == (500, 1)
    assert np.array_equal(x, again) and not np.array_equal(x, other)
    raw = x * dataset.plane.scaling.scale + dataset.plane.scaling.shift      # undo the training scaling
    for split in (dataset.plane.points_train, dataset.plane.points_val):
        assert not (np.abs(raw[:, None, :] - split[None, :, :]).sum(axis=2) < 1e-9).any()
    assert abs(x.mean(axis=0)).max() < 0.3 and abs(x.std(axis=0) - 1).max() < 0.3   # zscore of moons
    assert y.mean() == pytest.approx(0.5)        # moons: classes taken in turn


def test_asking_for_a_fresh_sample_changes_no_split_and_no_result():
    plain = Run({"data": {"kind": "xor", "n_points": 120}, "train": {"steps": 30, "seed": 4}})
    fresh = Run({"data": {"kind": "xor", "n_points": 120, "fresh_points": 300},
                 "train": {"steps": 30, "seed": 4}})
    for which in ("train", "val", "test"):
        assert all(np.array_equal(a, b) for a, b in zip(plain.split(which), fresh.split(which)))
    a, b = plain.advance(30), fresh.advance(30)
    assert np.array_equal(a.history.val_loss, b.history.val_loss)
    assert Outcome.from_run(plain).fresh is None
    measured = Outcome.from_run(fresh).fresh
    assert measured == fresh.evaluate_fresh(300)
    # Scored as the reference network scores the same 300 new points (seed 4's data stream)
    data_seed = int(np.random.SeedSequence(4).generate_state(3)[0])
    x, y = fresh_sample(fresh.config.data, data_seed, 300, fresh.dataset)
    logits, _ = reference.forward(reference.unpack(fresh.layout.table, fresh.params), x)
    loss, _ = reference.data_loss("bce", logits, y)
    assert measured[0] == pytest.approx(loss, rel=1e-9)
    assert measured[1] == pytest.approx(np.mean((logits > 0) == (y > 0.5)))

"""The expectation kinds that compare a metric at a step, two variants at a step, two metrics of
one run, per-layer metrics, races without first-check ties and sparse controls; and the figures
each result carries for ``nnsim check``'s statistics."""

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nnsim.core.config import ConfigError, config_from_dict
from nnsim.core.expectations import parse_expectation
from scenario_helpers import expect, history, outcome, parse, runs


def with_update_ratios(run, ratios):
    """``run`` whose history logged ``ratios`` (n_checks, n_layers); the last row is the final one."""
    ratios = np.asarray(ratios, dtype=float)
    hist = replace(run.snapshot.history, update_ratios=ratios)
    return replace(run, snapshot=replace(run.snapshot, history=hist, update_ratios=ratios[-1]))


def test_at_step_near_a_value_at_step_0():
    first = runs(outcome("a", history([0, 10, 20], train_loss=[2.31, 1.0, 0.5])))
    near_ln10 = {"kind": "at_step", "metric": "train_loss", "step": 0, "near": math.log(10)}
    result = expect({**near_ln10, "tolerance": 0.05}, first)
    assert result.passed is True and "at step 0 2.31" in result.message
    assert dict(result.figures) == {"value": 2.31}
    assert expect({**near_ln10, "tolerance": 0.001}, first).passed is False
    assert expect({"kind": "at_step", "metric": "train_loss", "step": 10, "below": 1.5,
                   "above": 0.8}, first).passed is True
    assert expect({"kind": "at_step", "metric": "train_loss", "step": 10, "below": 0.9},
                  first).passed is False


def test_at_step_compares_two_variants_at_the_same_step():
    adam = outcome("adam", history([0, 10, 20], val_loss=[1.0, 0.2, 0.1]))
    sgd = outcome("sgd", history([0, 10, 20], val_loss=[1.0, 0.8, 0.3]))
    both = runs(adam, sgd)
    table = {"kind": "at_step", "metric": "val_loss", "step": 10, "variant": "adam", "than": "sgd"}
    result = expect({**table, "below": 0.3}, both)              # 0.2 / 0.8 = 0.25
    assert result.passed is True and dict(result.figures)["ratio"] == pytest.approx(0.25)
    assert expect({**table, "below": 0.2}, both).passed is False
    assert expect({**table, "step": 0, "near": 1.0, "tolerance": 0}, both).passed is True


def test_at_step_is_decided_once_its_step_is_logged():
    stopped = runs(outcome("a", history([0, 10], val_loss=[1.0, 0.5])))
    result = expect({"kind": "at_step", "metric": "val_loss", "step": 20, "below": 1.0}, stopped)
    assert result.passed is False and "not logged" in result.message
    going = runs(outcome("a", history([0, 10], val_loss=[1.0, 0.5]), finished=False))
    assert expect({"kind": "at_step", "metric": "val_loss", "step": 20, "below": 1.0},
                  going).passed is None
    # a step already logged is decided mid-run; a final ratio waits for the end
    assert expect({"kind": "at_step", "metric": "val_loss", "step": 10, "below": 1.0},
                  going).passed is True
    assert expect({"kind": "relate", "metric": "val_loss", "to": "train_loss", "step": 10,
                   "below": 2}, going).passed is True
    assert expect({"kind": "relate", "metric": "val_loss", "to": "train_loss", "below": 2},
                  going).passed is None


def test_relate_compares_two_metrics_of_one_run():
    run = runs(outcome("a", history([0, 10, 20], train_loss=[1.0, 0.2, 0.1], val_loss=[1.0, 0.3, 0.4])))
    gap = {"kind": "relate", "metric": "val_loss", "to": "train_loss"}
    result = expect({**gap, "above": 3.5}, run)                 # final 0.4 / 0.1 = 4
    assert result.passed is True and dict(result.figures)["ratio"] == pytest.approx(4.0)
    assert expect({**gap, "above": 4.5}, run).passed is False
    assert expect({**gap, "step": 10, "below": 2.0}, run).passed is True     # 0.3 / 0.2
    assert expect({**gap, "step": 10, "below": 1.4}, run).passed is False
    assert expect({**gap, "step": 0, "near": 1, "tolerance": 0}, run).passed is True


def test_update_ratio_per_layer_is_a_metric():
    run = with_update_ratios(outcome("a", history([0, 10, 20])),
                             [[0, 0, 0], [1e-2, 3e-3, 1e-3], [2e-3, 1e-3, 5e-4]])
    one = runs(run)
    assert expect({"kind": "final_below", "metric": "update_ratio_0", "threshold": 3e-3},
                  one).passed is True
    assert expect({"kind": "final_below", "metric": "update_ratio_0", "threshold": 1e-3},
                  one).passed is False
    assert expect({"kind": "at_step", "metric": "update_ratio_-1", "step": 10, "near": 1e-3,
                   "tolerance": 1e-4}, one).passed is True
    assert expect({"kind": "at_step", "metric": "update_ratio_1", "step": 10, "near": 1e-3,
                   "tolerance": 1e-4}, one).passed is False
    result = expect({"kind": "relate", "metric": "update_ratio_0", "to": "update_ratio_2",
                     "above": 3.9, "below": 4.1}, one)            # 2e-3 / 5e-4
    assert result.passed is True
    assert expect({"kind": "relate", "metric": "grad_norm_0", "to": "grad_norm_1", "near": 1,
                   "tolerance": 0}, one).passed is True


def test_race_can_leave_out_pairs_that_tie_at_the_first_check():
    def reaching_at(name, step):
        return outcome(name, history([0, 10, 20, 30, 40], val_loss=[1.0 if s < step else 0.05
                                                                   for s in (0, 10, 20, 30, 40)]))

    pairs = runs(reaching_at("a0", 10), reaching_at("b0", 30),     # a wins
                 reaching_at("a1", 10), reaching_at("b1", 10),     # tie at the first check
                 reaching_at("a2", 0), reaching_at("b2", 0),       # there before training: a tie
                 reaching_at("a3", 20), reaching_at("b3", 20))     # a tie later: a loses
    table = {"kind": "race", "pairs": [["a0", "b0"], ["a1", "b1"], ["a2", "b2"], ["a3", "b3"]],
             "metric": "val_loss", "threshold": 0.1, "ratio": 2.0, "at_least": 0.5}
    counted = expect(table, pairs)
    assert counted.passed is False and "1 of 4 pairs" in counted.message    # ties count as losses
    assert "2 tied at the first check counted as no" in counted.message
    assert dict(counted.figures) == {"share": 0.25, "ties": 2}
    excluded = expect({**table, "exclude_first_check_ties": True}, pairs)
    assert excluded.passed is True and "1 of 2 pairs" in excluded.message
    assert "2 tied at the first check left out" in excluded.message
    assert ["left out" in d for d in excluded.details] == [False, True, True, False]
    assert dict(excluded.figures) == {"share": 0.5, "ties": 2}


def test_sparse_at_most_bounds_a_control():
    weights = (np.array([[0.0, 1e-5], [0.5, 0.0]]), np.array([[0.0], [2.0]]))   # 4 of 6 near zero
    one = runs(outcome("control", weights=weights))
    assert expect({"kind": "sparse", "at_most": 0.7}, one).passed is True
    assert expect({"kind": "sparse", "at_most": 0.6}, one).passed is False
    assert dict(expect({"kind": "sparse", "at_most": 0.7}, one).figures)["fraction"] == pytest.approx(4 / 6)


@pytest.mark.parametrize("table, key", [
    ({"kind": "at_step", "metric": "val_loss", "step": 5, "below": 1}, "step"),        # not logged
    ({"kind": "at_step", "metric": "val_loss", "step": 10}, "below"),                 # no bound
    ({"kind": "at_step", "metric": "val_loss", "step": 10, "near": 1}, "tolerance"),
    ({"kind": "at_step", "metric": "val_loss", "step": 10, "near": 1, "tolerance": 0.1,
      "below": 2}, "near"),
    ({"kind": "at_step", "metric": "val_loss", "step": 10, "above": 2, "below": 1}, "above"),
    ({"kind": "at_step", "metric": "test_loss", "step": 10, "below": 1}, "metric"),
    ({"kind": "relate", "metric": "val_loss", "to": "trian_loss", "below": 1}, "to"),
    ({"kind": "relate", "metric": "val_loss", "below": 1}, "to"),
    ({"kind": "final_below", "metric": "update_ratio_2", "threshold": 1}, "metric"),  # 2 layers
    ({"kind": "final_below", "metric": "update_ratio_x", "threshold": 1}, "metric"),
    ({"kind": "sparse", "fraction": 0.5, "at_most": 0.5}, "fraction"),
    ({"kind": "sparse"}, "fraction"),
    ({"kind": "sparse", "at_most": 1.5}, "at_most"),
])
def test_bad_new_expectations(table, key):
    configs = {"a": config_from_dict({"model": {"layers": [4]}, "train": {"eval_every": 10}})}
    with pytest.raises(ConfigError) as info:
        parse_expectation(table, configs)
    assert info.value.key == key


def test_expectations_have_ids_by_position_or_by_name():
    scenario = parse('title = "t"\n[[expect]]\nkind = "no_divergence"\n'
                     '[[expect]]\nkind = "no_divergence"\nid = "calm"\n')
    assert [e.id for e in scenario.expectations] == ["1", "calm"]
    for bad in ('"2x"', '"a.b"', '""'):
        with pytest.raises(ConfigError) as info:
            parse(f'title = "t"\n[[expect]]\nkind = "no_divergence"\nid = {bad}\n')
        assert info.value.key == "expect[1].id"
    with pytest.raises(ConfigError, match="used twice"):
        parse('title = "t"\n[[expect]]\nkind = "no_divergence"\nid = "a"\n'
              '[[expect]]\nkind = "no_divergence"\nid = "a"\n')


def test_the_readme_examples_of_these_kinds_parse():
    readme = (Path(__file__).parent.parent / "scenarios" / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Comparing at a step, and within a run", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```toml\n(.*?)```", section, re.S)
    names = ["adam", "sgd", "big", "adam-1", "sgd-1", "adam-2", "sgd-2", "sgd-no-l1"]
    base = ('title = "t"\n[data]\nkind = "blobs"\nclasses = 10\nfresh_points = 100\n[train]\n'
            'steps = 1000\neval_every = 10\n' + "".join(f'[[variant]]\nname = "{name}"\n' for name in names))
    kinds = set()
    for block in blocks:
        scenario = parse(base + block)
        kinds |= {e.kind for e in scenario.expectations}
    assert kinds == {"at_step", "relate", "race", "sparse", "path", "pick", "paired"}


def test_levels_off_is_the_control_of_overfits():
    turns_up = outcome("big", history([0, 10, 20, 30], val_loss=[1.0, 0.2, 0.25, 0.32]))  # 1.6x
    flat = outcome("l2", history([0, 10, 20, 30], val_loss=[1.0, 0.3, 0.28, 0.29]))
    both = runs(turns_up, flat)
    assert expect({"kind": "levels_off", "variant": "l2"}, both).passed is True
    assert expect({"kind": "levels_off", "variant": "big"}, both).passed is False
    assert expect({"kind": "levels_off", "variant": "big", "factor": 1.7}, both).passed is True
    assert expect({"kind": "overfits", "variant": "big"}, both).passed is True
    result = expect({"kind": "levels_off", "variant": "l2"}, both)
    assert dict(result.figures)["ratio"] == pytest.approx(0.29 / 0.28)


def test_grad_ratio_averages_checks_with_gradients_and_says_how_many_it_has_yet():
    """The check at step 0 comes before any gradient (NaN): a mean over the last 3 checks at
    step 20 read "n/a / n/a = n/a"; it says how many checks it has, then averages those after
    step 0 only."""
    nan = float("nan")
    norms = [[nan, nan, nan], [4.0, 2.0, 1.0], [8.0, 2.0, 2.0], [6.0, 2.0, 1.0]]
    table = {"kind": "grad_ratio", "layers": [0, -1], "last": 3, "above": 4.0}
    early = expect(table, runs(outcome("a", history([0, 10, 20], grad_norms=norms[:3]),
                                       finished=False)))
    assert early.passed is None and "2 of the 3 checks" in early.message, early.message
    assert "n/a" not in early.message
    done = expect(table, runs(outcome("a", history([0, 10, 20, 30], grad_norms=norms))))
    assert done.passed is True and "6 / 1.33 = 4.5" in done.message, done.message

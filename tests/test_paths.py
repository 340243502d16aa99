"""What a path did (core/paths.py) and the ``path`` expectation kind that states it.

The geometry is tested on paths whose answer is known by construction; the kind on a lesson's
runs, its outcome's path and landing against the run's own trajectory and step line.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnsim.core import paths
from nnsim.core.config import ConfigError
from nnsim.core.expectations import Outcome, parse_expectation, path_measure

from scenario_helpers import expect, outcome, parse, runs


def zigzag(n: int, across: float, along: float) -> np.ndarray:
    """(n, 3) a path that moves ``along`` the first axis each step and jumps ``across`` the
    second axis and back: every move turns back on the one before when across > along."""
    points = np.zeros((n, 3))
    points[:, 0] = along * np.arange(n)
    points[:, 1] = across * (np.arange(n) % 2)
    return points


def test_a_straight_path_never_turns_and_winds_once():
    line = np.outer(np.arange(10.0), [1.0, 2.0, -0.5])
    assert paths.turns(line) == 0.0
    assert paths.winding(line) == pytest.approx(1.0)


def test_a_zigzag_turns_at_every_move_and_winds_by_its_jumps():
    path = zigzag(11, across=3.0, along=1.0)
    assert paths.turns(path) == 1.0
    # 10 moves of length sqrt(1 + 9) over a straight distance of 10 along and 0 across (even n-1)
    assert paths.winding(path) == pytest.approx(math.sqrt(10.0))
    # Jumps shorter than the way along: consecutive moves (1, +-0.5) never turn back.
    assert paths.turns(zigzag(11, across=0.5, along=1.0)) == 0.0


def test_a_path_that_halts_leaves_its_still_moves_out_of_turns():
    path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    # moves: +x, 0, -x, +x; pairs with both moving: (-x, +x) only: it turns
    assert paths.turns(path) == 1.0


def test_a_path_back_where_it_started_winds_infinitely_and_nothing_is_nan():
    back = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    assert paths.winding(back) == math.inf
    assert math.isnan(paths.winding(np.zeros((3, 2))))
    assert math.isnan(paths.turns(np.array([[0.0, 0.0], [math.nan, 1.0], [1.0, 1.0]])))
    assert math.isnan(paths.turns(np.zeros((2, 2))))       # one move: no pair to turn


def test_climbs_counts_the_checks_whose_loss_rose():
    assert paths.climbs([5.0, 4.0, 4.5, 3.0, 3.5]) == 0.5
    assert paths.climbs([5.0, 4.0, 4.0, 3.0]) == 0.0        # level is no climb
    assert math.isnan(paths.climbs([5.0, math.nan]))
    assert math.isnan(paths.climbs([5.0]))


LESSON = """
title = "paths"
[data]
kind = "houses"
normalize = "zscore"
[model]
layers = [4]
[train]
optimizer = "sgd"
batch_size = 0
steps = 30
eval_every = 1
[[variant]]
name = "small"
train.lr = 0.005
[[variant]]
name = "big"
train.lr = 0.3
[[expect]]
id = "big-turns"
kind = "path"
quantity = "turns"
variant = "big"
than = "small"
above = 2
"""


def test_a_lesson_that_measures_paths_records_them_and_measures_its_runs():
    from nnsim.core.driver import ScriptedRun, play
    from nnsim.core.expectations import check_all
    from nnsim.core.landscape import step_line

    scenario = parse(LESSON, seed=1)
    runs = ScriptedRun.build(scenario)
    assert all(r.run.trajectory is not None for r in runs)
    outcomes = {r.name: play(r) for r in runs}
    for r in runs:
        outcome = outcomes[r.name]
        np.testing.assert_array_equal(outcome.path, r.run.trajectory.weights)
        assert len(outcome.path) == 31                         # every check: step 0 to 30
        assert outcome.landing == step_line(r.run).lowest
        assert path_measure(outcome, "turns") == paths.turns(r.run.trajectory.weights)
        assert path_measure(outcome, "climbs") == paths.climbs(r.run.history.train_loss)
    [result] = check_all(scenario.expectations, outcomes)
    big, small = (path_measure(outcomes[n], "turns") for n in ("big", "small"))
    assert dict(result.figures) == pytest.approx({"value": big, "other": small,
                                                  "ratio": big / small if small else math.inf})


def test_a_run_without_its_path_is_not_measured():
    outcome = Outcome(snapshot=None, config=None)
    for quantity in ("turns", "winding", "landing"):
        assert math.isnan(path_measure(outcome, quantity))


@pytest.mark.parametrize("table, key, words", [
    ({"quantity": "twists", "above": 1}, "quantity", "expected one of turns, winding, climbs, landing"),
    ({"quantity": "turns"}, "below", "expected 'below', 'above'"),
    ({"above": 1}, "quantity", "missing"),
])
def test_a_path_expectation_refuses_what_it_cannot_measure(table, key, words):
    from nnsim.core.config import RunConfig
    with pytest.raises(ConfigError) as err:
        parse_expectation({"kind": "path", **table}, {"base": RunConfig()})
    assert err.value.key == key and words in err.value.message


def test_a_landing_is_measured_when_its_run_ends_and_said_so_before():
    import dataclasses
    going = outcome("fast", finished=False)
    result = expect({"kind": "path", "quantity": "landing", "variant": "fast", "below": 1},
                    runs(going))
    assert result.passed is None and result.message == "fast's landing is measured when it ends"
    ended = dataclasses.replace(outcome("fast"), landing=0.5)
    result = expect({"kind": "path", "quantity": "landing", "variant": "fast", "below": 1},
                    runs(ended))
    assert result.passed is True and dict(result.figures) == {"value": 0.5}
    unrecorded = outcome("fast")                    # ended without its path: not measured
    result = expect({"kind": "path", "quantity": "landing", "variant": "fast", "below": 1},
                    runs(unrecorded))
    assert result.passed is False and result.message.endswith("not measured")

"""Every effect a lesson claims can fail: its negative control.

An expectation that states an effect names, in its ``control`` key, the settings that remove the
effect (the setting that causes it made equal across the runs: the optimizer of both runs the
same, dropout off, skip connections off). Run so, the lesson must fail it: a check that passes
whether or not the effect is there proves nothing (the auditor's examples: a race that counted
a tie as a win passed with the SGD runs replaced by copies of the Adam runs).

The default suite checks that every such expectation names a control; the slow sweep (``pytest
-m slow``, run in CI) runs each control on seeds 0-2 and asserts the expectation fails on each.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from nnsim.core.driver import ScriptedRun, play
from nnsim.core.expectations import check_all
from nnsim.core.scenario import builtin_names, load_scenario

LESSONS = builtin_names()
CONTROL_SEEDS = range(3)


def states_the_start(expectation) -> bool:
    """Claims that need no control: that a run does not diverge (a sanity check, not an effect),
    and a value at step 0 (the start as built, before any training the settings could change)."""
    return expectation.kind == "no_divergence" or getattr(expectation, "step", None) == 0


@pytest.mark.parametrize("name", LESSONS)
def test_every_effect_a_lesson_claims_names_its_negative_control(name):
    scenario = load_scenario(name)
    missing = [e.id for e in scenario.expectations if not e.control and not states_the_start(e)]
    assert not missing, (f"{name}: expectations without a control (the settings that remove the "
                         f"effect they state): {missing}")


def control_outcomes(name: str, seed: int) -> list[str]:
    """Each controlled expectation's line on ``seed``, marked with whether it (wrongly) held."""
    scenario = load_scenario(name, seed=seed)
    lines = []
    for expectation in (e for e in scenario.expectations if e.control):
        controlled = scenario.negative_control(expectation)
        with ThreadPoolExecutor() as pool:
            outcomes = {o.name: o for o in pool.map(play, ScriptedRun.build(controlled))}
        [result] = check_all([expectation], outcomes)
        assert result.passed is not None, result.message
        if result.passed:
            control = ", ".join(f"{k} = {v!r}" for k, v in expectation.control)
            lines.append(f"{name} seed {seed}: {expectation.id} held with its control ({control}): "
                         f"{result.message}")
    return lines


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_every_effect_fails_without_its_cause(name):
    held = [line for seed in CONTROL_SEEDS for line in control_outcomes(name, seed)]
    assert not held, "\n".join(held)

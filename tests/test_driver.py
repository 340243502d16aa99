"""The one driver: where chunks end, when events fire, and the pace — none of which may change
a number."""

import dataclasses
from pathlib import Path

import pytest

from nnsim.core.driver import ScriptedRun, Told, play
from nnsim.core.pacing import ChunkClock, Pace
from nnsim.core.scenario import load_scenario

COMPARE = Path(__file__).parent / "scenarios" / "compare.toml"


def scripted(scenario=None, **kwargs) -> list[ScriptedRun]:
    return ScriptedRun.build(scenario or load_scenario(COMPARE), **kwargs)


def test_a_chunk_ends_at_the_next_event_then_at_the_end():
    adam, sgd = scripted()
    assert adam.next_stop() == 100                          # the event at step 100
    assert adam.next_stop(stop_at=40) == 40
    adam.advance(1000)
    assert adam.step == 100
    fired = adam.fire_due()
    assert [(f.step, f.event.index, f.tell) for f in fired] == [(100, 1, True)]
    assert adam.next_stop() == 300 and adam.fire_due() == []
    adam.advance(1000)
    assert adam.step == 300 and not adam.active


def test_an_event_for_every_variant_is_told_once_and_applied_to_each():
    adam, sgd = scripted()
    adam.advance(1000), sgd.advance(1000)
    told = [f.tell for run in (adam, sgd) for f in run.fire_due() if f.event.index == 1]
    assert told == [True, False]


def test_an_epoch_event_sets_its_value_at_its_step():
    _, sgd = scripted()
    at = 20 * sgd.run.steps_per_epoch
    while sgd.step < at:
        sgd.advance(7)
        sgd.fire_due()
    assert sgd.step == at and sgd.run.config.train.lr == 0.02


@pytest.mark.parametrize("chunk", [1, 3, 17, 10_000])
def test_how_a_run_is_chunked_never_changes_a_number(chunk, assert_identical):
    reference = [play(s) for s in scripted()]
    runs = scripted()
    for run in runs:
        run.fire_due()
        while run.active:
            run.advance(chunk)
            run.fire_due()
    for expected, run in zip(reference, runs):
        assert run.run.config == expected.config
        assert_identical(run.snapshot, expected.snapshot)


def test_open_ended_runs_stop_once_at_the_end_then_go_on():
    scenario = load_scenario(COMPARE, overrides=(("train.steps", 50),))
    silent = dataclasses.replace(scenario, variants=scenario.variants[:1], events=())
    (run,) = scripted(silent, open_ended=True)
    run.advance(1000)
    assert run.step == 50 and run.active
    run.advance(40)
    assert run.step == 90


def test_reset_starts_the_script_again():
    adam, _ = scripted()
    adam.advance(1000)
    adam.fire_due()
    adam.reset()
    assert adam.step == 0 and adam.next_stop() == 100


def test_chunk_clock_aims_at_its_share_of_time():
    clock = ChunkClock(seconds=0.04, first=10)
    clock.observe(10, 0.01)
    assert clock.steps == 40                   # 4x at most per chunk
    clock.observe(40, 0.08)
    assert clock.steps == 20


def test_pace_owes_steps_by_the_clock():
    pace = Pace(20.0)
    pace.restart(100.0)
    assert pace.due(100.0) == 0
    assert pace.wait(100.0) == pytest.approx(0.05)
    assert pace.due(100.26) == 5
    pace.took(5)
    assert pace.due(100.26) == 0 and pace.wait(100.26) == pytest.approx(0.04)


def test_pace_forgives_a_debt_it_cannot_repay():
    pace = Pace(1000.0)
    pace.restart(0.0)
    assert pace.due(10.0) == 1000              # not 10,000 at once after a stall
    pace.took(1000)
    assert pace.due(10.0) == 0


def test_unpaced_means_as_fast_as_it_goes():
    pace = Pace(None)
    assert pace.due(5.0) is None and pace.wait(5.0) == 0.0


def test_told_is_shared_between_runs():
    told = Told()
    a, b = scripted(told=told)
    assert a.told is told and b.told is told

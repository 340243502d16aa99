"""Every built-in lesson: well formed, and its expectations hold.

The lessons are discovered, not listed, so a lesson added to ``scenarios/`` is tested without
touching this file. The default suite checks each lesson on seed 0; the slow sweep (``pytest -m
slow``, run in CI) checks seeds 0-9, as ``nnsim check`` would. Both play the lessons through
the one driver the CLI and the dashboard use, so a failure reads like ``nnsim check`` output:
the expectation's one line with the measured numbers.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from nnsim.core.driver import ScriptedRun, play
from nnsim.core.expectations import check_all
from nnsim.core.provenance import changes_since_validation
from nnsim.core.scenario import builtin_names, load_scenario
from nnsim.core.validation import read_summary

LESSONS = builtin_names()
SWEEP_SEEDS = range(10)


def failed_expectations(name: str, seed: int) -> list[str]:
    """Run every variant of lesson ``name`` on ``seed``; the lines of the expectations that failed."""
    scenario = load_scenario(name, seed=seed)
    with ThreadPoolExecutor() as pool:
        outcomes = list(pool.map(play, ScriptedRun.build(scenario)))
    results = check_all(scenario.expectations, {o.name: o for o in outcomes})
    return [f"{name} seed {seed}: {r.kind}: {r.message}" for r in results if not r.passed]


def test_there_are_lessons():
    assert len(LESSONS) >= 10, LESSONS


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_is_complete(name):
    scenario = load_scenario(name)
    assert scenario.title, f"{name}: no title"
    assert scenario.summary, f"{name}: no summary (the line `nnsim list` shows)"
    assert scenario.lesson, f"{name}: no lesson text"
    assert scenario.expectations, f"{name}: no [[expect]]: a lesson must state what will happen"
    unexplained = [e.kind for e in scenario.expectations if not e.because]
    assert not unexplained, f"{name}: expectations without a 'because': {unexplained}"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_holds_on_seed_0(name):
    failures = failed_expectations(name, 0)
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_lesson_holds_on_seeds_0_to_9(name):
    failures = [line for seed in SWEEP_SEEDS for line in failed_expectations(name, seed)]
    assert not failures, "\n".join(failures)


# ----------------------------------------------------------------------------- narration

@pytest.mark.parametrize("name", LESSONS)
def test_lesson_narrates(name):
    """``--replay`` pauses at every narration: each lesson tells its story at two moments at
    least, in plain text (no square brackets: a line must never read as markup)."""
    scenario = load_scenario(name)
    said = [e for e in scenario.events if e.say]
    assert len(said) >= 2, f"{name}: {len(said)} narration(s); a lesson narrates at least 2 moments"
    bracketed = [e.say for e in said if "[" in e.say or "]" in e.say]
    assert not bracketed, f"{name}: square brackets in a narration: {bracketed}"
    names = {v.name for v in scenario.variants}
    strangers = [e.variant for e in said if e.variant is not None and e.variant not in names]
    assert not strangers, f"{name}: narration for unknown runs {strangers}"


def _histories(scenario) -> dict:
    with ThreadPoolExecutor() as pool:
        outcomes = list(pool.map(play, ScriptedRun.build(scenario)))
    h = {o.name: o.snapshot.history for o in outcomes}
    return {name: (hist.step.tolist(), hist.train_loss.tolist(), hist.val_loss.tolist(),
                   hist.grad_norms.tolist()) for name, hist in h.items()}


@pytest.mark.parametrize("name", ["learning-rate", "playground", "optimizer-race"])
def test_narration_never_changes_numbers(name):
    """An event that only says something ends a chunk where it fires, and nothing else: the
    metrics are identical with and without it (NaN-safe: compared as reprs)."""
    scenario = load_scenario(name)
    silent = dataclasses.replace(scenario, events=tuple(e for e in scenario.events if e.set))
    assert len(silent.events) < len(scenario.events)
    assert repr(_histories(scenario)) == repr(_histories(silent))


# ----------------------------------------------------------------------------- validation

VALIDATION = load_scenario(LESSONS[0], fill_figures=False).path.parent / "validation.json"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_was_validated_as_it_stands(name):
    """The committed validation run (``scenarios/validation.json``) recorded this lesson as it
    stands: every expectation with every key of its table (``because`` aside), and the settings
    of every run and every event that sets a value; and each expectation held on at least 99% of
    the fresh seeds. A change since then has not been validated, and the texts' figures would
    describe another experiment."""
    summary = read_summary(VALIDATION)["scenarios"].get(name)
    assert summary, f"{name}: not in {VALIDATION}: validate it on fresh seeds (scenarios/README.md)"
    changes = changes_since_validation(summary, load_scenario(name, fill_figures=False))
    assert not changes, (f"{name}: changed since its validation on seeds {summary['seeds']} "
                         f"(validate it again on a new block, scenarios/README.md):\n  "
                         + "\n  ".join(changes))
    weak = {id_: e["pass_rate"] for id_, e in summary["expectations"].items() if e["pass_rate"] < 0.99}
    assert not weak, f"{name}: below 99% of the validation block: {weak}"

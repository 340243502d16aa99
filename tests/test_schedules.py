"""Learning-rate schedules and reduce-on-plateau: the rate every step actually used, read off
the step itself, against the closed form written here.

Plain SGD on the full batch moves the weights by exactly −lr × the gradient, so the rate a
step used is −(Δw · g)/(g · g), with g from the NumPy reference (``reference.py``). Nothing is
copied out of a previous run: the expected rates come from the formulas below and the
configuration; reduce-on-plateau's from its rule applied to the validation losses the run
measured.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import reference
from nnsim.core import Run

STEPS = 90
EVERY = 3               # a check every 3 steps: thirty plateau decisions
# Noisy XOR at a rate high enough to bounce: the validation loss stalls, so the plateau acts.
BASE = {"data": {"kind": "xor", "n_points": 60, "noise": 0.4},
        "model": {"layers": [16, 16]},
        "train": {"batch_size": 0, "optimizer": "sgd", "lr": 2.0, "steps": STEPS,
                  "eval_every": EVERY, "schedule_step": 10, "schedule_gamma": 0.8}}
PLATEAU = {"plateau_patience": 2, "plateau_factor": 0.6}


def scheduled(train, step: int) -> float:
    """The closed form: the base rate × the schedule's factor at ``step`` (0-based)."""
    if train.schedule == "step":          # × gamma once every schedule_step steps, from step 0
        return train.lr * train.schedule_gamma ** (step // train.schedule_step)
    if train.schedule == "cosine":        # half a cosine from the base rate down to 0 at the end
        return train.lr * (1.0 + math.cos(math.pi * min(step, train.steps) / train.steps)) / 2.0
    return train.lr


def plateau_scales(val_losses, patience: int, factor: float) -> list[float]:
    """Reduce-on-plateau by its definition (min mode, no threshold, no cooldown): after each
    check, the factor the rate stands at; it is multiplied by ``factor`` when ``patience``
    checks in a row have not beaten the best validation loss so far, and the count restarts."""
    best, without, scale, scales = math.inf, 0, 1.0, []
    for val_loss in val_losses:
        if val_loss < best:
            best, without = val_loss, 0
        else:
            without += 1
            if without == patience:
                scale, without = scale * factor, 0
        scales.append(scale)
    return scales


def rates_used(run: Run, n_steps: int, *, past_end: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The rate each of the next ``n_steps`` steps took, read off its update, and the rate the
    run's snapshot announced for it just before (what the status line shows)."""
    table = run.layout.table
    x, y = run.split("train")
    used, announced = [], [run.snapshot().lr]
    for _ in range(n_steps):
        before = run.params.copy()
        _, per_layer = reference.loss_and_gradients(reference.unpack(table, before), x, y, "bce")
        gradient = reference.pack(table, per_layer)
        announced.append(run.advance(1, past_end=past_end).lr)
        moved = run.params - before
        used.append(-(moved @ gradient) / (gradient @ gradient))
    return np.array(used), np.array(announced[:-1])


def merged(**train) -> dict:
    return {**BASE, "train": {**BASE["train"], **train}}


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_every_step_uses_the_scheduled_rate(schedule):
    run = Run(merged(schedule=schedule))
    used, announced = rates_used(run, STEPS + 10, past_end=True)      # and past the end
    expected = [scheduled(run.config.train, step) for step in range(STEPS + 10)]
    np.testing.assert_allclose(used, expected, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(announced, expected, rtol=1e-12, atol=0)
    checks = run.history.step
    np.testing.assert_allclose(run.history.lr, [scheduled(run.config.train, s) for s in checks],
                               rtol=1e-12)
    assert schedule == "constant" or len(set(expected)) >= 10         # the schedule moved


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_reduce_on_plateau_scales_the_schedule_by_its_rule(schedule):
    run = Run(merged(schedule=schedule, **PLATEAU))
    used, announced = rates_used(run, STEPS)
    train = run.config.train
    history = run.history
    assert list(history.step) == list(range(0, STEPS + 1, EVERY))      # every check kept
    scales = plateau_scales(history.val_loss, train.plateau_patience, train.plateau_factor)
    assert scales[-1] < train.plateau_factor ** 3                       # it acted, often
    # A check's decision holds for the steps after it, until the next check.
    expected = [scheduled(train, step) * scales[step // EVERY] for step in range(STEPS)]
    np.testing.assert_allclose(used, expected, rtol=1e-7, atol=1e-15)
    np.testing.assert_allclose(announced, expected, rtol=1e-12, atol=0)
    # The history records each check's rate before that check's own decision.
    before_decision = [1.0] + scales[:-1]
    np.testing.assert_allclose(history.lr, [scheduled(train, s) * scale for s, scale
                                            in zip(history.step, before_decision)], rtol=1e-12)


@pytest.mark.parametrize("key, value", [("train.lr", 0.4), ("train.steps", 60),
                                        ("train.schedule_step", 3), ("train.schedule_gamma", 0.5)])
@pytest.mark.parametrize("schedule", ["step", "cosine"])
def test_a_setting_changed_mid_run_reschedules_from_the_next_step(schedule, key, value):
    """An event or a key changes the base rate, the length or the schedule's step: the steps
    after it follow the closed form of the new settings at the run's own step count."""
    run = Run(merged(schedule=schedule))
    rates_used(run, 20)
    run.set(key, value)
    used, announced = rates_used(run, 30)
    expected = [scheduled(run.config.train, step) for step in range(20, 50)]
    np.testing.assert_allclose(used, expected, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(announced, expected, rtol=1e-12, atol=0)

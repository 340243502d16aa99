"""Gradient alarms judged relative to the network: what the gradient pane says about the
built-in lessons' runs, and the rules behind it in plain Python."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnsim.core.gradient_health import EXPLODING_UPDATE, VANISHING_RATIO, gradient_health
from nnsim.core.run import Run
from nnsim.core.scenario import load_scenario
from nnsim.core.layers import layer_names
from nnsim.tui.panes.gradients import alerts, one_in

NAN = math.nan


def said(norms, ratios, diverged=False) -> str:
    norms = np.asarray(norms, dtype=float)
    return str(alerts(norms, np.asarray(ratios, dtype=float), layer_names(len(norms)),
                      [False] * len(norms), diverged))


def test_size_alone_is_no_disease():
    """A converged net's tiny gradients and a raw regression's huge ones are neither vanishing
    nor exploding (fixed thresholds called them so)."""
    converged = gradient_health([2e-6, 1e-6, 3e-6], [1e-5, 1e-5, 1e-5], False)
    huge = gradient_health([75.0, 78.0, 130.0], [2e-3, 3e-3, 3e-3], False)
    for health in (converged, huge):
        assert health.vanishing == () and health.exploding == ()


def test_vanishing_is_an_early_layer_a_tiny_fraction_of_the_output_layers():
    health = gradient_health([1e-5, VANISHING_RATIO, 0.5, 1.0], [NAN] * 4, False)
    assert health.vanishing == (0,) and health.faded_to == pytest.approx(1e-5)
    assert gradient_health([1e-5, 1e-3, 0.0], [NAN] * 3, False).vanishing == ()   # no output signal
    text = said([1.7e-5, 0.5, 1.0], [NAN] * 3)
    assert "vanishing: h1 (h1's gradient is 1/59,000 of out's)" in text


def test_exploding_is_a_step_that_moves_weights_by_a_large_part_of_them():
    health = gradient_health([1.0, 1.0], [EXPLODING_UPDATE * 2, EXPLODING_UPDATE / 2], False)
    assert health.exploding == (0,) and health.largest_update == EXPLODING_UPDATE * 2
    assert "exploding: h1 (a step moved h1's weights by 60% of their size)" in said([1, 1], [0.6, 0.1])
    assert "exploding: the run diverged" in said([2e2, 9e3], [NAN, NAN], diverged=True)
    assert "not numbers" in said([NAN, NAN], [NAN, NAN], diverged=True)


def test_one_in_reads_a_fraction_in_two_digits():
    assert [one_in(x) for x in (1.7e-5, 0.5, 3e-4, 0.0)] == ["1/59,000", "1/2", "1/3,300", "none"]


def lesson_words(lesson: str, variant: str, steps: int) -> str:
    scenario = load_scenario(lesson)
    [config] = [v.config for v in scenario.variants if v.name == variant]
    snapshot = Run(config, name=variant).advance(steps)
    return said(snapshot.grad_norms, snapshot.update_ratios, snapshot.diverged)


@pytest.mark.parametrize("lesson, variant, steps, vanishing, exploding", [
    ("vanishing-gradients", "deep", 400, True, False),      # 8 sigmoid layers
    ("vanishing-gradients", "shallow", 400, False, False),
    ("relu", "relu", 400, False, False),                    # the fix: ReLU at the same depth
    ("skip-connections", "residual", 300, False, False),    # the fix: skip connections
    ("playground", "base", 3000, False, False),             # converged: loss ~0.02, tiny gradients
    ("data-cleaning", "dirty", 400, False, False),          # a loss in the thousands
    ("learning-rate", "too-high", 300, False, True),        # diverges
    ("learning-rate", "good", 300, False, False),
])
def test_the_lessons_runs_are_named_as_an_expert_would(lesson, variant, steps, vanishing, exploding):
    words = lesson_words(lesson, variant, steps)
    assert ("vanishing" in words, "exploding" in words) == (vanishing, exploding), words

"""A narration line quotes the run on screen: ``{run.VARIANT.METRIC}`` is that run's figure at
the check where the line is told, in the dashboard and in ``nnsim run``, never a typical value
from other seeds dressed as this run's."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pytest

from nnsim.headless import run_scenario
from nnsim.core.driver import ScriptedRun, play
from nnsim.core.narration import NarrationError, check_figures, shown, told
from nnsim.core.scenario import ScenarioError, load_scenario
from nnsim.tui.messages import Narration
from nnsim.tui.worker import Trainer
from scenario_helpers import history

TWO_RUNS = """
title = "Two rates"
lesson = "The same net at two rates."

[data]
n_points = 120

[model]
layers = [6]

[train]
optimizer = "sgd"
steps = 40
eval_every = 10

[[variant]]
name = "slow"
train.lr = 0.01

[[variant]]
name = "fast"
train.lr = 0.5

[[event]]
at_step = 25
say = "Now: slow {run.slow.train_loss:.9f}, fast {run.fast.val_acc:.9f}, fast h1 {run.fast.grad_norm_0:.9f}."

[[expect]]
kind = "no_divergence"
variant = "fast"
"""


def lesson_at(tmp_path: Path, text: str):
    path = tmp_path / "lesson.toml"
    path.write_text(text)
    return load_scenario(str(path), seed=3)


def test_a_figure_is_the_runs_check_at_the_step_or_the_latest_before_it():
    runs = {"a": history([0, 10, 20], train_loss=[3.0, 2.0, 1.0], val_acc=[0.5, 0.6, 0.75],
                         grad_norms=[[1, 2, 3], [4, 5, 6], [7, 8, 9]])}
    text = "{run.a.train_loss:.1f} {run.a.val_acc:.0%} {run.a.grad_norm_-1:.0f}"
    assert told(text, 0, runs) == "3.0 50% 3"
    assert told(text, 10, runs) == "2.0 60% 6"
    assert told(text, 19, runs) == "2.0 60% 6"            # the check at 10: 20 has not come
    assert told(text, 20, runs) == "1.0 75% 9"
    assert told(text, -1, runs) == "n/a n/a n/a"          # before the first check
    assert told("no figures {validation.x}", 5, runs) == "no figures {validation.x}"


def test_a_figure_says_what_its_spread_supports():
    assert shown(4388742.0, "~2") == "4,400,000"
    assert shown(20939.0, "~2") == "21,000"
    assert shown(0.012345, "~2") == "0.012"
    assert shown(0.5, ".0%") == "50%"
    assert shown(math.nan, ".2f") == "n/a" and shown(math.inf, "~2") == "∞"
    assert shown(1234.5678, None) == "1.23e+03"


@pytest.mark.parametrize("text, words", [
    ("{run.nobody.train_loss}", "no run named 'nobody'"),
    ("{run.a.test_loss}", "expected a metric logged at each check"),
    ("{run.a.val_acc:.2q}", "bad format"),
])
def test_a_figure_that_cannot_be_filled_is_refused(text, words):
    with pytest.raises(NarrationError, match=re.escape(words)):
        check_figures(text, ["a", "b"])


def test_a_scenario_names_the_line_that_quotes_a_run_wrongly(tmp_path):
    bad = TWO_RUNS.replace("{run.slow.train_loss:.9f}", "{run.slowe.train_loss}")
    with pytest.raises(ScenarioError) as info:
        lesson_at(tmp_path, bad)
    assert info.value.key == "event[1].say" and "no run named 'slowe'" in str(info.value)
    in_lesson = TWO_RUNS.replace('"The same net at two rates."', '"Slow ends at {run.slow.train_loss}."')
    with pytest.raises(ScenarioError) as info:
        lesson_at(tmp_path, in_lesson)
    assert info.value.key == "lesson" and "only an event's say" in str(info.value)


def quoted(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+\.\d{9}", line)]


def test_nnsim_run_tells_each_line_with_the_runs_numbers_at_its_step(tmp_path):
    scenario = lesson_at(tmp_path, TWO_RUNS)
    out = io.StringIO()
    run_scenario(scenario, out=out, err=io.StringIO(), quiet=True)
    [line] = [ln for ln in out.getvalue().splitlines() if ln.startswith("[step 25, all] Now:")]
    outcomes = {o.name: o.snapshot.history for o in map(play, ScriptedRun.build(scenario))}
    at = int(np.flatnonzero(outcomes["slow"].step == 20)[0])           # the check before step 25
    assert quoted(line) == pytest.approx([outcomes["slow"].train_loss[at], outcomes["fast"].val_acc[at],
                                          outcomes["fast"].grad_norms[at][0]], abs=1e-9)


def test_the_dashboard_tells_the_line_with_the_numbers_on_screen(tmp_path):
    scenario = lesson_at(tmp_path, TWO_RUNS)
    posted = []
    trainer = Trainer(scenario)
    trainer._post_message = posted.append
    trainer.open()
    trainer._round(30)
    [narration] = [m for m in posted if isinstance(m, Narration)]
    histories = trainer.session.histories()
    at = int(np.flatnonzero(histories["slow"].step == 20)[0])
    assert narration.step == 25
    assert quoted(narration.text) == pytest.approx(
        [histories["slow"].train_loss[at], histories["fast"].val_acc[at],
         histories["fast"].grad_norms[at][0]], abs=1e-9)

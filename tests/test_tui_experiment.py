"""A lesson the learner changes becomes their experiment, on screen at 80x24: the lesson pane
says what changed and stops ticking the lesson's checks, the narration bar stops, and `b` (or
picking the same lesson with `s`) brings the lesson back as it loaded. The rules themselves are
tested in plain Python (test_session.py); here, that the screen follows them."""

from __future__ import annotations

import pytest

from conftest import LESSON
from nnsim.core.scenario import parse_override
from nnsim.tui.app import create_app
from pilot import scenario_file, settled, wait_until

NARRATED = LESSON.replace("at_step = 200", "at_step = 60")      # a line for both runs, early


def page(app) -> str:
    lesson = app.dashboard.panes["lesson"]
    return "\n".join(str(part.render()) for part in
                     (lesson.experiment_text, lesson.expectations)
                     if part.display)


def yours(app) -> bool:
    return app.frame.experiment is not None and not app.frame.experiment.is_lesson


@pytest.mark.parametrize("keys, said", [
    (("plus",), "learning rate 0.01 → 0.02"),           # live: at the next step
    (("o",), "adam: optimizer adam → adamw"),          # each run to the optimizer after the first run's
    (("d",), "dropout 0 → 0.5"),
])
async def test_a_key_makes_it_your_experiment_and_b_brings_the_lesson_back(tmp_path, keys, said):
    app = create_app(scenario_file(tmp_path, NARRATED), stop_at=30, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("5")                               # the lesson pane
        assert "✓" in page(app) or "○" in page(app)           # the lesson's check, judged
        await pilot.press(*keys)
        await wait_until(pilot, lambda: yours(app) and app.up_to_date, "the change to show")
        shown = page(app)
        assert "Your experiment" in shown and said in shown and "b: back to the lesson" in shown
        assert "its words describe its own setup, not your runs" in shown
        assert "✓" not in shown and "○" not in shown and "Not judged on your runs" in shown
        app.trainer.playback.stop_at = 80
        await pilot.press("space")
        await wait_until(pilot, lambda: app.frame.step == 80 and app.up_to_date)
        assert not app.dashboard.narration.display       # the step-60 line was not told
        await pilot.press("b")
        await wait_until(pilot, lambda: not yours(app) and app.frame.step == 0 and app.up_to_date,
                         "the lesson to come back")
        assert "Your experiment" not in page(app) and app.frame.past[-1].change == "back to the lesson"
        assert app.frame.configs == tuple(v.config for v in app.lesson.variants)


async def test_set_at_start_is_your_experiment_from_the_first_frame(tmp_path):
    path = scenario_file(tmp_path, LESSON)
    app = create_app(path, overrides=[parse_override("model.layers=[4]")], stop_at=10,
                     show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("5")
        await wait_until(pilot, lambda: "Your experiment" in page(app))
        assert "hidden layers 8,8 → 4" in page(app)
        app.switch_scenario(app.lesson.name)                 # `s` and the same lesson: as `b`
        await wait_until(pilot, lambda: not yours(app) and app.up_to_date)
        assert app.frame.configs[0].model.layers == (8, 8)


async def test_a_new_seed_keeps_the_lesson_speaking(tmp_path):
    """The lessons hold on any seed (validated on fresh ones): a new seed is still the lesson."""
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=10, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        assert app.configure((("train.seed", 5),)) == ""
        await wait_until(pilot, lambda: bool(app.frame.past) and app.up_to_date)
        assert not yours(app) and app.frame.results

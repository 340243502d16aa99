"""The valley in the dashboard: the landscape pane (measured only while on screen, the paths of
runs that share a start, what it says) and the learning-rate range test's modal (`g`): its
result, setting the rate as the learner's change, and the live run untouched."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from conftest import LESSON
from nnsim.core import lr_find
from nnsim.core.run import Run
from nnsim.tui.app import create_app
from nnsim.tui.panes import PANES
from nnsim.tui.panes.landscape import LandscapePane, LandscapeView
from nnsim.tui.rate_finder import RateFinderScreen
from pilot import scenario_file, settled, shown_text, wait_until

LANDSCAPE_TAB = str(1 + PANES.index(LandscapePane))


async def test_the_landscape_is_measured_only_while_the_pane_is_on_screen(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=40, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:          # tabs: the loss pane first
        await wait_until(pilot, lambda: settled(app)() and app.frame.valley is None)
        await pilot.press(LANDSCAPE_TAB)
        pane = app.dashboard.panes["landscape"]
        # the grid follows the map's size (measured again once the caption has its lines)
        await wait_until(pilot, lambda: app.frame.valley is not None and app.up_to_date
                         and app.frame.valley.shape == pane.grid_shape(),
                         "the landscape to be measured at the map's size and drawn")
        land = app.frame.valley.landscape
        assert land.losses.shape == app.frame.valley.shape        # a small network: every point
        assert land.examples == land.train_rows
        assert land.step == 40 and land.plane.kind == "pca"
        assert [path.name for path in land.paths] == ["adam", "sgd"]     # one start, one plane
        note = app.dashboard.query_one("#landscape-note").render().plain
        assert f"slice through {land.n_params:,} dimensions" in note
        assert f"{land.plane.explained:.0%} of their variance" in note
        assert "next step (lr" in note
        picture = shown_text(app.dashboard.query_one(LandscapeView))
        assert picture.count("●") == 2 and "○" in picture
        await pilot.press("1")
        await pilot.press("n")                                   # a step with the pane hidden
        await wait_until(pilot, lambda: app.frame.step == 41 and app.frame.valley is None,
                         "a frame without the landscape")


async def test_the_grid_is_the_selected_runs_weights(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=30, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press(LANDSCAPE_TAB, "v")                    # the second run: sgd
        await wait_until(pilot, lambda: app.frame.valley is not None
                         and app.frame.valley.landscape.run == "sgd" and app.up_to_date)
        land = app.frame.valley.landscape
        live = app.trainer.session.runs[1].run
        np.testing.assert_array_equal(land.plane.origin, live.params)
        assert app.frame.valley.line.step == live.step


async def test_the_range_test_offers_a_rate_and_sets_it_in_its_run_as_the_learners_change(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        live = app.trainer.session.runs[1].run                  # the second run: sgd
        before = live.params.copy()
        others = app.frame.configs[0].train.lr
        await pilot.press("v", "g")
        await wait_until(pilot, lambda: isinstance(app.screen, RateFinderScreen)
                         and app.screen.test is not None, "the range test's result")
        test = app.screen.test
        # the same numbers as the range test on a twin run at the same step
        twin = Run(live.config, name=live.name, base_dir=app.scenario.base_dir)
        twin.advance(20)
        expected = lr_find.range_test(twin)
        np.testing.assert_array_equal(test.losses, expected.losses)
        np.testing.assert_array_equal(live.params, before)        # the live run untouched
        assert test.suggestion is not None
        assert test.run == "sgd"
        footer = str(app.screen.query_one("#rate-footer").render())
        assert "sets sgd's learning rate" in footer and "its run only" in footer
        await pilot.press("enter")
        suggested = float(f"{test.suggestion:.3g}")
        await wait_until(pilot, lambda: not isinstance(app.screen, RateFinderScreen)
                         and app.frame.configs[1].train.lr == suggested, "the rate set")
        # the other run keeps its rate: a lesson comparing rates stays a comparison
        assert app.frame.configs[0].train.lr == others != suggested
        assert not app.frame.experiment.is_lesson                 # the learner's change
        assert [str(c) for c in app.frame.experiment.changes] == [
            f"sgd: learning rate {0.3:g} → {suggested:g} at step 20"]


async def test_escape_closes_the_range_test_and_changes_nothing(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        lr = app.frame.configs[0].train.lr
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, RateFinderScreen)
                         and app.screen.test is not None)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, RateFinderScreen))
        assert app.frame.configs[0].train.lr == lr and app.frame.experiment.is_lesson


DIVERGING = LESSON.replace('name = "sgd"\ntrain = { optimizer = "sgd", lr = 0.3 }',
                           'name = "sgd"\ntrain = { optimizer = "sgd", lr = 0.3, divergence_factor = 1.0001 }')


async def test_no_range_test_from_a_run_that_diverged(tmp_path):
    assert DIVERGING != LESSON
    app = create_app(scenario_file(tmp_path, DIVERGING), stop_at=30, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.frame is not None and app.frame.snapshots[1].diverged)
        await pilot.press("v", "g")
        await wait_until(pilot, lambda: isinstance(app.screen, RateFinderScreen)
                         and "sgd diverged at step" in str(app.screen.query_one("#rate-note")
                                                            .render()))
        assert app.screen.test is None


# --- what the pane says for given numbers (no app) ----------------------------------------------

def a_line(losses):
    from nnsim.core.landscape import LINE_STEPS, StepLine
    t = np.linspace(0.0, LINE_STEPS, len(losses))
    return StepLine("run", 5, 0.1, 1.0, t, np.asarray(losses, float), 100)


def test_the_step_line_says_whether_the_step_overshot_or_stopped_short():
    from nnsim.tui.panes.landscape import line_words
    t = np.linspace(0.0, 3.0, 31)
    assert line_words(a_line((t - 0.4) ** 2)) == "overshoots"
    assert line_words(a_line((t - 2.5) ** 2)) == "stops short"
    assert line_words(a_line((t - 1.0) ** 2)) == "lands at the bottom"
    assert line_words(a_line((t - 0.97) ** 2)) == "lands at the bottom"
    # A jump across the floor to the same height on the far wall (a rate too high by 2x on a
    # quadratic) overshoots, though the line climbs far higher by t = 3.
    assert line_words(a_line((t - 0.5) ** 2)) == "overshoots"
    assert line_words(a_line(np.full(31, np.nan))) == "leaves the numbers behind"


def test_the_step_throughs_line_marks_where_the_step_landed():
    from nnsim.tui.panes.landscape import slope_text
    text = slope_text(a_line((np.linspace(0.0, 3.0, 31) - 2.5) ** 2)).plain.splitlines()
    sparks = text[1].split()[0]
    assert len(sparks) == 31 and sparks[0] == "█" and sparks[25] == "▁"
    assert text[2].index("▲") == text[1].index(sparks) + 10          # t = 1
    assert "stops short" in text[1]


def test_the_map_draws_each_path_and_where_each_run_is_now():
    from nnsim.core.landscape import Landscape, Plane, RunPath
    from nnsim.tui.panes.landscape import NOW_MARK, START_MARK, LandscapePicture
    alphas, betas = np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)
    losses = np.add.outer(betas ** 2, alphas ** 2) + 0.1
    paths = (RunPath("a", np.array([0, 10]), np.array([[-0.9, -0.9], [0.0, 0.0]])),
             RunPath("b", np.array([0, 10]), np.array([[-0.9, -0.9], [0.8, -0.5]])))
    land = Landscape("a", 10, 2, Plane(np.zeros(2), np.eye(2), "pca", 0.9), alphas, betas,
                     losses, paths, 50, 50)
    console = Console(width=20, height=10, color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(LandscapePicture(land, "a", ("a", "b")), height=10)
    shown = capture.get()
    assert shown.count(NOW_MARK) == 2 and shown.count(START_MARK) == 1

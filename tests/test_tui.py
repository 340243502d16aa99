"""The dashboard, driven as a user drives it: Textual pilots on small fixed scenarios."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from conftest import ENDLESS, LESSON
from nnsim.core.scenario import builtin_names, load_scenario
from nnsim.tui.app import create_app
from nnsim.tui.panes.boundary import BoundaryView
from nnsim.tui.panes.lesson import LessonPane
from nnsim.tui.panes.status import StatusLine
from nnsim.tui.screens import GLOSSARY, HelpScreen, ScenarioPicker
from pilot import scenario_file, settled, state, wait_until

pytestmark = pytest.mark.asyncio

DIVERGES = """
title = "Too large a step"
lesson = "SGD at lr 10 on a regression overshoots until the loss is NaN."

[data]
kind = "plane"
n_points = 200

[model]
layers = [8]

[train]
optimizer = "sgd"
lr = 10.0
steps = 300
eval_every = 10
"""


WIDE = (200, 50)


async def test_a_snapshot_reaches_every_pane(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=50, show_speed=False)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.pause()
        assert (state(app), app.frame.step) == ("paused", 50)
        status = str(app.query_one(StatusLine).render())
        assert "step 50" in status and "paused" in status and "steps/s" not in status
        assert "adam" in str(app.query_one("#loss-legend").render())
        assert app.query_one("#grad-bars").picture.names == ["h1", "h2", "out"]
        assert app.query_one(BoundaryView).picture is not None
        assert app.query_one("#weights").border_subtitle.startswith("adam · h1 (1 of")
        assert "Two optimizers" in str(app.query_one("#lesson-title").render())
        expectations = str(app.query_one("#lesson-expectations").render())
        assert "What to watch for" in expectations and "adam has not diverged" in expectations


async def test_space_pauses_and_resumes_and_n_steps_once(tmp_path):
    app = create_app(scenario_file(tmp_path, ENDLESS), stop_at=20, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("n")
        await wait_until(pilot, lambda: app.frame.step == 21)
        await pilot.press("n")
        await wait_until(pilot, lambda: app.frame.step == 22)
        assert state(app) == "paused"
        await pilot.press("space")
        await wait_until(pilot, lambda: state(app) == "running" and app.frame.step > 22)
        await pilot.press("space")
        await wait_until(pilot, lambda: state(app) == "paused")
        paused_at = app.frame.step
        await pilot.press("n")
        await wait_until(pilot, lambda: app.frame.step == paused_at + 1)


async def test_keys_change_the_settings_of_every_run(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, settled(app))
        lrs = [c.train.lr for c in app.frame.configs]
        await pilot.press("plus")
        await wait_until(pilot, lambda: [c.train.lr for c in app.frame.configs] == [2 * v for v in lrs])
        await pilot.pause()
        assert "lr 0.02 " in str(app.query_one(StatusLine).render())     # paused: shown at once
        await pilot.press("minus", "minus")
        await wait_until(pilot, lambda: [c.train.lr for c in app.frame.configs] == [v / 2 for v in lrs])
        await pilot.press("d")
        await wait_until(pilot, lambda: all(c.model.dropout == 0.5 for c in app.frame.configs))
        await pilot.press("d")
        await wait_until(pilot, lambda: all(c.model.dropout == 0.0 for c in app.frame.configs))
        await pilot.press("o")     # adam -> adamw: every variant takes the first one's next
        await wait_until(pilot, lambda: all(c.train.optimizer == "adamw" for c in app.frame.configs))
        assert "adamw" in str(app.query_one(StatusLine).render())


async def test_view_keys_log_scale_smoothing_variant_and_layer(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=30, show_speed=False)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("l", "m")
        assert app.dashboard.view.log_scale and app.dashboard.view.smooth
        assert app.query_one("#loss").border_subtitle == "log · steps (x) · smoothed"
        await pilot.press("l", "x")
        assert app.query_one("#loss").border_subtitle == "linear · log steps (x) · smoothed"
        await pilot.press("x", "x")
        assert app.dashboard.view.x_axis == "steps"
        await pilot.press("v")
        assert app.dashboard.view.variant == 1
        assert app.query_one("#gradients").border_subtitle == "sgd"
        await pilot.press("right_square_bracket")
        assert "h2 (2 of 3 layers)" in app.query_one("#weights").border_subtitle
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert "out (" in app.query_one("#weights").border_subtitle


async def test_reset_goes_back_to_step_zero_and_replays_the_script(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=120, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, settled(app))
        lesson = app.query_one(LessonPane)
        assert [step for step, _ in lesson.narration] == [100]
        await pilot.press("r")          # paused: stays paused, at step 0
        await wait_until(pilot, lambda: app.frame.step == 0)
        assert state(app) == "paused" and not lesson.narration
        await pilot.press("space")
        await wait_until(pilot, lambda: state(app) == "finished")
        assert app.frame.step == 300
        assert [step for step, _ in lesson.narration] == [100, 200]


async def test_divergence_is_a_state_and_reset_recovers(tmp_path):
    app = create_app(scenario_file(tmp_path, DIVERGES, "diverges"), show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, settled(app))
        snap = app.frame.snapshots[0]
        assert state(app) == "diverged" and snap.diverged
        assert app.frame.detail == f"diverged at step {snap.diverged_step}"
        assert f"diverged at step {snap.diverged_step}" in str(app.query_one(StatusLine).render())
        for _ in range(10):             # lr 10 -> 0.01
            await pilot.press("minus")
        await pilot.press("r")
        await wait_until(pilot, lambda: app.frame.step < snap.diverged_step or state(app) != "diverged")
        await wait_until(pilot, settled(app))
        assert state(app) == "finished"
        assert not app.frame.snapshots[0].diverged and app.frame.step == 300


async def test_replay_pauses_at_each_narration_until_a_key(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), replay=True, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, settled(app))
        assert (state(app), app.frame.step, app.frame.detail) == ("paused", 100, "narration")
        assert "space to go on" in str(app.query_one(StatusLine).render())
        # the loss pane shows the values of the narration's own step (the issue saw a pause at
        # step 50 showing step 20's)
        legend = str(app.query_one("#loss-legend").render())
        for snap in app.frame.snapshots:
            assert snap.measured_step == 100 and f"val {snap.val_loss:.3g}" in legend
        await pilot.press("space")
        await wait_until(pilot, lambda: app.frame.step > 100 and state(app) != "running")
        assert (state(app), app.frame.step) == ("paused", 200)
        await pilot.press("enter")
        await wait_until(pilot, lambda: state(app) == "finished")


async def test_autoplay_does_not_pause(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), replay=True, autoplay=True, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, settled(app))
        assert (state(app), app.frame.step) == ("finished", 300)
        assert [s for s, _ in app.query_one(LessonPane).narration] == [100, 200]


async def test_narrow_screen_shows_one_pane_and_the_number_keys_switch(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        shown = lambda: [p for p in ("loss", "boundary", "gradients", "weights", "lesson")   # noqa: E731
                         if app.query_one(f"#{p}").display]
        assert shown() == ["loss"]
        await pilot.press("2")
        await pilot.pause()
        assert shown() == ["boundary"]
        assert app.query_one(BoundaryView).picture is not None
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert len(shown()) == 5
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert shown() == ["boundary"]


async def test_a_narration_naming_a_pane_shows_it_when_panes_are_tabs(tmp_path):
    """At 80x24 one pane shows at a time: "look at the boundary pane" brings that tab up
    (on a wide screen every pane is already in view, and nothing moves)."""
    text = LESSON.replace('say = "Two thirds of the way."',
                          'say = "Look at the decision-boundary pane: two thirds of the way."')
    for size, tab in (((80, 24), "tab-boundary"), ((200, 50), "tab-loss")):
        app = create_app(scenario_file(tmp_path, text), show_speed=False)
        async with app.run_test(size=size) as pilot:
            await wait_until(pilot, settled(app))
            assert app.dashboard.tabs.active == tab, size
    app = create_app(scenario_file(tmp_path, text), stop_at=50, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:     # a tab the learner chose stays
        await wait_until(pilot, settled(app))
        await pilot.press("4", "space")
        await wait_until(pilot, lambda: app.frame.step == 300 and settled(app)())
        assert app.dashboard.tabs.active == "tab-weights"


async def test_a_learning_rate_key_says_the_new_rates(tmp_path):
    """+ and - are answered at once with the rates they set, which an 80-column status line
    may not have room for."""
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    said = []
    app.notify = lambda message, **kwargs: said.append(message)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        rates = [cfg.train.lr for cfg in app.frame.configs]
        await pilot.press("plus")
        await wait_until(pilot, lambda: [c.train.lr for c in app.frame.configs] == [2 * r for r in rates])
    assert said[0] == f"learning rate ×2 for every run: {2 * rates[0]:.3g}, {2 * rates[1]:.3g}"
    assert said[1].startswith("Now this is your experiment")


async def test_help_and_quit(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=10, show_speed=False)
    async with app.run_test() as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = "\n".join(str(static.render()) for static in app.screen.query("Static"))
        assert "Words" in shown                                # the glossary, under the keys
        for word in ("epoch", "train / val / test", "gradient norm", "update ratio", "vanishing",
                     "dead unit", "dropout", "diverged", "activation", "optimizer", "median",
                     "loss landscape"):     # the words the panes use
            assert word in dict(GLOSSARY), word
        for key in ("r", "R", "b"):                            # three ways back, each named
            assert any(binding.key == key for binding in app.BINDINGS)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_export_writes_the_metrics_and_a_screenshot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=50, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("e")
        await pilot.pause()
    rows = list(csv.DictReader(open(tmp_path / "nnsim-lesson-step50.csv")))
    assert [(r["variant"], r["step"]) for r in rows][:2] == [("adam", "0"), ("adam", "10")]
    assert {r["variant"] for r in rows} == {"adam", "sgd"} and len(rows) == 12
    assert (tmp_path / "nnsim-lesson-step50.svg").read_text().startswith("<svg")


async def test_command_palette_offers_the_actions(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=10, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"double the learning")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.frame.configs[0].train.lr == 0.02)


async def test_the_picker_switches_lessons(tmp_path):
    names = builtin_names()
    if not names:
        pytest.skip("no built-in lessons yet")
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=10, show_speed=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ScenarioPicker))
        await pilot.press("home", "enter")
        await wait_until(pilot, lambda: app.scenario.name == names[0])
        expected = load_scenario(names[0])
        await wait_until(pilot, lambda: app.frame is not None
                         and app.frame.names == tuple(v.name for v in expected.variants))
        assert str(app.query_one("#lesson-title").render()).startswith(expected.title)


async def finished_tui_and_headless(tmp_path):
    """The lesson run to its end in the dashboard and by the headless runner, same seed."""
    from nnsim.headless import run_variant

    path = scenario_file(tmp_path, LESSON)
    app = create_app(path, seed=3, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, settled(app))
        assert state(app) == "finished"
        shown = dict(zip(app.frame.names, app.frame.snapshots))
    scenario = load_scenario(path, seed=3)
    return [(shown[v.name], run_variant(scenario, v).outcome.snapshot) for v in scenario.variants]


async def test_the_dashboard_gives_the_headless_numbers(tmp_path):
    """Same scenario, same seed: the TUI's metrics equal `nnsim run`'s, bit for bit."""
    for tui, headless in await finished_tui_and_headless(tmp_path):
        assert tui.step == headless.step
        for field in ("step", "epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr",
                      "batch_loss", "batch_loss_std", "grad_norms", "update_ratios"):
            np.testing.assert_array_equal(getattr(tui.history, field), getattr(headless.history, field))


async def test_a_run_that_cannot_start_ends_the_dashboard_with_status_2_and_one_line(tmp_path):
    (tmp_path / "columns.csv").write_text("a,b\n1,2\n3,4\n")
    wrong_column = scenario_file(tmp_path, """
title = "No such column"
[data]
kind = "csv"
path = "columns.csv"
target_column = "y"
""", "wrong-column")
    app = create_app(wrong_column, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2
    assert app.exit_line == (f"{wrong_column}: data.target_column: {tmp_path / 'columns.csv'}: "
                             "no column 'y'; columns: a, b")


async def test_the_lesson_pane_shows_the_cleaning_report(tmp_path):
    dirty = ('title = "t"\n[data]\nkind = "houses"\nbad_fraction = 0.1\nclean = "drop"\n'
             '[train]\nsteps = 20\neval_every = 10\n')
    app = create_app(scenario_file(tmp_path, dirty), stop_at=10, show_speed=False)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.pause()
        [report] = app.frame.cleaning
        shown = str(app.query_one("#lesson-cleaning").render())
        assert "Cleaning report" in shown and report.summary() in shown.replace("\n", " ")
        assert report.bad_records > 0 and f"{report.dropped_records} dropped" in shown


async def test_at_80x24_the_footer_shows_help_and_quit_and_the_status_names_the_run(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("v")
        status = app.query_one(StatusLine)
        await wait_until(pilot, lambda: "sgd 2/2" in str(status.render()))
        shown = str(status.render())
        assert shown.index("sgd 2/2") < shown.index("step 20") < shown.index("epoch")
        await wait_until(pilot, lambda: app.screen.query("FooterKey"))
        keys = {key.action: key for key in app.screen.query("FooterKey") if key.display}
        for action in ("help", "quit", "toggle_pause", "step"):
            region = keys[action].region
            assert region.width and region.right <= 80, action     # on screen, not cut off
        assert "dropout" not in keys                                 # left to help and ctrl+p
        status.starting(0, "vanishing-gradients", compiling=True)
        assert "compiling kernels" in str(status.render()) and len(str(status.render())) <= 80


async def test_wide_the_footer_shows_every_key(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, settled(app))
        await wait_until(pilot, lambda: app.screen.query("FooterKey"))
        assert "dropout" in {key.action for key in app.screen.query("FooterKey") if key.display}


async def test_a_run_that_ended_says_so_beside_the_step_the_others_reached(tmp_path):
    diverging = LESSON.replace('optimizer = "sgd", lr = 0.3', 'optimizer = "sgd", lr = 1e6')
    app = create_app(scenario_file(tmp_path, diverging), stop_at=50, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        assert app.frame.snapshots[1].diverged and app.frame.step == 50
        await pilot.press("v")
        status = app.query_one(StatusLine)
        ended = f"step {app.frame.snapshots[1].step} (ended; others at 50)"
        await wait_until(pilot, lambda: ended in str(status.render()))
        await pilot.press("v")                      # the run still going: its own step alone
        await wait_until(pilot, lambda: re.search(r"adam 1/2  step 50(?! \(ended)",
                                                  str(status.render())))


async def test_the_lesson_pane_says_what_to_watch_for_and_ticks_it_when_seen(tmp_path):
    text = LESSON.replace('kind = "no_divergence"', 'kind = "no_divergence"\nbecause = "Adam keeps its steps small."')
    app = create_app(scenario_file(tmp_path, text), show_speed=False)
    async with app.run_test(size=WIDE) as pilot:
        page = app.query_one("#lesson-expectations")
        await wait_until(pilot, lambda: "What to watch for" in str(page.render()))
        await wait_until(pilot, settled(app))
        assert app.frame.state == "finished" and app.frame.results[0].passed
        await wait_until(pilot, lambda: "✓ Adam keeps its steps small." in str(page.render()))
        assert "seen: adam" in str(page.render()) and "no_divergence" not in str(page.render())


async def test_the_status_line_shows_the_rate_an_event_just_set(tmp_path):
    """Paused at step 100, where the lesson's event slows SGD to lr 0.1 and says so: the status
    line says 0.1 too (it said 0.3, the rate of the step before, beside the narration)."""
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=100, show_speed=False)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        await wait_until(pilot, lambda: app.dashboard.view.variant == 1)   # the narration's run
        await pilot.pause()
        assert app.frame.snapshots[1].lr == 0.1
        assert "lr 0.1 " in str(app.query_one(StatusLine).render())


async def test_k_shows_the_keys_the_footer_has_no_room_for_at_80x24(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        line = app.dashboard.query_one("#more-keys")
        assert not line.display
        await pilot.press("k")
        await wait_until(pilot, lambda: line.display and line.region.height >= 2)
        shown = str(line.render())
        assert "p Phases" in shown and "x X axis" in shown and "space" not in shown
        assert app.screen.region.contains_region(line.region)
        await pilot.press("k")
        await wait_until(pilot, lambda: not line.display)

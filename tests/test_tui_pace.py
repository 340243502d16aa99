"""The pace: the dashboard plays a lesson slowly enough to watch, exactly as headless."""

from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import LESSON
from nnsim.core.driver import ScriptedRun, play
from nnsim.core.pacing import FRAMES_PER_SECOND, Pace
from nnsim.core.report import metrics_csv
from nnsim.core.scenario import load_scenario
from nnsim.tui.app import create_app, lesson_pace
from pilot import scenario_file, settled, wait_until

def running(app) -> bool:
    return app.frame is not None and app.frame.state == "running"


async def test_the_playground_is_still_learning_a_second_in_and_gets_there_at_its_pace():
    app = create_app(paced=True)
    assert app.trainer is None
    opened = time.monotonic()
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: running(app) and app.frame.step > 0)
        assert app.frame.pace == lesson_pace(app.scenario) == 100.0     # 3,000 steps in 30 s
        await pilot.pause(1.0)
        snap, elapsed = app.frame.snapshots[0], time.monotonic() - opened
        # The pace is wall-clock and a loaded machine stretches the second, so the bound counts
        # every second since the app opened (training starts later): at most the pace's steps for
        # them, plus the second of debt Pace forgives no further and one frame's batch.
        assert snap.step <= 100.0 * (elapsed + Pace.MAX_DEBT_SECONDS) + 100.0 / FRAMES_PER_SECOND
        if snap.step < 300:
            assert snap.val_acc < 0.9       # a second in: ~100 steps, still learning
        for _ in range(4):                                 # x16: the rest in a few seconds
            await pilot.press("full_stop")
        await wait_until(pilot, lambda: app.frame.results and all(r.passed for r in app.frame.results))
        assert app.frame.step >= app.frame.snapshots[0].history.step[-1]


async def test_pace_keys_halve_double_and_jump_to_full_speed_and_back(tmp_path):
    path = tmp_path / "lesson.toml"
    path.write_text(LESSON.replace("steps = 300", "steps = 100000"))
    app = create_app(str(path), paced=True)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: running(app))
        start = app.frame.pace
        await pilot.press("full_stop")
        await wait_until(pilot, lambda: app.frame.pace == 2 * start)
        await pilot.press("comma", "comma")
        await wait_until(pilot, lambda: app.frame.pace == start / 2)
        await pilot.press("f")
        await wait_until(pilot, lambda: app.frame.pace is None)
        await wait_until(pilot, lambda: app.frame.steps_per_second > start)
        await pilot.press("f")
        await wait_until(pilot, lambda: app.frame.pace == start / 2)
        for _ in range(20):                                 # never slower than a step a second
            await pilot.press("comma")
        await wait_until(pilot, lambda: app.frame.pace == 1.0)


async def test_a_paced_dashboard_exports_the_headless_metrics(tmp_path, monkeypatch):
    path = tmp_path / "lesson.toml"
    path.write_text(LESSON + '\n[view]\nseconds = 2\n')
    scenario = load_scenario(str(path), seed=0)
    assert scenario.seconds == 2.0
    headless = metrics_csv([(o.name, o.snapshot.history) for o in map(play, ScriptedRun.build(scenario))])
    monkeypatch.chdir(tmp_path)
    app = create_app(str(path), paced=True)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.frame is not None and app.frame.state == "finished")
        assert app.frame.pace == 150.0
        await pilot.press("e")
        await wait_until(pilot, lambda: list(tmp_path.glob("nnsim-lesson-step300.csv")))
    assert (tmp_path / "nnsim-lesson-step300.csv").read_text() == headless


async def test_n_steps_once_and_measures_that_step(tmp_path):
    path = tmp_path / "lesson.toml"
    path.write_text(LESSON)
    app = create_app(str(path), stop_at=20, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.frame is not None and app.frame.state == "paused")
        before = app.frame.snapshots[0]
        await pilot.press("n")
        await wait_until(pilot, lambda: app.frame.step == 21 and app.up_to_date)
        snap = app.frame.snapshots[0]
        assert snap.measured_step == 21 and before.measured_step == 20
        assert snap.train_loss != before.train_loss                 # measured after the step
        assert snap.history.step[-1] == 20                          # the history keeps its checks
        assert all(g == g for g in snap.grad_norms)                 # this step's gradients, no NaN


def test_the_value_axis_keeps_the_descent_and_clips_a_late_spike():
    from nnsim.tui.panes.loss import robust_high

    descent = np.linspace(1.0, 0.1, 200)
    assert robust_high(descent, 0.1) == 1.0                       # nothing to clip
    spiky = descent.copy()
    spiky[150] = 50.0                                              # one late spike
    assert robust_high(spiky, 0.1) == pytest.approx(1.0)           # the descent sets the range


async def test_a_frame_that_changes_no_picture_redraws_no_pane(tmp_path):
    """A paced run sends ten frames a second and its weights move a little at every step; a pane
    is drawn again only when what it shows has changed, which keeps a paced dashboard idle."""
    from dataclasses import replace

    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(200, 50)) as pilot:
        # Paused, the worker still measures the valley of the steps the landscape pane shows,
        # once (compiling its kernel first on a fresh machine): a frame of its own, not ours.
        await wait_until(pilot, lambda: settled(app)() and app.frame.valley is not None)
        drawn = []
        for pane in app.dashboard.panes.values():
            pane.show = (lambda show, name: lambda frame, view: (drawn.append(name), show(frame, view)))(
                pane.show, pane.ID)
        # On a loaded machine the first layout can still be settling (a pane resized is drawn
        # again, rightly, and the landscape measured again for its new size): start once a quiet
        # spell passes with nothing drawn by itself, from the frame on screen then.
        for _ in range(50):
            drawn.clear()
            await pilot.pause(0.3)
            if not drawn and app.up_to_date:
                break
        frame = app.frame
        snap = frame.snapshots[0]
        pictures = frame.pictures[0]

        async def drawn_for(these) -> list[str]:
            drawn.clear()
            app.dashboard.show_frame(replace(frame, snapshots=(snap,) + frame.snapshots[1:],
                                             pictures=(these,) + frame.pictures[1:]))
            await wait_until(pilot, lambda: app.up_to_date)
            return sorted(drawn)

        assert await drawn_for(pictures) == []                  # the same pictures: nothing drawn
        assert await drawn_for(replace(pictures, boundary=pictures.boundary + 1e-4)) == []  # no colour moved
        moved = replace(pictures, boundary=1.0 - pictures.boundary)
        assert await drawn_for(moved) == ["boundary"]
        hist = pictures.weight_hist.copy()
        hist[0, [0, -1]] += 1
        assert await drawn_for(replace(moved, weight_hist=hist)) == ["weights"]

"""The dashboard under hostile input: markup in a lesson's text, a broken data file, a failing
export, a double Enter in the picker, signals, quitting while the kernels compile, and the
way back to the scenario's settings."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from conftest import ENDLESS, LESSON, interruptible
from nnsim.tui import app as app_module
from nnsim.tui.app import create_app
from nnsim.tui.panes.status import StatusLine
from nnsim.tui.screens import ScenarioPicker, WriteScreen
from pilot import PATIENCE, scenario_file, settled, state, wait_until

pytestmark = pytest.mark.asyncio

MARKUP = ["[/]", "[red]", "[@click=app.quit]quit[/]", "[/bold]", "[link=https://x]x"]

MARKED_UP = f"""
title = "{MARKUP[3]} title"
summary = "{MARKUP[4]} summary"
lesson = "{MARKUP[0]} lesson"

[data]
kind = "circle"
n_points = 100

[model]
layers = [4]

[train]
steps = 60
eval_every = 10

[[variant]]
name = "a"
label = "{MARKUP[0]} a"

[[variant]]
name = "b"
label = "{MARKUP[2]} b"

[[event]]
at_step = 20
say = "{MARKUP[0]} {MARKUP[1]} said"

[[event]]
at_step = 30
say = "{MARKUP[2]}"

[[expect]]
kind = "no_divergence"
variant = "a"
because = "{MARKUP[1]} because"
"""


def toasts(app) -> list[str]:
    return [f"{n.title}\n{n.message}" for n in app._notifications]


async def test_markup_in_a_lesson_is_shown_as_plain_text(tmp_path):
    app = create_app(scenario_file(tmp_path, MARKED_UP), autoplay=True, show_speed=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("v")          # the second variant's label in the status line
        await pilot.pause()
        assert state(app) == "finished" and app.return_code is None
        said = [line for _, line in app.query_one("#lesson").narration]
        assert said == ["[/] [red] said", MARKUP[2]]
        assert str(app.dashboard.narration.render()).endswith(MARKUP[2])
        title = str(app.query_one("#lesson-title").render())
        assert f"{MARKUP[3]} title" in title and f"{MARKUP[4]} summary" in title
        assert f"{MARKUP[1]} because" in str(app.query_one("#lesson-expectations").render())
        assert f"{MARKUP[2]} b" in str(app.query_one(StatusLine).render())
        assert app.query_one("#boundary").border_subtitle.endswith(" b")


async def test_a_double_enter_in_the_picker_opens_one_lesson(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=10, show_speed=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ScenarioPicker))
        await pilot.press("down")
        options = app.screen.query_one("#picker-list")
        options.action_select()         # two Enters faster than the screen closes
        options.action_select()
        await pilot.pause()
        await wait_until(pilot, lambda: not isinstance(app.screen, ScenarioPicker))
        assert app.return_code is None and app.scenario.name != "lesson"


async def test_an_export_that_cannot_write_says_where_and_keeps_running(tmp_path, monkeypatch):
    def refused(folder, name, text):
        raise PermissionError(13, "Permission denied", str(folder / f".{name}.tmp"))

    monkeypatch.setattr(app_module, "write_atomically", refused)
    monkeypatch.chdir(tmp_path)
    app = create_app(scenario_file(tmp_path, ENDLESS), show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.frame is not None and app.frame.step > 0)
        await pilot.press("e")
        await wait_until(pilot, lambda: any("could not export" in t for t in toasts(app)))
        [toast] = [t for t in toasts(app) if "could not export" in t]
        assert str(tmp_path) in toast and "Permission denied" in toast
        step = app.frame.step
        await wait_until(pilot, lambda: app.frame.step > step)
        assert app.return_code is None and list(tmp_path.glob("nnsim-*")) == []


async def test_a_network_too_big_ends_the_dashboard_with_status_2(tmp_path):
    path = scenario_file(tmp_path, 'title = "t"\n[data]\nkind = "digits"\n[model]\nlayers = [20000, 20000]\n')
    app = create_app(path, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2 and app.exit_line.startswith(f"{path}: model.layers: this run needs")


async def test_a_crash_in_training_makes_the_exit_status_non_zero(tmp_path, monkeypatch):
    from nnsim.core.driver import ScriptedRun

    def broken(self, *args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(ScriptedRun, "advance", broken)
    app = create_app(scenario_file(tmp_path, LESSON), show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.failure)
        assert "ZeroDivisionError: a bug" in str(app.query_one(StatusLine).render())
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1


async def test_shift_r_resets_the_settings_too(tmp_path):
    app = create_app(scenario_file(tmp_path, ENDLESS), show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.frame is not None and app.frame.step > 0)
        await pilot.press("space")
        await wait_until(pilot, lambda: state(app) == "paused")
        raised = 8 * app.scenario.variants[0].config.train.lr
        await pilot.press("plus", "plus", "plus", "o", "d")
        await wait_until(pilot, lambda: app.frame.configs[0].model.dropout > 0)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.frame.step == 0)
        assert app.frame.configs[0].train.lr == raised      # r keeps the settings
        await pilot.press("n", "n")
        await wait_until(pilot, lambda: app.frame.step == 2)
        await pilot.press("R")
        expected = [v.config for v in app.scenario.variants]
        await wait_until(pilot, lambda: app.frame.step == 0 and list(app.frame.configs) == expected)


# --- a real terminal: signals and the first compile ----------------------------------------

RESTORED = (b"\x1b[?1049l", b"\x1b[?25h")       # left the alternate screen, cursor shown
TO_THE_END = b"\x00never sent"                   # read_until: everything until the process ends


def dashboard_in_a_terminal(path: str, env: dict | None = None,
                            size: tuple[int, int] = (80, 24)) -> tuple[subprocess.Popen, int]:
    leader, follower = pty.openpty()
    columns, rows = size
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "nnsim", path], stdin=follower, stdout=follower,
                            stderr=follower, env={**os.environ, "TERM": "xterm-256color", **(env or {})},
                            start_new_session=True, preexec_fn=interruptible)
    os.close(follower)
    return proc, leader


def read_until(leader: int, proc: subprocess.Popen, wanted: bytes, timeout: float) -> bytes:
    """What the terminal received until ``wanted`` appeared (or the process ended)."""
    seen, deadline = b"", time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                seen += os.read(leader, 65536)
            except OSError:             # the process closed the terminal
                break
        elif proc.poll() is not None:
            break
    return seen


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
async def test_a_signal_restores_the_terminal(tmp_path, signum):
    proc, leader = dashboard_in_a_terminal(scenario_file(tmp_path, ENDLESS))
    try:
        assert b"step" in read_until(leader, proc, b"step", PATIENCE)
        proc.send_signal(signum)
        rest = read_until(leader, proc, TO_THE_END, PATIENCE)
        proc.wait(timeout=PATIENCE)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    assert all(sequence in rest for sequence in RESTORED)
    assert proc.returncode == 128 + signum


async def test_the_dashboard_ends_when_its_terminal_is_gone(tmp_path):
    """An SSH session that drops closes the terminal and sends SIGHUP: nnsim ends with 128 + 1,
    rather than linger on a terminal nobody reads. (tests/test_tui_e2e.py kills a whole tmux
    server while the controls panel is being built.)"""
    proc, leader = dashboard_in_a_terminal(scenario_file(tmp_path, ENDLESS), size=(160, 48))
    try:
        assert b"step" in read_until(leader, proc, b"step", PATIENCE)
        os.close(leader)
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=PATIENCE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGHUP


async def test_quitting_during_the_first_compile_does_not_wait_for_it(tmp_path):
    """`q` while the kernels compile (20 s of CPU and more) ends nnsim at once: the training
    kernel is never finished, so nothing of it reaches the cache (judged by what was done, not
    by a clock a loaded machine would make flaky)."""
    cache = tmp_path / "empty-cache"
    env = {"NUMBA_CACHE_DIR": str(cache)}     # nothing cached: it compiles
    proc, leader = dashboard_in_a_terminal(scenario_file(tmp_path, ENDLESS), env)
    try:
        assert b"starting" in read_until(leader, proc, b"starting", PATIENCE)
        os.write(leader, b"q")
        rest = read_until(leader, proc, TO_THE_END, PATIENCE)
        proc.wait(timeout=PATIENCE)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    assert RESTORED[0] in rest and proc.returncode == 0
    assert not list(cache.rglob("*train_chunk*")), "it waited for the training kernel to compile"


async def test_export_after_the_working_folder_is_deleted_says_so(tmp_path, monkeypatch):
    lesson = scenario_file(tmp_path, ENDLESS)
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    app = create_app(lesson, show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.frame is not None and app.frame.step > 0)
        await pilot.press("e")
        await wait_until(pilot, lambda: any("working folder is gone" in t for t in toasts(app)))
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WriteScreen))
        assert app.return_code is None


async def test_a_file_name_too_long_to_write_is_one_line_in_the_dialog(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = create_app(scenario_file(tmp_path, ENDLESS), show_speed=False)
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.frame is not None and app.frame.step > 0)
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WriteScreen))
        app.screen.query_one("#write-path").value = str(tmp_path / ("x" * 300 + ".toml"))
        await pilot.press("enter")
        note = lambda: str(app.screen.query_one("#write-note").render())
        await wait_until(pilot, lambda: "cannot write" in note())
        assert "too long" in note().lower() and app.return_code is None

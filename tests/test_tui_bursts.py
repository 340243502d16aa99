"""Keys that arrive in one burst, as from a paste, a slow SSH link or a browser's queue, mixed
with resizes: the dashboard, its palette and its controls answer them or ignore them, and never
crash. A pilot's ``press`` waits for each key to be handled, which hides these races, so keys
are posted here as the terminal driver posts them: all at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from textual import events

from conftest import ENDLESS
from nnsim.tui.app import create_app
from nnsim.tui.commands import CommandPalette
from nnsim.tui.controls import ControlsPanel
from pilot import scenario_file, wait_until

CHARACTERS = {"enter": "\r", "escape": "\x1b", "tab": "\t", "space": " "}
KEYS = ("ctrl+p", "pagedown", "pageup", "enter", "escape", "tab", "down", "up", "c", "p",
        "space", "w", "?", "1", "6", "right", "plus", "x")
SIZES = ((80, 24), (160, 48), (60, 16), (150, 40), (20, 6))

FEW = settings(max_examples=12, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

bursts = st.lists(st.one_of(st.lists(st.sampled_from(KEYS), min_size=1, max_size=6),
                            st.sampled_from(SIZES)), min_size=1, max_size=6)


def post_keys(app, keys: list[str]) -> None:
    """Every key at once, as the driver posts what it read from the terminal."""
    for key in keys:
        character = CHARACTERS.get(key, key if len(key) == 1 else None)
        app.post_message(events.Key(key, character))


@contextlib.contextmanager
def in_a_scratch_folder():
    """`w` then enter writes into the working folder: let it be a throwaway one."""
    before = os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(before)


async def play(steps) -> None:
    with in_a_scratch_folder() as folder:
        app = create_app(scenario_file(folder, ENDLESS), show_speed=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: app.frame is not None, "a first frame")
            for step in steps:
                if isinstance(step, tuple):
                    await pilot.resize_terminal(*step)
                else:
                    post_keys(app, step)
                await pilot.pause()
            await pilot.pause(0.2)
            assert app.return_code is None, "the dashboard ended"
        # run_test re-raises what crashed the app on leaving the block


@FEW
@given(bursts)
def test_bursts_of_keys_and_resizes_crash_nothing(steps):
    asyncio.run(play(steps))


@pytest.mark.slow
@MANY
@given(bursts)
def test_many_bursts_of_keys_and_resizes_crash_nothing(steps):
    asyncio.run(play(steps))


@pytest.mark.parametrize("burst", [["ctrl+p", "enter", "enter"], ["ctrl+p", "pagedown"],
                                   ["ctrl+p", "pageup", "pagedown", "enter", "enter"]])
async def test_the_palette_takes_a_burst(tmp_path, burst):
    """Found by hand: a second enter before the palette had gone closed the dashboard under it
    (ScreenStackError); PageDown before its list was laid out raised KeyError."""
    app = create_app(scenario_file(tmp_path, ENDLESS), show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.frame is not None, "a first frame")
        post_keys(app, burst)
        await pilot.pause(0.3)
        assert app.screen is app.dashboard or isinstance(app.screen, CommandPalette)


def test_typing_that_reaches_a_closed_palette_is_ignored():
    """Found by the slow sweep in CI: letters typed just before escape reached the palette after
    it had closed and started a search whose list was gone (NoMatches in a worker)."""
    asyncio.run(play([["ctrl+p"], ["ctrl+p", "escape", "ctrl+p"], (80, 24),
                      ["plus", "space", "escape", "ctrl+p", "plus", "space"]]))


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_keys_typed_after_quitting_are_ignored(tmp_path, size):
    """Found in tmux: `q` then `c` in one burst opened the controls in a closing app, which
    crashed it on the way out (MountError; exit status 1 after a clean quit)."""
    app = create_app(scenario_file(tmp_path, ENDLESS), show_speed=False)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: app.frame is not None, "a first frame")
        post_keys(app, ["q", "c", "c", "c"])
        await wait_until(None, lambda: app.return_code is not None, "the dashboard to quit")
    assert app.return_code == 0


async def test_the_controls_survive_resizes_while_they_open_and_close(tmp_path):
    """Found in tmux: `c` and resizes while the layer rows were being built raised NoMatches."""
    app = create_app(scenario_file(tmp_path, ENDLESS), show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.frame is not None, "a first frame")
        for size in ((160, 48), (80, 24), (150, 40), (60, 16)):
            post_keys(app, ["c"])
            await pilot.resize_terminal(*size)
            post_keys(app, ["c", "c"])
        layers = len(app.frame.configs[0].model.layers)
        await pilot.pause()
        await wait_until(pilot, lambda: all(len(panel._width_labels) == layers
                                            for panel in app.screen.query(ControlsPanel)))


async def test_enter_then_escape_in_one_burst_closes_the_write_dialog_once(tmp_path, monkeypatch):
    """Found by the burst sweep: w, a key typed, enter (write and close) with ? and escape
    right behind closed the dashboard under the dialog (ScreenStackError)."""
    monkeypatch.chdir(tmp_path)
    app = create_app(scenario_file(tmp_path, ENDLESS), show_speed=False)
    async with app.run_test(size=(60, 16)) as pilot:
        await wait_until(pilot, lambda: app.frame is not None, "a first frame")
        post_keys(app, ["w", "plus", "enter", "?", "escape"])
        await pilot.pause(0.5)
        assert app.return_code is None

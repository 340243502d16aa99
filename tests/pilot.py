"""Helpers for the dashboard's pilot tests (``App.run_test``): waiting for a condition, the
lesson file a test writes, and driving the controls panel. Not a test module: test modules
import from here (and from ``conftest``), never from one another.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rich.console import Console

from conftest import PATIENCE
from nnsim.tui.controls import Choice, ControlsPanel


def scenario_file(tmp_path: Path, text: str, name: str = "lesson") -> str:
    """Write ``text`` as ``<name>.toml`` in ``tmp_path``; its path."""
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


async def wait_until(pilot, condition, what: str = "the dashboard to get there",
                     timeout: float = PATIENCE) -> None:
    """Let the app run until ``condition()`` holds (polling, never a fixed sleep); ``pilot``
    None: an app that is quitting, whose pilot can no longer pause it."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout:.0f} s waiting for {what}"
        await (asyncio.sleep(0.02) if pilot is None else pilot.pause(0.02))


def settled(app):
    """A condition: the runs are paused or ended, and every visible pane shows the last frame."""
    return lambda: (app.frame is not None and app.frame.state not in ("starting", "running")
                    and app.up_to_date)


def state(app) -> str:
    return app.frame.state


def shown_text(widget) -> str:
    """The characters a widget's picture puts on screen, at the widget's size."""
    console = Console(width=widget.content_region.width, height=widget.content_region.height,
                      color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(widget.picture, height=widget.content_region.height)
    return capture.get()


# --- the controls panel (`c`) ---------------------------------------------------------------

def panel(app) -> ControlsPanel:
    return app.screen.query_one(ControlsPanel)


async def open_controls(pilot) -> ControlsPanel:
    """Press `c` and wait until the panel's widgets are there and show the run's settings."""
    await pilot.press("c")
    await wait_until(pilot, lambda: bool(pilot.app.screen.query(ControlsPanel))
                     and panel(pilot.app)._shown is not None
                     and bool(panel(pilot.app).query("#layer-rows PressButton")),
                     "the controls to show the run's settings")
    return panel(pilot.app)


async def press_on(pilot, widget, *keys: str) -> None:
    widget.focus()
    await pilot.pause()
    await pilot.press(*keys)


async def choose(pilot, choice: Choice, *keys: str) -> None:
    """Open ``choice``'s menu, move in it with ``keys``, and take the option reached."""
    await press_on(pilot, choice, "enter")
    await wait_until(pilot, lambda: choice.expanded, "the menu to open")
    await pilot.press(*keys, "enter")

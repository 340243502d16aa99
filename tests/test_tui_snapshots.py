"""SVG snapshots of the dashboard after a fixed number of steps on a fixed seed.

`stop_at` pauses every run at the same step and `show_speed=False` hides the only
timing-dependent number, so the screen is the same on every machine. Update the stored
images with `pytest tests/test_tui_snapshots.py --snapshot-update` after a deliberate change.
"""

from __future__ import annotations

import re

import pytest
from textual.app import App

from nnsim.tui.app import create_app
from conftest import ENDLESS      # the pilot tests' two-variant lesson, long enough to pause
from pilot import wait_until

STEPS = 100
# One cell's run of colour or text in Rich's SVG: a background <rect>, or a <text> span.
_RECT = re.compile(r'<rect fill="([^"]+)" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                   r'height="([\d.]+)" shape-rendering="crispEdges"/>')
_TEXT = re.compile(r'<text class="([^"]+)" x="([\d.]+)" y="([\d.]+)" textLength="([\d.]+)" '
                   r'clip-path="([^"]+)">(.*?)</text>')


def _merged(svg: str, pattern: re.Pattern, key, width: int, make) -> str:
    """Neighbouring elements that look the same (same key, the second starting where the first
    ends) as one."""
    out, last, end = [], None, 0
    for match in pattern.finditer(svg):
        between = svg[end:match.start()]
        groups = list(match.groups())
        if (last is not None and not between.strip() and key(last) == key(groups)
                and abs(float(last[1]) + float(last[width]) - float(groups[1])) < 0.05):
            last[width] = f"{float(last[width]) + float(groups[width]):g}"
            if len(groups) > 5:
                last[5] += groups[5]
        else:
            if last is not None:
                out.append(make(last))
            out.append(between)
            last = groups
        end = match.end()
    if last is not None:
        out.append(make(last))
    out.append(svg[end:])
    return "".join(out)


def seen(svg: str) -> str:
    """Rich's SVG as what it shows: Textual splits a run of one colour in two where the styles
    differ only in what is not drawn (a widget's mouse metadata), and which runs it splits
    varies between runs of the same test: merged, the same screen gives the same SVG."""
    svg = _merged(svg, _RECT, lambda g: (g[0], g[2], g[4]), 3, lambda g: (
        f'<rect fill="{g[0]}" x="{g[1]}" y="{g[2]}" width="{g[3]}" height="{g[4]}" '
        f'shape-rendering="crispEdges"/>'))
    return _merged(svg, _TEXT, lambda g: (g[0], g[2], g[4]), 3, lambda g: (
        f'<text class="{g[0]}" x="{g[1]}" y="{g[2]}" textLength="{g[3]}" clip-path="{g[4]}">'
        f'{g[5]}</text>'))


@pytest.fixture(autouse=True)
def screenshots_as_seen(monkeypatch):
    export = App.export_screenshot
    monkeypatch.setattr(App, "export_screenshot", lambda self, *a, **k: seen(export(self, *a, **k)))


def app_after_fixed_steps(tmp_path):
    path = tmp_path / "snapshot.toml"
    path.write_text(ENDLESS)
    return create_app(str(path), seed=7, stop_at=STEPS, show_speed=False, chunk_steps=10)


async def paused_at_stop(pilot) -> None:
    app = pilot.app
    settled = False
    while not settled:          # up to date, and still so once pending layout (a narration bar
        await wait_until(       # appearing) is done
            pilot, lambda: app.frame is not None and app.frame.state == "paused" and app.up_to_date,
            "the runs to reach the fixed step")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.1)
        settled = app.up_to_date


def test_main_screen_80x24(snap_compare, tmp_path):
    assert snap_compare(app_after_fixed_steps(tmp_path), terminal_size=(80, 24), run_before=paused_at_stop)


def test_main_screen_160x48(snap_compare, tmp_path):
    assert snap_compare(app_after_fixed_steps(tmp_path), terminal_size=(160, 48), run_before=paused_at_stop)


def step_through_at_phase(phase: int):
    """Run-before for the step-through of learning-loop's step 5, walked to ``phase`` (0-3)."""
    async def run_before(pilot) -> None:
        await paused_at_stop(pilot)
        await pilot.press("p")
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "trace", None) is not None,
                         "the step-through's trace")
        for _ in range(phase):
            await pilot.press("right")
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("phase", range(4), ids=["forward", "loss", "backpropagation", "update"])
def test_step_through_80x24(snap_compare, phase):
    app = create_app("learning-loop", seed=0, stop_at=5, show_speed=False, chunk_steps=1)
    assert snap_compare(app, terminal_size=(80, 24), run_before=step_through_at_phase(phase))


def network_pane(pilot_keys: tuple[str, ...]):
    """Run-before: the fixed screen, then the network pane chosen and its cursor moved."""
    async def run_before(pilot) -> None:
        await paused_at_stop(pilot)
        for key in pilot_keys:
            await pilot.press(key)
        await paused_at_stop(pilot)
    return run_before


def test_network_pane_80x24(snap_compare, tmp_path):
    assert snap_compare(app_after_fixed_steps(tmp_path), terminal_size=(80, 24),
                        run_before=network_pane(("6", "right", "down")))


def test_network_pane_160x48(snap_compare, tmp_path):
    assert snap_compare(app_after_fixed_steps(tmp_path), terminal_size=(160, 48),
                        run_before=network_pane(("6", "down", "down")))


def test_landscape_pane_80x24(snap_compare, tmp_path):
    assert snap_compare(app_after_fixed_steps(tmp_path), terminal_size=(80, 24),
                        run_before=network_pane(("7",)))


async def controls_after_a_change(pilot) -> None:
    """The controls open (`c`), after adding a hidden layer: a new run at step 0, the old one faded."""
    from nnsim.tui.controls import ControlsPanel

    await paused_at_stop(pilot)
    app = pilot.app
    await pilot.press("c")
    await wait_until(pilot, lambda: (app.screen.query(ControlsPanel)
                                     and app.screen.query_one(ControlsPanel)._shown is not None
                                     and len(app.screen.query("#layer-rows PressButton")) == 4),
                     "the controls to show the settings")
    button = app.screen.query_one("#layer-add")
    button.focus()
    await pilot.press("enter")
    await wait_until(pilot, lambda: (app.frame.past and app.frame.step == 0
                                     and len(app.screen.query("#layer-rows PressButton")) == 6),
                     "the change to start a new run")
    await paused_at_stop(pilot)
    app.clear_notifications()   # "now this is your experiment": shown for seconds, however loaded
    await paused_at_stop(pilot)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["modal-80x24", "beside-160x48"])
def test_controls(snap_compare, tmp_path, size):
    assert snap_compare(app_after_fixed_steps(tmp_path), terminal_size=size, run_before=controls_after_a_change)

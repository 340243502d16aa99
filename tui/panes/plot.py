"""Plot helpers: a ``PlotextPlot`` that survives plotext's failures, series thinned to what a
plot can show, and axis ticks that never collide.

plotext raises on some degenerate inputs (a log axis with no positive point, a single x
value in some versions); a dashboard that trains for hours should draw a note and go on.
"""

from __future__ import annotations

import math

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.text import Text
from textual.widget import Widget
from textual_plotext import PlotextPlot

from .. import colors


class Picture:
    """A Rich renderable drawn by ``_segments``; ``ramp`` is the stepped colour ramp of a
    terminal without true colour (``colors.ramp_for``), set as it draws."""

    ramp: tuple | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        self.ramp = colors.ramp_for(console.color_system)
        return self._segments(options)

    def _segments(self, options: ConsoleOptions) -> list[Segment]:
        raise NotImplementedError


class PictureView(Widget):
    """A widget that shows one ``Picture``, or nothing until a pane gives it one."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.picture: Picture | None = None

    def render(self):
        return self.picture if self.picture is not None else ""


class Plot(PlotextPlot):
    def on_resize(self) -> None:
        """Its ticks were chosen for its height: the pane draws it again at the new one."""
        for ancestor in self.ancestors:
            if hasattr(ancestor, "resized"):
                ancestor.resized()
                return

    def render(self):
        try:
            return super().render()
        except Exception as err:     # noqa: BLE001 - any plotext failure is drawn, not raised
            return Text(f"(cannot draw this plot: {type(err).__name__})", style="dim italic")


def thin(x: np.ndarray, *ys: np.ndarray, most: int) -> tuple[np.ndarray, ...]:
    """At most ``most`` evenly spaced points of a series (the last always kept): a plot
    ``w`` columns wide shows 2w braille dots across, and every extra point costs time."""
    if len(x) <= most:
        return (x, *ys)
    keep = np.unique(np.linspace(0, len(x) - 1, most).round().astype(int))
    return (x[keep], *(y[keep] for y in ys))


def step_ticks(last_step: float, width: int, label_width: int = 8) -> tuple[list[float], list[str]]:
    """Round step numbers (1, 2 or 5 times a power of ten) for an x axis ``width`` columns wide,
    spaced so their labels never overlap (plotext drops overlapping labels unpredictably)."""
    most = max(2, width // (label_width + 2))
    if last_step <= 0:
        return [0.0], ["0"]
    raw = last_step / most
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    spacing = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    ticks = [float(t) for t in range(0, int(last_step) + 1, int(spacing))]
    return ticks, [_step_label(t) for t in ticks]


def _step_label(step: float) -> str:
    if step < 100_000:
        return f"{int(step):,}"
    return f"{step / 1000:g}k" if step < 10_000_000 else f"{step / 1e6:g}M"


def value_axis(plt, lo: float, hi: float, height: int, log: bool = False) -> None:
    """Fix the y range to [lo, hi] with a few round labels; with ``log`` the plotted values
    are already log10 and the labels show powers of ten. (plotext's own log axis fails
    without positive data and reads its limits in other units than its ticks.)"""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.04 * (hi - lo)
    floor = 0.0 if not log and lo >= 0 else -math.inf     # no padding below zero for losses
    lo, hi = max(floor, lo - pad), hi + pad
    n = max(2, min(6, height // 3))
    ticks = np.linspace(lo, hi, n)
    plt.ylim(lo, hi)
    plt.yticks(ticks.tolist(), tick_labels(10 ** ticks if log else ticks, 2 if log else 3))


def tick_labels(values: np.ndarray, digits: int) -> list[str]:
    """``values`` to ``digits`` significant digits, or more where that is what tells them
    apart (a loss between 0.6962 and 0.6971 must not read 0.697 on every tick)."""
    for more in range(digits, digits + 5):
        labels = [f"{v:.{more}g}" for v in values]
        if len(set(labels)) == len(labels):
            return labels
    return labels

"""Gradients: each layer's gradient norm now (bars) and over time (lines), both on a log scale.

A log axis keeps a vanishing 1e-6 and a healthy 1e-1 readable side by side; layers below
``VANISHING`` or above ``EXPLODING`` are named under the plots.
"""

from __future__ import annotations

import math

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from .. import colors
from ..frame import Frame
from .base import Pane, View
from .plot import Plot, step_ticks, thin, value_axis

VANISHING = 1e-5
EXPLODING = 1e1
LOG_FLOOR = -9          # bars start at 1e-9
LOG_CEILING = 3         # and end at 1e+3


def layer_names(n_layers: int) -> list[str]:
    """``h1 … hN`` for the hidden layers, ``out`` for the output layer."""
    return [f"h{i + 1}" for i in range(n_layers - 1)] + ["out"]


def log_ticks(plot_width: int) -> tuple[list[float], list[str]]:
    """Decades to label on the bars' axis: as many as fit without overlapping (plotext drops
    overlapping labels in an order that changes from run to run)."""
    span = LOG_CEILING - LOG_FLOOR
    step = 3 if plot_width >= 36 else 6 if plot_width >= 16 else span
    positions = list(range(0, span + 1, step))
    return positions, [f"1e{p + LOG_FLOOR}" for p in positions]


class GradientsPane(Pane):
    """Per-layer gradient L2 norms of the selected variant."""

    ID, TITLE = "gradients", "Gradients"
    HELP = "each layer's gradient norm, now and over time, on a log scale"

    def compose(self) -> ComposeResult:
        with Horizontal(id="grad-plots"):
            yield Plot(id="grad-bars")
            yield Plot(id="grad-history")
        yield Static(id="grad-alerts", classes="legend")

    def fingerprint(self, frame: Frame, view: View):
        return self.checks(frame, view)

    def show(self, frame: Frame, view: View) -> None:
        index = self.selected(frame, view)
        snap = frame.snapshots[index]
        norms = np.asarray(snap.grad_norms, dtype=float)
        names = layer_names(len(norms))
        self.border_subtitle = Text(frame.labels[index] if len(frame.snapshots) > 1 else "")   # not markup
        self._draw_bars(norms, names)
        self._draw_history(snap.history, names)
        self._write_alerts(norms, names, snap.step)

    def _draw_bars(self, norms: np.ndarray, names: list[str]) -> None:
        plot = self.query_one("#grad-bars", Plot)
        plt = plot.plt
        plt.clear_figure()
        plt.title("now (log)")
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log10(norms)
        lengths = [min(LOG_CEILING, max(LOG_FLOOR, v)) - LOG_FLOOR if math.isfinite(v)
                   else (LOG_CEILING - LOG_FLOOR if v > 0 else 0.0) for v in logs]
        # One bar per call so each layer keeps its colour; output layer on top.
        for i, length in enumerate(lengths):
            plt.bar([i], [length], orientation="h", color=colors.layer_color(i, len(names)), width=0.6)
        plt.yticks(list(range(len(names))), names)
        plt.xlim(0, LOG_CEILING - LOG_FLOOR)
        plt.xticks(*log_ticks(plot.size.width))
        plot.refresh()

    def _draw_history(self, history, names: list[str]) -> None:
        plot = self.query_one("#grad-history", Plot)
        plt = plot.plt
        plt.clear_figure()
        plt.title("over steps (log)")
        steps = np.asarray(history.step, dtype=float)
        plt.xticks(*step_ticks(steps[-1] if len(steps) else 0, plot.size.width))
        grad_norms = np.asarray(history.grad_norms, dtype=float)
        plotted = []
        if len(steps) and grad_norms.ndim == 2:
            for layer in range(grad_norms.shape[1]):
                values = grad_norms[:, layer]
                keep = np.isfinite(values) & (values > 0)
                if keep.any():
                    xs, ys = thin(steps[keep], np.log10(values[keep]), most=2 * max(plot.size.width, 10))
                    plt.plot(xs.tolist(), ys.tolist(), marker="braille",
                             color=colors.layer_color(layer, len(names)))
                    plotted.append(ys)
        if plotted:
            value_axis(plt, min(float(ys.min()) for ys in plotted),
                       max(float(ys.max()) for ys in plotted), plot.size.height, log=True)
        plot.refresh()

    def _write_alerts(self, norms: np.ndarray, names: list[str], step: int) -> None:
        text = Text()
        vanishing = [n for n, v in zip(names, norms) if math.isfinite(v) and v < VANISHING]
        exploding = [n for n, v in zip(names, norms) if not math.isfinite(v) or v > EXPLODING]
        for i, (name, value) in enumerate(zip(names, norms)):
            if i:
                text.append(" ")
            text.append(name, style=colors.hex_color(colors.layer_color(i, len(names))))
            text.append(f" {value:.1e}", style="dim")
        if vanishing:
            text.append(f"\nvanishing (< {VANISHING:.0e}): {' '.join(vanishing)}", style="bold yellow")
        if exploding:
            text.append(f"\nexploding (> {EXPLODING:.0e}): {' '.join(exploding)}", style="bold red")
        self.query_one("#grad-alerts", Static).update(text)

"""Loss: train and validation loss of every variant over the steps, with the divergence marked."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from .. import colors
from ..frame import Frame
from .base import Pane, View
from .plot import Plot, step_ticks, thin, value_axis

SMOOTHING = 0.6     # exponential moving average weight, as TensorBoard's default
MAX_SCORE_ROWS = 3  # runs named in the legend with their numbers; with more, the selected one


def _score(snap, color) -> Text:
    """The numbers a learner looks for, each beside its line's colour: validation loss (bright),
    training loss (dim) and, for classification, validation accuracy."""
    text = Text()
    for name, value, line in (("val", snap.val_loss, color), ("train", snap.train_loss, colors.dim(color))):
        text.append(" ━━ ", style=colors.hex_color(line))
        text.append(f"{name} ", style="dim")
        text.append(f"{value:.3g}", style="bold")
    if np.isfinite(snap.val_acc):
        text.append("  val acc ", style="dim")
        text.append(f"{snap.val_acc:.1%}", style="bold")
    return text


def smooth(values: np.ndarray, weight: float = SMOOTHING) -> np.ndarray:
    """Exponential moving average that skips non-finite points instead of spreading them."""
    out = np.empty_like(values)
    last = None
    for i, v in enumerate(values):
        if np.isfinite(v):
            last = v if last is None else weight * last + (1 - weight) * v
        out[i] = last if last is not None else v
    return out


class LossPane(Pane):
    """Every variant's curves overlaid: bright validation, dim train; a red line where one diverged."""

    ID, TITLE = "loss", "Loss"
    HELP = "train (dim) and validation (bright) loss of every variant; a red line where one diverged"

    def compose(self) -> ComposeResult:
        yield Static(id="loss-legend", classes="legend")
        yield Plot(id="loss-plot")

    def fingerprint(self, frame: Frame, view: View):
        return self.checks(frame, view)

    def show(self, frame: Frame, view: View) -> None:
        plot = self.query_one("#loss-plot", Plot)
        plt = plot.plt
        plt.clear_figure()
        plt.xticks(*step_ticks(frame.step, plot.size.width))
        legend = Text()
        many = len(frame.snapshots) > MAX_SCORE_ROWS   # then only the selected run is named
        series = []                 # (xs, ys, color, diverged)
        for i, snap in enumerate(frame.snapshots):
            color = colors.variant_color(i)
            history = snap.history
            steps = np.asarray(history.step, dtype=float)
            # A step taken by hand is measured at once (Run.peek): its point goes on the end.
            peeked = len(steps) and snap.measured_step > steps[-1]
            if peeked:
                steps = np.append(steps, snap.measured_step)
            for values, latest, series_color in ((history.train_loss, snap.train_loss, colors.dim(color)),
                                                 (history.val_loss, snap.val_loss, color)):
                values = np.asarray(values, dtype=float)
                if peeked:
                    values = np.append(values, latest)
                if view.smooth:
                    values = smooth(values)
                keep = np.isfinite(values) & ((values > 0) if view.log_scale else True)
                if keep.any():
                    xs, ys = thin(steps[keep], values[keep], most=2 * max(plot.size.width, 10))
                    series.append((xs, np.log10(ys) if view.log_scale else ys, series_color, snap.diverged))
            if snap.diverged and snap.diverged_step is not None:
                plt.vline(snap.diverged_step, colors.DIVERGED)
            if many and i != self.selected(frame, view):
                continue
            if legend:
                legend.append("\n")
            if len(frame.snapshots) > 1:
                legend.append(frame.labels[i] + " ", style=colors.hex_color(color))
            legend.append_text(_score(snap, color))
            if snap.diverged:
                legend.append(f" diverged@{snap.diverged_step}", style="bold " + colors.hex_color(colors.DIVERGED))
            elif snap.state != "running" and len(frame.snapshots) > 1:
                legend.append(f" {snap.state}", style="dim")
        if many:
            legend.append(f"\n(and {len(frame.snapshots) - 1} more runs; v shows the next)", style="dim")
        if series:
            # A diverged run's blow-up would flatten every other curve: fit the axis to the
            # others and let it run off the top (clipped just past the edge, as plotext
            # draws a line point by point and a line to 1e30 would never end).
            low = min(float(ys.min()) for _, ys, _, _ in series)
            healthy = [ys for _, ys, _, diverged in series if not diverged] or [ys for _, ys, _, _ in series]
            high = max(float(ys.max()) for ys in healthy)
            margin = max(high - low, 1e-12)
            for xs, ys, series_color, _ in series:
                ys = np.clip(ys, low - margin, high + margin)
                plt.plot(xs.tolist(), ys.tolist(), color=series_color, marker="braille")
            value_axis(plt, low, high, plot.size.height, log=view.log_scale)
        self.query_one("#loss-legend", Static).update(legend)
        self.border_subtitle = " · ".join(
            part for part in ("log" if view.log_scale else "linear",
                              "smoothed" if view.smooth else "") if part)
        plot.refresh()

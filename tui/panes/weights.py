"""Weights: one layer's weight histogram now, its outline at step 0, and a heat strip over time.

The strip is TensorBoard's histogram view turned into colour: one row per moment (newest at
the bottom), one column per bin, brighter where more weights sit. Snapshots bin each layer
over fixed edges, so columns line up across time; the worker keeps the moments
(``worker.WeightTimeline``), as it sees every snapshot and the screen may skip some.
"""

from __future__ import annotations

import numpy as np
from rich.console import ConsoleOptions
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget

from .. import colors
from ..frame import Frame
from .base import Pane, View
from .gradients import layer_names
from .halfblock import half_blocks
from .plot import Picture, Plot

class HeatStrip(Picture):
    """Rich renderable: ``rows`` (time, oldest first) x bins, two time rows per character."""

    def __init__(self, rows: list[np.ndarray], color: colors.RGB):
        self.rows = rows
        self.color = color

    def _segments(self, options: ConsoleOptions) -> list[Segment]:
        width = options.max_width
        height = options.height or 4
        rows = self.rows[-2 * height:]
        grid = np.zeros((2 * height, width))                      # (time, columns), 0..1
        if rows:
            counts = np.asarray(rows, dtype=float)                # (time, bins)
            columns = (np.arange(width) * counts.shape[1]) // width
            peak = np.log1p(counts.max()) or 1.0
            grid[-len(rows):] = np.log1p(counts[:, columns]) / peak
        background, color = np.array(colors.BACKGROUND, float), np.array(self.color, float)
        rgb = background + (color - background) * grid[..., None]
        return half_blocks(rgb.round())


class WeightStrip(Widget):
    """Holds the heat strip of the selected layer."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.strip = HeatStrip([], colors.VARIANT[0])

    def render(self):
        return self.strip


class WeightsPane(Pane):
    """Histogram of the selected layer of the selected variant (`[` / `]` change the layer)."""

    ID, TITLE = "weights", "Weights"
    HELP = "the selected layer's weight histogram, its step-0 outline, and a strip over time"

    def compose(self) -> ComposeResult:
        yield Plot(id="weights-plot")
        yield WeightStrip(id="weights-strip")

    def show(self, frame: Frame, view: View) -> None:
        variant = self.selected(frame, view)
        snap = frame.snapshots[variant]
        hist = np.asarray(snap.weight_hist, dtype=float)
        edges = np.asarray(snap.weight_hist_edges, dtype=float)
        layer = view.layer % len(hist)
        names = layer_names(len(hist))
        color = colors.layer_color(layer, len(names))

        plot = self.query_one("#weights-plot", Plot)
        plt = plot.plt
        plt.clear_figure()
        # Bars at bin indices (plotext would print float x values as category labels).
        bins = list(range(hist.shape[1]))
        plt.bar(bins, hist[layer].tolist(), color=color, width=1.0, marker="sd")
        timeline = frame.weight_timelines[variant]
        if timeline.steps and timeline.steps[0] == 0:
            plt.plot(bins, timeline.hists[0][layer].tolist(), color=colors.INITIAL, marker="braille")
        tick_bins = np.linspace(0, hist.shape[1] - 1, 5).round().astype(int)
        centers = (edges[layer][:-1] + edges[layer][1:]) / 2
        plt.xticks(tick_bins.tolist(), [f"{centers[b]:.2g}" for b in tick_bins])
        plot.refresh()

        strip = self.query_one(WeightStrip)
        strip.strip = HeatStrip([h[layer] for h in timeline.hists], color)
        strip.refresh()
        who = f"{frame.labels[variant]} · " if len(frame.snapshots) > 1 else ""
        self.border_subtitle = Text(   # a label from the scenario: not markup
            f"{who}layer {names[layer]} ({layer + 1}/{len(names)}) · grey: step 0 · [ ] layer")

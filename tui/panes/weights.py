"""Weights: one layer's weight histogram now, its outline at step 0, and a heat strip over time.

The strip is TensorBoard's histogram view turned into colour: one row per moment (newest at
the bottom), one column per bin, brighter where more weights sit. Snapshots bin each layer
over fixed edges, so columns line up across time.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget

from .. import colors
from ..worker import Progress
from . import View
from .plot import Plot
from .gradients import layer_names

STRIP_ROWS = 64         # moments kept per layer (two per character row)


class Timeline:
    """At most ``STRIP_ROWS`` evenly spaced moments of one variant: when full, every other one
    goes and the spacing doubles, so a run of any length fits in constant memory."""

    def __init__(self, spacing: int = 10):
        self.spacing = spacing
        self.steps: list[int] = []
        self.hists: list[np.ndarray] = []       # each (n_layers, n_bins)

    def add(self, step: int, hist: np.ndarray) -> None:
        if self.steps and step < self.steps[-1] + self.spacing:
            return
        self.steps.append(step)
        self.hists.append(hist)
        if len(self.steps) > STRIP_ROWS:
            self.steps, self.hists = self.steps[::2], self.hists[::2]
            self.spacing *= 2

    def layer(self, layer: int) -> list[np.ndarray]:
        return [h[layer] for h in self.hists]


class HeatStrip:
    """Rich renderable: ``rows`` (time, oldest first) x bins, two time rows per character."""

    def __init__(self, rows: list[np.ndarray], color: colors.RGB):
        self.rows = rows
        self.color = color

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        height = options.height or 4
        rows = self.rows[-2 * height:]
        grid = np.zeros((2 * height, width))
        if rows:
            counts = np.asarray(rows, dtype=float)                # (time, bins)
            columns = (np.arange(width) * counts.shape[1]) // width
            peak = np.log1p(counts.max()) or 1.0
            grid[-len(rows):] = np.log1p(counts[:, columns]) / peak
        for top, bottom in zip(grid[0::2], grid[1::2]):
            for a, b in zip(top, bottom):
                yield Segment("▀", Style(color=self._shade(a), bgcolor=self._shade(b)))
            yield Segment.line()

    def _shade(self, t: float) -> str:
        return colors.hex_color(colors.mix(colors.BACKGROUND, self.color, float(t)))


class WeightStrip(Widget):
    """Holds the heat strip of the selected layer."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.strip = HeatStrip([], colors.VARIANT[0])

    def render(self):
        return self.strip


class WeightsPane(Vertical):
    """Histogram of the selected layer of the selected variant (`[` / `]` change the layer)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._initial: dict[int, np.ndarray] = {}         # variant -> step 0's histograms
        self._timelines: dict[int, Timeline] = {}

    def compose(self) -> ComposeResult:
        yield Plot(id="weights-plot")
        yield WeightStrip(id="weights-strip")

    def on_mount(self) -> None:
        self.border_title = "Weights"

    def clear(self) -> None:
        self._initial.clear()
        self._timelines.clear()

    def record(self, progress: Progress) -> None:
        """Keep step 0's histograms and a bounded timeline of every variant (called per bundle)."""
        for v, snap in enumerate(progress.snapshots):
            timeline = self._timelines.get(v)
            if timeline is None or (timeline.steps and snap.step < timeline.steps[-1]):   # new or reset
                timeline = self._timelines[v] = Timeline()
            if snap.step == 0:
                self._initial[v] = np.asarray(snap.weight_hist)
            timeline.add(snap.step, np.asarray(snap.weight_hist))

    def show(self, progress: Progress, view: View) -> None:
        variant = min(view.variant, len(progress.snapshots) - 1)
        snap = progress.snapshots[variant]
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
        initial = self._initial.get(variant)
        if initial is not None and layer < len(initial):
            plt.plot(bins, initial[layer].tolist(), color=colors.INITIAL, marker="braille")
        tick_bins = np.linspace(0, hist.shape[1] - 1, 5).round().astype(int)
        centers = (edges[layer][:-1] + edges[layer][1:]) / 2
        plt.xticks(tick_bins.tolist(), [f"{centers[b]:.2g}" for b in tick_bins])
        plot.refresh()

        strip = self.query_one(WeightStrip)
        timeline = self._timelines.get(variant)
        strip.strip = HeatStrip(timeline.layer(layer) if timeline else [], color)
        strip.refresh()
        who = f"{progress.labels[variant]} · " if len(progress.snapshots) > 1 else ""
        self.border_subtitle = f"{who}layer {names[layer]} ({layer + 1}/{len(names)}) · grey: step 0 · [ ] layer"

"""Weights: one layer's weight histogram now, over its histogram at step 0, and a heat strip over time.

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

from .. import colors
from ..frame import Frame
from .base import Caption, Pane, View
from ...core.layers import layer_names
from .halfblock import half_blocks
from .plot import Picture, PictureView, Plot

OVERFLOW_MARK = "▒"         # hatches the end bins, which count the weights beyond them too


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


class WeightsPane(Pane):
    """Histogram of the selected layer of the selected variant (`[` / `]` change the layer).

    The snapshot's end bins also hold every weight beyond them (the run clips into them), so
    they are hatched and labelled ``<x`` / ``≥x`` rather than passing for ordinary bins. The
    step-0 histogram is drawn first, in grey, and the bars over it: grey shows only where
    weights have left, and a bar that has not moved (all-zero weights) stays a bar.
    """

    ID, TITLE = "weights", "Weights"
    HELP = ("the selected layer's weight histogram in front of its step-0 one (grey), the end bins "
            "holding every weight beyond them, and a strip over time")

    def compose(self) -> ComposeResult:
        yield Plot(id="weights-plot")
        yield Caption(id="weights-legend", classes="legend")
        yield PictureView(id="weights-strip")

    def fingerprint(self, frame: Frame, view: View):
        """The counts drawn: most steps move no weight out of its bin."""
        variant = self.selected(frame, view)
        pictures = frame.pictures[variant]
        layer = view.layer % len(pictures.weight_hist)
        return (view, variant, frame.labels, pictures.weight_hist[layer].tobytes(),
                pictures.weight_hist_edges[layer].tobytes(), frame.weight_timelines[variant].steps)

    def show(self, frame: Frame, view: View) -> None:
        variant = self.selected(frame, view)
        pictures = frame.pictures[variant]
        hist = np.asarray(pictures.weight_hist, dtype=float)
        edges = np.asarray(pictures.weight_hist_edges, dtype=float)
        layer = view.layer % len(hist)
        names = layer_names(len(hist))
        color = colors.layer_color(layer, len(names))
        timeline = frame.weight_timelines[variant]
        initial = timeline.hists[0][layer] if timeline.steps and timeline.steps[0] == 0 else None
        self._draw_histogram(hist[layer], edges[layer], initial, color)

        strip = self.query_one("#weights-strip", PictureView)
        strip.picture = HeatStrip([h[layer] for h in timeline.hists], color)
        strip.refresh()
        self.query_one("#weights-legend", Caption).show_text(self._legend(color, initial is not None))
        who = f"{frame.labels[variant]} · " if len(frame.snapshots) > 1 else ""
        self.set_subtitle(f"{who}{names[layer]} ({layer + 1} of {len(names)} layers) · [ ]")

    def _draw_histogram(self, counts: np.ndarray, edges: np.ndarray, initial: np.ndarray | None,
                        color: colors.RGB) -> None:
        plot = self.query_one("#weights-plot", Plot)
        plt = plot.plt
        plt.clear_figure()
        # Bars at bin indices (plotext would print float x values as category labels).
        # plotext makes a bar as wide as its call's x spacing and blanks the bottom row of
        # every zero-height bar, so the end bins get a call of their own, one bin wide.
        n = len(counts)
        if initial is not None:
            plt.bar(list(range(n)), initial.tolist(), color=colors.INITIAL, width=1.0, marker="sd")
        plt.bar(list(range(1, n - 1)), counts[1:-1].tolist(), color=color, width=1.0, marker="sd")
        plt.bar([0, n - 1], [counts[0], counts[-1]], color=color, width=1 / (n - 1), marker=OVERFLOW_MARK)
        # Counts are whole: from 0.5 up, every bar with a weight shows and plotext's empty bars
        # (which blank the bottom row of their neighbours) fall below the plot.
        top = max(counts.max(), initial.max() if initial is not None else 0.0, 1.0)
        plt.ylim(0.5, 1.05 * top)
        counts_ticks = np.unique(np.linspace(1, top, max(2, min(5, plot.size.height // 3))).round())
        plt.yticks(counts_ticks.tolist(), [f"{int(c)}" for c in counts_ticks])
        # The end bins by what they hold, the quarters between at their edges (0 in the middle).
        quarters = [round(n * k / 4) for k in (1, 2, 3)]
        ticks = [0.0] + [q - 0.5 for q in quarters] + [n - 1.0]
        labels = ([f"<{edges[1]:.2g}"] + [f"{round(float(edges[q]), 6) + 0.0:.2g}" for q in quarters]
                  + [f"≥{edges[-2]:.2g}"])
        plt.xticks(ticks, labels)
        plt.xlim(-0.5, n - 0.5)
        plot.refresh()

    @staticmethod
    def _legend(color: colors.RGB, with_initial: bool) -> Text:
        text = Text()
        text.append(OVERFLOW_MARK, style=colors.hex_color(color))
        text.append(" ends: all beyond", style="dim")
        if with_initial:
            text.append("  █", style=colors.hex_color(colors.INITIAL))
            text.append(" step 0 (behind)", style="dim")
        return text

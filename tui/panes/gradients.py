"""Gradients: each layer's gradient norm now (bars) and over time (lines), both on a log scale.

A log axis keeps a vanishing 1e-6 and a healthy 1e-1 readable side by side; both axes are
fitted to the decades the run actually has, so a 2x difference between layers shows. The bars
are drawn here rather than by plotext, so that every layer gets a row (two to a row, in half
blocks, when a deep net does not fit) and none is dropped depending on the window's size.
Layers are named as every view names them (``core.model.layer_names``): h1, h2, …, out.
"""

from __future__ import annotations

import math

import numpy as np
from rich.console import ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal

from ...core.gradient_health import gradient_health
from ...core.layers import layer_names
from .. import colors
from ..frame import Frame
from .base import Caption, Pane, View
from .plot import Picture, PictureView, Plot, step_ticks, thin, value_axis

NOT_MEASURED = "not measured yet"


def fitted_range(norms: np.ndarray) -> tuple[float, float]:
    """The log10 range of the bars' axis: from the 1-2-5 step just below the smallest positive,
    finite norm to the one at or above the largest, so the shortest bar still shows and a 2x
    difference between layers takes a good part of the width."""
    positive = norms[np.isfinite(norms) & (norms > 0)]
    if not positive.size:
        return -1.0, 0.0
    low, high = math.log10(positive.min()), math.log10(positive.max())
    steps = _one_two_five(math.floor(low) - 1, math.ceil(high) + 1)
    return max(s for s in steps if s < low - 1e-9), min(s for s in steps if s >= high - 1e-9)


def _one_two_five(first_decade: int, last_decade: int) -> list[float]:
    """log10 of 1, 2 and 5 times each power of ten from 10^first_decade to 10^last_decade."""
    return [d + math.log10(m) for d in range(first_decade, last_decade + 1) for m in (1, 2, 5)]


def _tick_label(log_value: float) -> str:
    mantissa, exponent = f"{10 ** log_value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def zero_weights(weight_hist: np.ndarray, edges: np.ndarray) -> bool:
    """Every weight of a layer in the one bin that holds 0: all zero, or as good as."""
    zero_bin = min(int(np.searchsorted(edges, 0.0, side="right")) - 1, len(weight_hist) - 1)
    return weight_hist.sum() > 0 and weight_hist[zero_bin] == weight_hist.sum()


class GradientBars(Picture):
    """One bar per layer on a log axis from 10^low to 10^high (``axis``), first layer on top.

    When the layers outnumber the rows, each row holds two layers (``▀``: the upper layer in the
    top half, the lower one in the bottom half); when even that does not fit, the last row
    names the layers left out.
    """

    def __init__(self, norms: np.ndarray, names: list[str], axis: tuple[float, float]):
        self.norms = norms
        self.names = names
        self.low, self.high = axis

    def _segments(self, options: ConsoleOptions) -> list[Segment]:
        width, height = options.max_width, options.height or len(self.names) + 2
        n = len(self.names)
        rows = max(1, height - 2)                   # a title row above, the axis below
        paired = n > rows
        labels = (self._pair_labels(rows) if paired else
                  [f"{name:>3}" for name in self.names])
        # (none but the "not shown" note when the pane is a row or two high, as while resizing)
        label_width = max((len(label) for label in labels if not label.startswith("…")), default=0)
        # Numbers beside the bars when there is room for both; the bars come first.
        with_values = not paired and width - label_width - 1 - 8 >= 12
        bar_width = max(4, width - label_width - 1 - (8 if with_values else 0))
        lines = [[Segment("norm now, log".center(label_width + 1 + bar_width), Style(dim=True))]]
        for row, label in enumerate(labels):
            if label.startswith("…"):
                lines.append([Segment(label[:width], Style(dim=True))])
                continue
            line = [Segment(f"{label:>{label_width}} ", Style(dim=True))]
            if paired:
                line += self._pair_bar(2 * row, bar_width)
            else:
                line += self._bar(row, bar_width)
                if with_values:
                    line.append(Segment(f" {self._value(row):>7}", Style(dim=True)))
            lines.append(line)
        lines.append([Segment(" " * (label_width + 1)), Segment(self._axis(bar_width), Style(dim=True))])
        segments: list[Segment] = []
        for line in lines:
            segments += line + [Segment.line()]
        return segments

    def _pair_labels(self, rows: int) -> list[str]:
        n = len(self.names)
        shown = n if n <= 2 * rows else 2 * (rows - 1)
        labels = ["/".join(self.names[i:i + 2]) for i in range(0, shown, 2)]
        if shown < n:
            labels.append(f"… {self.names[shown]}–{self.names[-1]} not shown: a taller window shows them")
        return labels

    def _length(self, layer: int, bar_width: int) -> int:
        """Columns of a layer's bar: 0 when not measured or zero, the full width when infinite."""
        value = self.norms[layer]
        if math.isnan(value) or value <= 0:
            return 0
        if math.isinf(value):
            return bar_width
        t = (math.log10(value) - self.low) / (self.high - self.low)
        return max(1, min(bar_width, round(t * bar_width)))

    def _color(self, layer: int) -> Style:
        return Style(color=colors.hex_color(colors.layer_color(layer, len(self.names))))

    def _bar(self, layer: int, bar_width: int) -> list[Segment]:
        length = self._length(layer, bar_width)
        return [Segment("█" * length, self._color(layer)), Segment(" " * (bar_width - length))]

    def _pair_bar(self, top: int, bar_width: int) -> list[Segment]:
        """Two layers' bars in one row of half blocks."""
        n = len(self.names)
        upper, lower = self._length(top, bar_width), self._length(top + 1, bar_width) if top + 1 < n else 0
        top_color = colors.hex_color(colors.layer_color(top, n))
        bottom_color = colors.hex_color(colors.layer_color(min(top + 1, n - 1), n))
        both, longest = min(upper, lower), max(upper, lower)
        segments = [Segment("▀" * both, Style(color=top_color, bgcolor=bottom_color))]
        if upper > lower:
            segments.append(Segment("▀" * (longest - both), Style(color=top_color)))
        else:
            segments.append(Segment("▄" * (longest - both), Style(color=bottom_color)))
        segments.append(Segment(" " * (bar_width - longest)))
        return segments

    def _value(self, layer: int) -> str:
        value = self.norms[layer]
        if math.isnan(value):
            return "—"
        return "0" if value == 0 else f"{value:.1e}"

    def _axis(self, bar_width: int) -> str:
        """Labels under the bars (decades on a wide range, 1-2-5 steps on a narrow one): both
        ends first, then those between that fit without touching."""
        axis = [" "] * bar_width
        if not np.any(np.isfinite(self.norms) & (self.norms > 0)):
            return "".join(axis)            # nothing on the axis: no scale to read
        taken = [False] * (bar_width + 1)
        span = self.high - self.low
        ticks = [t for t in _one_two_five(math.floor(self.low), math.ceil(self.high))
                 if self.low - 1e-9 <= t <= self.high + 1e-9 and (span <= 3 or t == round(t))]
        for tick in [self.low, self.high] + ticks:
            label = _tick_label(tick)
            at = min(bar_width - len(label), round((tick - self.low) / span * (bar_width - 1)))
            if at >= 0 and not any(taken[max(0, at - 1):at + len(label) + 1]):
                axis[at:at + len(label)] = label
                taken[at:at + len(label)] = [True] * len(label)
        return "".join(axis)


class GradientsPane(Pane):
    """Per-layer gradient L2 norms of the selected variant."""

    ID, TITLE = "gradients", "Gradients"
    HELP = "each layer's gradient norm, now and over time, on a log scale fitted to the run"

    def compose(self) -> ComposeResult:
        with Horizontal(id="grad-plots"):
            yield PictureView(id="grad-bars")
            yield Plot(id="grad-history")
        yield Caption(id="grad-alerts", classes="legend")

    def fingerprint(self, frame: Frame, view: View):
        return self.checks(frame, view)

    def show(self, frame: Frame, view: View) -> None:
        index = self.selected(frame, view)
        snap = frame.snapshots[index]
        norms = np.asarray(snap.grad_norms, dtype=float)
        names = layer_names(len(norms))
        self.set_subtitle(frame.labels[index] if len(frame.snapshots) > 1 else "")
        history = np.asarray(snap.history.grad_norms, dtype=float)
        bars = self.query_one("#grad-bars", PictureView)
        bars.picture = GradientBars(norms, names, fitted_range(norms))
        bars.refresh()
        self._draw_history(snap.history.step, history, names)
        pictures = frame.pictures[index]
        zero = [zero_weights(np.asarray(h), np.asarray(e))
                for h, e in zip(pictures.weight_hist, pictures.weight_hist_edges)]
        ratios = np.asarray(snap.update_ratios, dtype=float)
        self.query_one("#grad-alerts", Caption).show_text(alerts(norms, ratios, names, zero, snap.diverged))

    def _draw_history(self, steps, grad_norms: np.ndarray, names: list[str]) -> None:
        plot = self.query_one("#grad-history", Plot)
        plt = plot.plt
        plt.clear_figure()
        plt.title("over steps, log")
        steps = np.asarray(steps, dtype=float)
        plt.xticks(*step_ticks(steps[-1] if len(steps) else 0, plot.size.width))
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


def alerts(norms: np.ndarray, update_ratios: np.ndarray, names: list[str], zero_weight: list[bool],
           diverged: bool = False) -> Text:
    """What a beginner should notice about the gradients, with the measure behind each word,
    and how the layers are numbered.

    Vanishing and exploding are judged relative to the network (``core.gradient_health``): a
    converged net's tiny gradients and a raw regression's huge ones are neither. Nothing is
    measured before the first step (the norms are NaN): that is said, never shown as ``nan`` or
    as an alarm. A gradient of exactly zero in a layer whose weights are all zero is the
    symmetry of a zero initialisation (every unit the same, nothing to tell them apart), not a
    gradient that faded on its way down.
    """
    text = Text()
    if np.isnan(norms).all() and not diverged:
        text.append(f"{NOT_MEASURED}: the first step measures each layer's gradient\n", style="dim italic")
    else:
        health = gradient_health(norms, update_ratios, diverged)
        measured = [(name, float(v), all_zero) for name, v, all_zero in zip(names, norms, zero_weight)
                    if not math.isnan(v)]
        symmetric = [name for name, v, all_zero in measured if v == 0 and all_zero]
        zero = [name for name, v, all_zero in measured if v == 0 and not all_zero]
        for words, layers, style in (("zero (symmetric)", symmetric, "bold cyan"),
                                     ("zero", zero, "bold yellow")):
            if layers:
                text.append(f"{words}: {' '.join(layers)}\n", style=style)
        if health.vanishing:
            first = names[health.vanishing[0]]
            text.append(f"vanishing: {' '.join(names[i] for i in health.vanishing)} ({first}'s "
                        f"gradient is {one_in(health.faded_to)} of out's)\n", style="bold yellow")
        if diverged:
            words = " (the norms are not numbers)" if np.isnan(norms).any() else ""
            text.append(f"exploding: the run diverged{words}\n", style="bold red")
        elif health.exploding:
            worst = names[health.exploding[int(np.argmax(update_ratios[list(health.exploding)]))]]
            text.append(f"exploding: {' '.join(names[i] for i in health.exploding)} (a step "
                        f"moved {worst}'s weights by {health.largest_update:.0%} of their size)\n",
                        style="bold red")
    return text


def one_in(fraction: float) -> str:
    """A small fraction as a beginner reads it: 1.7e-05 as "1/59,000"."""
    denominator = 1.0 / fraction if fraction > 0 else math.inf
    if not math.isfinite(denominator):
        return "none"
    digits = max(0, int(math.floor(math.log10(denominator))) - 1)
    return f"1/{round(denominator, -digits):,.0f}"

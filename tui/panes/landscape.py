"""The valley: the training loss over a plane of weight space through the selected run's weights,
each run's path on it, and the loss along the step the run takes next.

The numbers are the worker's (``core.landscape``, measured only while this pane is on screen,
``Frame.valley``); this pane draws them. The map is half blocks (as the decision boundary):
dark where the loss is low, light where it is high, on a log scale; each run's path a line in
its colour, ● where it is now. Beside it, the loss along the next step: from the weights before
it (0) to three steps' length, the step landing at 1; a rate too high lands past the lowest
point of that line, too low stops short of it.
"""

from __future__ import annotations

import numpy as np
from rich.console import ConsoleOptions
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container

from .. import colors
from ..frame import Frame
from .base import Caption, Pane, View
from .halfblock import half_blocks
from .plot import Picture, PictureView, Plot, value_axis

MAX_GRID = 32               # grid points a side at most: each is a pass over the training split
NOW_MARK = "●"              # where a run's weights are now
START_MARK = "○"            # where the runs started
LOW, MIDDLE, HIGH = (16, 40, 72), (44, 140, 128), (236, 214, 140)     # the map: low to high loss
NEAR_BOTTOM = 0.05          # landed within this share of the drop the line offered (from its
                            # start to its lowest loss): at the bottom, wherever the (flat)
                            # bottom's exact lowest point is


def loss_colors(losses: np.ndarray) -> np.ndarray:
    """RGB (rows, cols, 3) of a grid of losses on a log scale, low dark to high light; a loss
    that is not finite in the diverged colour."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.asarray(losses, float))
    finite = np.isfinite(logs)
    lo, hi = (logs[finite].min(), logs[finite].max()) if finite.any() else (0.0, 1.0)
    t = np.clip((np.where(finite, logs, hi) - lo) / ((hi - lo) or 1.0), 0.0, 1.0)[..., None]
    low, middle, high = (np.array(c, float) for c in (LOW, MIDDLE, HIGH))
    rgb = np.where(t < 0.5, low + (middle - low) * (2 * t), middle + (high - middle) * (2 * t - 1))
    rgb[~finite] = colors.dim(colors.DIVERGED)
    return rgb


def line_pixels(row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of straight segments joining consecutive points (row[i], col[i]), every
    segment at once: one pixel per step along its longer axis."""
    if len(row) < 2:
        return row, col
    r0, c0, dr, dc = row[:-1], col[:-1], np.diff(row), np.diff(col)
    lengths = np.maximum(np.abs(dr), np.abs(dc)) + 1                     # pixels per segment
    segment = np.repeat(np.arange(len(lengths)), lengths)
    along = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    share = along / np.maximum(lengths - 1, 1)[segment]
    return ((r0[segment] + dr[segment] * share).round().astype(int),
            (c0[segment] + dc[segment] * share).round().astype(int))


class LandscapePicture(Picture):
    """The map of one ``Landscape`` with the paths, filling the space it is given."""

    def __init__(self, landscape, selected: str, names: tuple[str, ...]):
        self.landscape = landscape
        self.selected = selected
        self.names = names

    def _segments(self, options: ConsoleOptions) -> list[Segment]:
        land = self.landscape
        cols = max(2, options.max_width)
        pixel_rows = 2 * max(1, options.height or cols // 4)
        rows_src, cols_src = land.losses.shape
        # Screen row 0 is the top (the largest b); grid row 0 is the smallest.
        yi = ((np.arange(pixel_rows)[::-1] + 0.5) * rows_src / pixel_rows).astype(int)
        xi = ((np.arange(cols) + 0.5) * cols_src / cols).astype(int)
        rgb = loss_colors(land.losses[np.ix_(yi, xi)])
        marks = {}
        paths = sorted(land.paths, key=lambda path: path.name == self.selected)   # selected on top
        for path in paths:
            color = colors.variant_color(self.names.index(path.name)) if path.name in self.names \
                else colors.NEUTRAL
            row, col = self._pixels(path.coordinates, pixel_rows, cols)
            rr, cc = line_pixels(row, col)
            inside = (rr >= 0) & (rr < pixel_rows) & (cc >= 0) & (cc < cols)
            rgb[rr[inside], cc[inside]] = color
            if len(row) and 0 <= row[0] < pixel_rows and 0 <= col[0] < cols:
                marks[(int(row[0]) // 2, int(col[0]))] = (START_MARK, colors.NEUTRAL)
            if len(row) and 0 <= row[-1] < pixel_rows and 0 <= col[-1] < cols:
                marks[(int(row[-1]) // 2, int(col[-1]))] = (NOW_MARK, color)
        return half_blocks(rgb, marks=marks)

    def _pixels(self, coordinates: np.ndarray, pixel_rows: int, cols: int):
        """Pixel row and column of each finite (a, b) (outside the map: off the picture)."""
        land = self.landscape
        coordinates = coordinates[np.isfinite(coordinates).all(axis=1)]
        a0, a1 = land.alphas[0], land.alphas[-1]
        b0, b1 = land.betas[0], land.betas[-1]
        # Clipped a pixel beyond the edges: a point far off the map is drawn towards it.
        col = np.clip(np.floor((coordinates[:, 0] - a0) / ((a1 - a0) or 1.0) * cols),
                      -1, cols).astype(int)
        row = np.clip(np.floor((b1 - coordinates[:, 1]) / ((b1 - b0) or 1.0) * pixel_rows),
                      -1, pixel_rows).astype(int)
        return np.minimum(row, pixel_rows - 1), np.minimum(col, cols - 1)


class LandscapeView(PictureView):
    """Shows a ``LandscapePicture`` (or nothing yet)."""


def plane_words(land) -> str:
    """What the map is, said on the pane (``nnsim landscape`` says it the same way)."""
    if land.plane.kind == "pca":
        return (f"slice through {land.n_params:,} dimensions · PCA of the paths: "
                f"{land.plane.explained:.0%} of their variance")
    return f"slice through {land.n_params:,} dimensions · two random directions (no path yet)"


def line_words(line) -> str:
    """Where the step landed against the lowest point along it (short: the plot's title)."""
    losses = np.asarray(line.losses, float)
    finite = losses[np.isfinite(losses)]
    if not finite.size:
        return "leaves the numbers behind"
    # Against the drop from where the step started, not the line's whole rise: a step that
    # jumps across the floor to the same height on the far wall lands nowhere near the bottom,
    # however steeply the line climbs beyond it.
    drop = float(losses[0] - finite.min()) if np.isfinite(losses[0]) else np.inf
    if line.landed - finite.min() <= NEAR_BOTTOM * drop:
        return "lands at the bottom"
    return "overshoots" if line.lowest < 1.0 else "stops short"


SPARKS = "▁▂▃▄▅▆▇█"


def slope_text(line) -> Text:
    """The loss along a step as a line of text (the step-through's update): a spark per value
    of t, ▲ under t = 1, where the step landed."""
    losses = np.asarray(line.losses, float)
    finite = np.isfinite(losses)
    text = Text("Along this step, on the training set (0 → 3 steps' length):")
    if not finite.any():
        return text
    lo, hi = losses[finite].min(), losses[finite].max()
    levels = np.clip((np.where(finite, losses, hi) - lo) / ((hi - lo) or 1.0), 0, 1)
    sparks = "".join(SPARKS[int(round(v * (len(SPARKS) - 1)))] for v in levels)
    landed = int(np.argmin(np.abs(np.asarray(line.t) - 1.0)))
    text.append(f"\n  {sparks}  loss {losses[0]:.4g} → {line.landed:.4g}: {line_words(line)}")
    text.append("\n  " + " " * landed + "▲ landed", style="dim")
    return text


class LandscapePane(Pane):
    """The selected run's valley (see the module docstring)."""

    DEFAULT_CSS = """
    #landscape-row { height: 1fr; layout: horizontal; }
    #landscape-view { width: 1fr; height: 1fr; }
    #landscape-line { width: 1fr; height: 1fr; margin-left: 1; }
    #landscape-note { height: auto; }
    Screen.-wide.-tall #landscape-row { layout: vertical; }
    Screen.-wide.-tall #landscape-view { width: 1fr; height: 3fr; }
    Screen.-wide.-tall #landscape-line { width: 1fr; height: 2fr; }
    """

    SCOPED_CSS = False      # the wide screen's rules start at the Screen

    ID, TITLE, TAB = "landscape", "Loss landscape", "Valley"
    HELP = ("the training loss over a 2-D slice of weight space through the selected run's "
            "weights, the runs' paths on it (● now), and the loss along its next step (1: where "
            "it lands)")

    def compose(self) -> ComposeResult:
        with Container(id="landscape-row"):
            yield LandscapeView(id="landscape-view")
            yield Plot(id="landscape-line")
        yield Caption(id="landscape-note", classes="legend")

    def grid_shape(self) -> tuple[int, int] | None:
        """The grid the map needs at its size: a point per pixel, at most ``MAX_GRID`` a side
        (None before the pane has its widgets)."""
        views = self.query(LandscapeView)
        if not views:
            return None
        size = views.first().size
        return (min(MAX_GRID, max(4, 2 * size.height)), min(MAX_GRID, max(4, size.width)))

    def measured(self, frame: Frame) -> bool:
        """The frame's valley is measured on the grid the map needs at its size now."""
        valley = frame.valley
        return valley is not None and valley.shape == self.grid_shape()

    def fingerprint(self, frame: Frame, view: View):
        return (view.variant, id(frame.valley), frame.labels)

    def show(self, frame: Frame, view: View) -> None:
        map_view = self.query_one(LandscapeView)
        plot = self.query_one("#landscape-line", Plot)
        note = self.query_one("#landscape-note", Caption)
        selected = self.selected(frame, view)
        self.set_subtitle(frame.labels[selected] if len(frame.snapshots) > 1 else "")
        valley = frame.valley
        if valley is None or valley.landscape is None:
            map_view.picture = None
            plot.plt.clear_figure()
            plot.refresh()
            reason = valley.reason if valley is not None else "measuring the landscape…"
            note.show_text(Text(reason, style="dim italic"))
            map_view.refresh()
            return
        land = valley.landscape
        map_view.picture = LandscapePicture(land, frame.names[selected], frame.names)
        map_view.refresh()
        self._draw_line(plot, valley.line, colors.variant_color(selected))
        note.show_text(self._legend(frame, land, valley.line))

    @staticmethod
    def _draw_line(plot: Plot, line, color) -> None:
        plt = plot.plt
        plt.clear_figure()
        losses = np.asarray(line.losses, float)
        finite = np.isfinite(losses)
        if finite.any():
            plt.plot(line.t[finite].tolist(), losses[finite].tolist(), color=color,
                     marker="braille")
            plt.vline(1.0, colors.NEUTRAL)
            plt.scatter([line.lowest], [float(np.min(losses[finite]))], color=colors.CLASS[4],
                        marker="●")
            value_axis(plt, float(losses[finite].min()), float(losses[finite].max()),
                       plot.size.height)
        plt.xticks([0, 1, 2, 3], ["0", "1 step", "2", "3"])
        plot.refresh()

    @staticmethod
    def _legend(frame: Frame, land, line) -> Text:
        text = Text(plane_words(land), style="dim")
        text.append("\n")
        for path in land.paths:
            known = path.name in frame.names
            index = frame.names.index(path.name) if known else 0
            text.append(f"{NOW_MARK} ", style=colors.hex_color(colors.variant_color(index)))
            # the label the other panes and the status line give the run, not its inner name
            text.append(f"{frame.labels[index] if known else path.name} ")
        finite = land.losses[np.isfinite(land.losses)]
        if finite.size:
            text.append(f"· loss {finite.min():.3g} ", style="dim")
            text.append("■", style=colors.hex_color(LOW))
            text.append("…", style="dim")
            text.append("■", style=colors.hex_color(HIGH))
            text.append(f" {finite.max():.3g} · step {land.step}", style="dim")
        if land.examples < land.train_rows:
            text.append(f" · on {land.examples:,} of {land.train_rows:,} training examples",
                        style="dim")
        if line is not None:
            text.append(f"\nright: the loss along the next step (lr {line.learning_rate:.3g}), "
                        f"which {line_words(line)}")
        return text

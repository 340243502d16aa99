"""Network: the network as TensorFlow Playground draws it, a column of units per layer.

For 2-D data every unit is a thumbnail of its output over the input plane, refreshed as it
trains: the first hidden layer learns lines, later layers combine them into curves. Between
the columns, braille links show each weight: blue positive, orange negative (dashed, so the
sign reads without colour too), bright and thick when large, faint when small. The arrow keys
move a cursor from unit to unit (the pane has focus once its tab or number key is chosen);
the lines under the diagram give that unit's incoming weights, bias, the mean |gradient| of
its weights and how often it outputs 0 on the training points (a dead ReLU: always, marked
✕ in the diagram). Everything comes from the frame's ``UnitMaps``, never from the run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from rich.console import ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from .. import colors
from ..frame import Frame
from .base import Pane, View
from .boundary import cell_colors
from .plot import Picture, PictureView

MAX_THUMB_ROWS = 5      # a thumbnail is 2h x 2h pixels: h rows of 2h characters
MIN_GAP = 3             # characters between columns, where the links run
MAX_GAP = 20
THUMB_FADE = 0.15       # thumbnails pulled this far toward the background (the boundary: more)
FAINTEST_LINK = 0.2     # links weaker than this share of their layer's largest are left out
ENOUGH_UNITS = 6        # a smaller thumbnail is worth it while fewer units than this show
DEAD_MARK = "✕"
POSITIVE, NEGATIVE = colors.CLASS[1], colors.CLASS[0]     # blue and orange, as the heat maps


@dataclass(frozen=True)
class Fit:
    """How the diagram fits its space: thumbnails ``h`` rows of ``2h`` characters, ``gap``
    characters of links between columns, ``shown[c]`` units of column ``c`` from its unit
    ``first[c]`` on (the cursor scrolls a column), and the first ``columns`` columns (inputs,
    hidden layers, output) of the network."""

    h: int
    gap: int
    shown: tuple[int, ...]
    columns: int
    first: tuple[int, ...] = ()

    def start(self, column: int) -> int:
        return self.first[column] if self.first else 0

    def scrolled_to(self, column: int, unit: int, widths: tuple[int, ...],
                    first: tuple[int, ...]) -> Fit:
        """The same fit, each column from ``first`` on (kept within the column) and
        ``column`` scrolled just enough to show ``unit``."""
        starts = []
        for c in range(self.columns):
            start = first[c] if c < len(first) else 0
            if c == column:
                start = min(max(start, unit - self.shown[c] + 1), unit)
            starts.append(min(max(start, 0), widths[c] - self.shown[c]))
        return replace(self, first=tuple(starts))

    @property
    def w(self) -> int:
        return 2 * self.h

    def x(self, column: int) -> int:
        """The thumbnail's first character (one character of margin for the cursor)."""
        return 1 + column * (self.w + self.gap)

    def y(self, unit: int) -> int:
        """The thumbnail's first row (row 0 holds the column titles)."""
        return 1 + unit * (self.h + 1)


def fit(widths: tuple[int, ...], width: int, height: int) -> Fit:
    """The biggest thumbnails that fit ``width`` x ``height`` characters, unless smaller ones
    (down to 2 rows: one row's 2 x 2 pixels show nothing) would show more of the units, up to
    ``ENOUGH_UNITS`` a column; when even those do not fit across, 1-row thumbnails, and then
    the first columns that fit."""
    options = []
    for h in range(MAX_THUMB_ROWS, 0, -1):
        columns = len(widths)
        while columns > 1 and columns * 2 * h + (columns - 1) * MIN_GAP + 2 > width:
            columns -= 1
        gap = MAX_GAP if columns == 1 else min(MAX_GAP, (width - 2 - columns * 2 * h) // (columns - 1))
        # A title row above; "+N" in the row under the last unit shown.
        shown = tuple(min(n, max(1, (height - 1) // (h + 1))) for n in widths[:columns])
        options.append(Fit(h, gap, shown, columns))
    complete = [f for f in options if f.columns == len(widths) and f.h >= 2]
    if not complete:
        return next((f for f in options if f.columns == len(widths)), options[-1])
    wanted = min(max(widths), ENOUGH_UNITS)
    return next((f for f in complete if max(f.shown) >= wanted), complete[-1])


class Canvas:
    """A grid of characters with a foreground and a background colour each, turned into Rich
    segments; runs of one style become one segment."""

    def __init__(self, width: int, height: int):
        self.chars = [[" "] * width for _ in range(height)]
        self.fg: list[list[tuple | None]] = [[None] * width for _ in range(height)]
        self.bg: list[list[tuple | None]] = [[None] * width for _ in range(height)]
        self.bold = [[False] * width for _ in range(height)]
        self.width, self.height = width, height

    def put(self, x: int, y: int, char: str, fg=None, bg=None, bold: bool = False) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.chars[y][x], self.fg[y][x], self.bg[y][x], self.bold[y][x] = char, fg, bg, bold

    def text(self, x: int, y: int, text: str, fg=None, bold: bool = False, limit: int = 0) -> None:
        for i, char in enumerate(text[:limit or len(text)]):
            self.put(x + i, y, char, fg, None, bold)

    def segments(self) -> list[Segment]:
        out: list[Segment] = []
        for y in range(self.height):
            run, style = "", None
            for x in range(self.width):
                key = _style(self.fg[y][x], self.bg[y][x], self.bold[y][x])
                if key is not style and run:
                    out.append(Segment(run, style))
                    run = ""
                style = key
                run += self.chars[y][x]
            out.append(Segment(run, style))
            out.append(Segment.line())
        return out


_STYLES: dict[tuple, Style] = {}


def _style(fg, bg, bold: bool) -> Style:
    key = (fg, bg, bold)
    style = _STYLES.get(key)
    if style is None:
        if len(_STYLES) > 4096:
            _STYLES.clear()
        style = _STYLES[key] = Style(color=colors.hex_color(fg) if fg else None,
                                     bgcolor=colors.hex_color(bg) if bg else None, bold=bold)
    return style


# Braille dots: the bit of dot (dx, dy) of a character of 2 x 4 dots.
_DOT_BITS = np.array([[0x01, 0x02, 0x04, 0x40],
                      [0x08, 0x10, 0x20, 0x80]])


def unit_rgb(values: np.ndarray, scale: float, ramp=None) -> np.ndarray:
    """RGB of a unit's values on a symmetric scale: orange below 0, white at 0, blue above, as
    the decision boundary's colours (``ramp``: its steps, without true colour)."""
    t = 0.5 + 0.5 * np.clip(np.asarray(values, float) / scale, -1.0, 1.0)
    return cell_colors(t, "binary", (0.0, 1.0), fade=THUMB_FADE, ramp=ramp)


def largest(maps: np.ndarray) -> np.ndarray:
    """The largest finite |value| of each unit's map ``(units, rows, cols)``: each thumbnail
    on its own scale, so a unit with small outputs still shows its shape (its size is in the
    lines under the diagram)."""
    finite = np.where(np.isfinite(maps), np.abs(maps), 0.0)
    return np.maximum(finite.max(axis=(1, 2), initial=0.0), 1e-12)


class NetworkPicture(Picture):
    """The diagram of one ``UnitMaps`` with the cursor on ``cursor`` = (column, unit)."""

    def __init__(self, units, cursor: tuple[int, int], fit_: Fit):
        self.units = units
        self.cursor = cursor
        self.fit = fit_

    def _segments(self, options: ConsoleOptions) -> list[Segment]:
        units, f = self.units, self.fit
        height = max(options.height or 0, f.y(max(f.shown)))
        canvas = Canvas(options.max_width, height)
        for c in range(1, f.columns):
            self._links(canvas, c)
        for c in range(f.columns):
            self._title(canvas, c)
            self._thumbnails(canvas, c)
            hidden = units.widths[c] - f.start(c) - f.shown[c]        # below the window
            if hidden:
                more = f"+{hidden} more"
                canvas.text(f.x(c), f.y(f.shown[c]) - 1,
                            more if len(more) < f.w + f.gap else f"+{hidden}", colors.INITIAL)
        if f.columns < len(units.widths):
            canvas.text(f.x(f.columns - 1) + f.w + 1, 0, f"+{len(units.widths) - f.columns} layers",
                        colors.INITIAL)
        column, unit = self.cursor
        y = f.y(unit - f.start(column)) + f.h // 2
        canvas.put(f.x(column) - 1, y, "▶", colors.NEUTRAL, bold=True)
        canvas.put(f.x(column) + f.w, y, "◀", colors.NEUTRAL, bold=True)
        return canvas.segments()

    def _title(self, canvas: Canvas, c: int) -> None:
        units, f = self.units, self.fit
        last = c == len(units.widths) - 1
        title = "in" if c == 0 else ("out" if last else f"h{c}")
        if f.start(c):
            title += f" ↑{f.start(c)}"          # units scrolled out above
        bold = c == self.cursor[0]
        canvas.text(f.x(c), 0, title, colors.NEUTRAL if bold else colors.INITIAL, bold,
                    limit=f.w + f.gap - 1)

    def _thumbnails(self, canvas: Canvas, c: int) -> None:
        """Column ``c``'s shown units: their maps (top row at x2_max), or for data without a
        plane, plain numbered boxes; dead units marked."""
        units, f = self.units, self.fit
        shown, first = f.shown[c], f.start(c)
        if units.maps:
            maps = units.maps[c][first:first + shown]                       # (units, rows, cols)
            rows, cols = maps.shape[1:]
            yi = ((np.arange(2 * f.h)[::-1] + 0.5) * rows / (2 * f.h)).astype(int)
            xi = ((np.arange(f.w) + 0.5) * cols / f.w).astype(int)
            pixels = unit_rgb(maps[:, yi][:, :, xi], largest(maps)[:, None, None], self.ramp)
            pixels = pixels.round().astype(int).tolist()                    # (units, 2h, w, 3)
            for j in range(shown):
                for r in range(f.h):
                    for k in range(f.w):
                        canvas.put(f.x(c) + k, f.y(j) + r, "▀", tuple(pixels[j][2 * r][k]),
                                   tuple(pixels[j][2 * r + 1][k]))
        else:
            for j in range(shown):
                label = f"{first + j + 1}".center(f.w)
                for r in range(f.h):
                    canvas.text(f.x(c), f.y(j) + r, label if r == f.h // 2 else " " * f.w,
                                colors.NEUTRAL)
                    for k in range(f.w):
                        canvas.bg[f.y(j) + r][f.x(c) + k] = colors.dim(colors.INITIAL, 0.6)
        if c == 0:      # the inputs by name, in the row under each: x1, x2, x1^2, sin(x1)…
            for j in range(shown):
                canvas.text(f.x(c), f.y(j) + f.h, units.feature_names[first + j], colors.NEUTRAL,
                            limit=f.w + f.gap - 1)
        if c > 0:
            for j in np.flatnonzero(units.dead(c - 1)[first:first + shown]):
                canvas.put(f.x(c) + f.w // 2, f.y(j) + f.h // 2, DEAD_MARK, colors.DIVERGED,
                           colors.dim(colors.NEUTRAL, 0.5), bold=True)

    def _links(self, canvas: Canvas, c: int) -> None:
        """Column ``c - 1`` to column ``c``: one braille line per weight, all at once; where
        lines cross, the stronger shows (the cursor's own links above all, the others of its
        column faded)."""
        units, f = self.units, self.fit
        span = f.gap - 2                               # a character clear of each thumbnail
        a, b = f.start(c - 1), f.start(c)
        weights = units.weights[c - 1][a:a + f.shown[c - 1], b:b + f.shown[c]]         # (n_in, n_out)
        if span < 2 or not weights.size:
            return          # one character across would draw every line as the same bar
        scale = float(np.abs(weights[np.isfinite(weights)]).max(initial=0.0)) or 1.0
        source, target = np.nonzero(np.isfinite(weights) & (weights != 0.0))
        w = weights[source, target]                                                     # (L,)
        share = np.abs(w) / scale
        focus_column, focus_unit = self.cursor
        focused = (c == focus_column) & (target == focus_unit - b)
        keep = (share >= FAINTEST_LINK) | focused
        source, target, w, share, focused = (a[keep] for a in (source, target, w, share, focused))
        if not len(w):
            return
        priority = np.empty(len(w), dtype=int)
        priority[np.lexsort((share, focused))] = np.arange(len(w))     # weakest first
        n = 2 * span                                                    # dots across
        start = 4 * (1 + source * (f.h + 1) + f.h // 2) + 1
        end = 4 * (1 + target * (f.h + 1) + f.h // 2) + 1
        t = np.linspace(0.0, 1.0, n + int(np.abs(end - start).max()))  # no gap on steep lines
        px = np.broadcast_to(np.rint(t * (n - 1)).astype(int), (len(w), len(t)))        # (L, S)
        py = np.rint(start[:, None] + (end - start)[:, None] * t).astype(int)          # (L, S)
        thick = share > 0.6
        px = np.concatenate([px, px[thick]])
        py = np.concatenate([py, py[thick] + 1])
        link = np.concatenate([np.arange(len(w)), np.flatnonzero(thick)])
        drawn = ~((w[link, None] < 0) & ((px // 2) % 2 == 1))         # dashed: a negative weight
        rows = py[drawn] // 4
        inside = rows < canvas.height
        cell = (rows * span + px[drawn] // 2)[inside]
        bits = _DOT_BITS[px[drawn] % 2, py[drawn] % 4][inside]
        owner = np.broadcast_to(link[:, None], px.shape)[drawn][inside]
        dots = np.zeros(canvas.height * span, dtype=int)
        np.bitwise_or.at(dots, cell, bits)
        top = np.full(canvas.height * span, -1)
        np.maximum.at(top, cell, priority[owner])
        by_priority = np.argsort(priority)
        for flat in np.flatnonzero(dots):
            k = by_priority[top[flat]]
            fade = 0.0 if focused[k] or share[k] > 0.6 else 0.5
            if c == focus_column and not focused[k]:
                fade = max(fade, 0.75)
            rgb = colors.dim(POSITIVE if w[k] > 0 else NEGATIVE, fade)
            canvas.put(f.x(c - 1) + f.w + 1 + flat % span, flat // span, chr(0x2800 + int(dots[flat])),
                       rgb, bold=bool(thick[k] or focused[k]))


class NetworkView(PictureView):
    """The diagram; with focus, the arrow keys move its cursor from unit to unit."""

    can_focus = True
    BINDINGS = [
        Binding("up", "move(0, -1)", "Unit", show=False, tooltip="The unit above"),
        Binding("down", "move(0, 1)", "Unit", show=False, tooltip="The unit below"),
        Binding("left", "move(-1, 0)", "Layer", show=False, tooltip="The layer before"),
        Binding("right", "move(1, 0)", "Layer", show=False, tooltip="The layer after"),
    ]

    def action_move(self, columns: int, units: int) -> None:
        pane = self.parent
        if isinstance(pane, NetworkPane):
            pane.move(columns, units)


class NetworkPane(Pane):
    """The selected variant's network, unit by unit, and the unit under the cursor."""

    ID, TITLE, TAB = "network", "Network", "Network"
    HELP = ("each unit's output over the input plane, weights as links (blue +, orange − dashed); "
            "arrows: a unit's weights, bias, gradient, dead or alive")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cursor = (1, 0)            # (column: 0 inputs, 1 first hidden layer …, unit)
        self._first: tuple[int, ...] = ()   # each column's first unit shown (the cursor scrolls)
        self._shown: tuple[Frame, View] | None = None

    def compose(self) -> ComposeResult:
        yield NetworkView(id="network-view")
        yield Static(id="network-unit", classes="legend")

    def fingerprint(self, frame: Frame, view: View):
        variant = self.selected(frame, view)
        units = frame.units[variant] if frame.units else None
        return (view, variant, frame.state, None if units is None else units.step,
                frame.snapshots[variant].step)

    def move(self, columns: int, units: int) -> None:
        column, unit = self.cursor
        self.cursor = (column + columns, unit + units)
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, frame: Frame, view: View) -> None:
        self._shown = (frame, view)
        variant = self.selected(frame, view)
        diagram = self.query_one(NetworkView)
        note = self.query_one("#network-unit", Static)
        units = frame.units[variant] if frame.units else None
        if units is None:       # the trainer computes them from the next frame on
            diagram.picture = None
            diagram.refresh()
            note.update(Text("drawing the network…", style="dim italic"))
            return
        size = diagram.content_region
        f = fit(units.widths, max(size.width, 8), max(size.height, 3))
        if not diagram.size.area:
            return          # not laid out yet: drawn once it is (``Pane.on_resize``)
        column = min(max(self.cursor[0], 0), f.columns - 1)
        self.cursor = (column, min(max(self.cursor[1], 0), units.widths[column] - 1))
        f = f.scrolled_to(*self.cursor, units.widths, self._first)
        self._first = f.first
        diagram.picture = NetworkPicture(units, self.cursor, f)
        diagram.refresh()
        note.update(unit_text(units, *self.cursor, width=max(20, note.content_region.width)))
        who = f"{frame.labels[variant]} · " if len(frame.snapshots) > 1 else ""
        dead = sum(int(units.dead(i).sum()) for i in range(len(units.biases) - 1))
        self.border_subtitle = Text(f"{who}step {units.step}" + (f" · {dead} dead" if dead else ""))


def signed(value: float) -> Text:
    """``value`` with its sign spelled out, coloured by it (a diverged one: nan or inf)."""
    if not np.isfinite(value):
        return Text(str(value), style=colors.hex_color(colors.DIVERGED))
    return Text(f"{value:+.2g}".replace("-", "−"), style=colors.hex_color(
        POSITIVE if value >= 0 else NEGATIVE))


def unit_text(units, column: int, unit: int, width: int = 80) -> Text:
    """What the cursor's unit is and does, in a few lines of at most ``width`` characters."""
    if column == 0:
        name = units.feature_names[unit]
        return Text.assemble((f"input {name}", "bold"), f": feature {unit + 1} of "
                             f"{len(units.feature_names)}, normalised on the training split",
                             ("\n←→↑↓ move · blue +, orange − (dashed) · ✕ dead", "dim"))
    layer = column - 1
    last = layer == len(units.biases) - 1
    title = Text(f"{'output' if last else f'h{layer + 1}'} unit {unit + 1}", style="bold")
    title.append(f" ({units.activations[layer]})", style="dim")
    title.append(" · bias ")
    title.append_text(signed(float(units.biases[layer][unit])))
    grad = float(units.grad_mean[layer][unit])
    title.append(" · mean |∂L/∂w| ")
    title.append("not measured yet" if units.step == 0 else f"{grad:.2g}")
    share = float(units.zero_share[layer][unit])
    line = Text()
    if units.dead(layer)[unit]:
        line.append(f"{DEAD_MARK} dead: 0 on every training point", style="bold " +
                    colors.hex_color(colors.DIVERGED))
        line.append(" · ")
    elif share > 0:
        line.append(f"0 on {share:.0%} of training points · ")
    incoming = units.weights[layer][:, unit]
    sources = units.feature_names if layer == 0 else [f"h{layer}.{i + 1}" for i in range(len(incoming))]
    line.append("in: ", style="dim")
    for i, (source, w) in enumerate(zip(sources, incoming)):
        piece = Text(f"{source} ")
        piece.append_text(signed(float(w)))
        if len(line) + len(piece) + 12 > width and i < len(incoming) - 1:
            line.append(f"… {len(incoming) - i} more", style="dim")
            break
        line.append_text(piece)
        line.append("  ")
    return Text("\n").join([title, line])

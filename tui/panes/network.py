"""Network: the network as TensorFlow Playground draws it, a column of units per layer.

For 2-D data every unit is a thumbnail of its output over the input plane, refreshed as it
trains: the first hidden layer learns lines, later layers combine them into curves; the output
unit is drawn as the decision boundary pane draws the model (its plane, its colours, and its
training points once the thumbnail is large enough). Between the columns, braille links show
each weight: blue positive, orange negative (dashed, so the sign reads without colour too),
bright and thick when large, faint when small. Thumbnails are as large as the pane allows
(``network_fit``); a column with more units than places shows the cursor's unit and its
neighbours, dead units, the units most strongly linked to the cursor's, then those that pass
on the most, and counts the rest in its title.

The arrow keys (or a click) move a cursor from unit to unit (the pane has focus once its tab or
number key is chosen); that unit is drawn large beside the diagram when there is room, on its
own scale with a legend, as Playground shows the unit under the pointer, and `u` gives the
zoom the whole pane. The lines under the diagram give the unit's incoming weights, bias, the
mean |gradient| of its weights and how often it outputs 0 on the training points (a dead ReLU:
always, marked ✕). Everything comes from the frame's ``UnitMaps``, never from the run.
"""

from __future__ import annotations

import numpy as np
from rich.console import ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from .. import colors
from ..frame import Frame, PlanePoints
from .base import Caption, Pane, View
from .boundary import TEST_MARK, BoundaryPicture, cell_colors, sample, square_side
from .halfblock import half_blocks
from .network_fit import Fit, Zoom, choose_units, fit, unit_scores, zoom_box
from .plot import Picture, PictureView

THUMB_FADE = 0.15       # thumbnails pulled this far toward the background (the boundary: more)
FAINTEST_LINK = 0.2     # links weaker than this share of their layer's largest are left out
POINTS_FROM_ROWS = 4    # the output's thumbnail shows the training points from this size on
DEAD_MARK = "✕"
POSITIVE, NEGATIVE = colors.CLASS[1], colors.CLASS[0]     # blue and orange, as the heat maps


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


def spread(maps: np.ndarray) -> np.ndarray:
    """How much each unit's output varies over the plane ``(units, rows, cols)``: its standard
    deviation on every fourth row and column (enough to rank units; 0 for a flat or diverged
    map)."""
    coarse = maps[:, ::4, ::4]
    return np.nan_to_num(np.std(np.where(np.isfinite(coarse), coarse, 0.0), axis=(1, 2)))


def output_values(logits: np.ndarray, task: str) -> np.ndarray | None:
    """The output unit's map as the decision boundary draws it: the class-1 probability
    (binary), the predicted value (regression); None for a class's own logit (multiclass),
    drawn as the other units are."""
    if task == "binary":
        with np.errstate(over="ignore"):      # a huge negative logit is simply probability 0
            return 1.0 / (1.0 + np.exp(-logits))
    return logits if task == "regression" else None


class NetworkPicture(Picture):
    """The diagram of one ``UnitMaps`` with the cursor on ``cursor`` = (column, unit); the
    output column drawn as the decision boundary is when ``points`` (the plane's data) are
    given."""

    def __init__(self, units, cursor: tuple[int, int], fit_: Fit, points: PlanePoints | None = None):
        self.units = units
        self.cursor = cursor
        self.fit = fit_
        self.points = points

    def _segments(self, options: ConsoleOptions) -> list[Segment]:
        units, f = self.units, self.fit
        height = max(options.height or 0, f.y(f.places))
        canvas = Canvas(options.max_width, height)
        for c in range(1, f.columns):
            self._links(canvas, c)
        for c in range(f.columns):
            self._title(canvas, c)
            self._thumbnails(canvas, c)
        if f.columns < len(units.widths):
            canvas.text(f.x(f.columns - 1) + f.w + 1, 0, f"+{len(units.widths) - f.columns} layers",
                        colors.INITIAL)
        column, unit = self.cursor
        if column < f.columns and unit in f.units[column]:
            y = f.y(f.units[column].index(unit)) + f.h // 2
            canvas.put(f.x(column) - 1, y, "▶", colors.NEUTRAL, bold=True)
            canvas.put(f.x(column) + f.w, y, "◀", colors.NEUTRAL, bold=True)
        return canvas.segments()

    def _title(self, canvas: Canvas, c: int) -> None:
        """The column's name and, when it leaves units out, how many (and of them how many
        dead), as much as fits: "h1 +12 more, 3✕", "h1 +12 3✕", "h1 +12"."""
        units, f = self.units, self.fit
        name = column_name(c, len(units.widths))
        hidden = units.widths[c] - len(f.units[c])
        sayings = [name]
        if hidden:
            dead = 0
            if c > 0:
                dead = len(set(np.flatnonzero(units.dead(c - 1)).tolist()) - set(f.units[c]))
            sayings = [f"{name} +{hidden} more", f"{name} +{hidden}", name]
            if dead:
                sayings[:1] = [f"{name} +{hidden} more, {dead}{DEAD_MARK}", f"{name} +{hidden} {dead}{DEAD_MARK}"]
        title = next((text for text in sayings if len(text) < f.w + f.gap), sayings[-1])
        bold = c == self.cursor[0]
        canvas.text(f.x(c), 0, name, colors.NEUTRAL if bold else colors.INITIAL, bold)
        canvas.text(f.x(c) + len(name), 0, title[len(name):], colors.INITIAL, limit=f.w + f.gap - 1 - len(name))

    def _thumbnails(self, canvas: Canvas, c: int) -> None:
        """Column ``c``'s shown units: their maps (top row at x2_max), the output's as the
        decision boundary, or for data without a plane, plain numbered boxes; dead units
        marked; each named in the row under it (a hidden unit by its number, when the column
        leaves some out)."""
        units, f = self.units, self.fit
        shown = list(f.units[c])
        if units.maps:
            pixels = self._pixels(c, shown).round().astype(int).tolist()    # (units, 2h, w, 3)
            for j in range(len(shown)):
                for r in range(f.h):
                    for k in range(f.w):
                        canvas.put(f.x(c) + k, f.y(j) + r, "▀", tuple(pixels[j][2 * r][k]),
                                   tuple(pixels[j][2 * r + 1][k]))
        else:
            for j, unit in enumerate(shown):
                label = f"{unit + 1}".center(f.w)
                for r in range(f.h):
                    canvas.text(f.x(c), f.y(j) + r, label if r == f.h // 2 else " " * f.w,
                                colors.NEUTRAL)
                    for k in range(f.w):
                        canvas.bg[f.y(j) + r][f.x(c) + k] = colors.dim(colors.INITIAL, 0.6)
        if c == 0:      # the inputs by name, in the row under each: x1, x2, x1^2, sin(x1)…
            for j, unit in enumerate(shown):
                canvas.text(f.x(c), f.y(j) + f.h, units.feature_names[unit], colors.NEUTRAL,
                            limit=f.w + f.gap - 1)
        elif len(shown) < units.widths[c] and units.maps:
            for j, unit in enumerate(shown):
                canvas.text(f.x(c), f.y(j) + f.h, f"{unit + 1}", colors.INITIAL)
        if c > 0:
            dead = units.dead(c - 1)
            for j, unit in enumerate(shown):
                if dead[unit]:
                    canvas.put(f.x(c) + f.w // 2, f.y(j) + f.h // 2, DEAD_MARK, colors.DIVERGED,
                               colors.dim(colors.NEUTRAL, 0.5), bold=True)

    def _pixels(self, c: int, shown: list[int]) -> np.ndarray:
        """RGB ``(units, 2h, w, 3)`` of column ``c``'s shown units."""
        units, f = self.units, self.fit
        maps = units.maps[c][shown]                                         # (units, rows, cols)
        if c == len(units.widths) - 1 and self.points is not None:
            values = output_values(maps, self.points.task)
            if values is not None:
                return np.stack([
                    BoundaryPicture(v, units.extent, self.points.task, self.points).pixels(
                        2 * f.h, f.w, self.ramp, with_points=f.h >= POINTS_FROM_ROWS)
                    for v in values])
        return unit_rgb(sample(maps, 2 * f.h, f.w), largest(maps)[:, None, None], self.ramp)

    def _links(self, canvas: Canvas, c: int) -> None:
        """Column ``c - 1`` to column ``c``: one braille line per weight, all at once; where
        lines cross, the stronger shows (the cursor's own links above all, the others of its
        column faded)."""
        units, f = self.units, self.fit
        span = f.gap - 2                               # a character clear of each thumbnail
        sources, targets = list(f.units[c - 1]), list(f.units[c])
        weights = units.weights[c - 1][np.ix_(sources, targets)]                      # (n_in, n_out)
        if span < 2 or not weights.size:
            return          # one character across would draw every line as the same bar
        scale = float(np.abs(weights[np.isfinite(weights)]).max(initial=0.0)) or 1.0
        source, target = np.nonzero(np.isfinite(weights) & (weights != 0.0))           # places
        w = weights[source, target]                                                     # (L,)
        share = np.abs(w) / scale
        focus_column, focus_unit = self.cursor
        focus_place = targets.index(focus_unit) if c == focus_column and focus_unit in targets else -1
        focused = target == focus_place
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


class UnitZoom(Picture):
    """One unit's map drawn large and square, on its own symmetric scale (``scale``: the
    largest |value|), as the thumbnails are; a dead unit marked in its centre."""

    def __init__(self, values: np.ndarray, scale: float, dead: bool = False):
        self.values = values
        self.scale = scale
        self.dead = dead

    def _segments(self, options: ConsoleOptions) -> list[Segment]:
        width = options.max_width
        side = square_side(width, options.height or width // 2)
        rgb = unit_rgb(sample(self.values, side - side % 2, side), self.scale, self.ramp)
        marks = {(side // 4, side // 2): (DEAD_MARK, colors.DIVERGED)} if self.dead else None
        return half_blocks(rgb, pad=(width - side) // 2, marks=marks)


def column_name(column: int, columns: int) -> str:
    """"in", "h1", "h2" …, "out"."""
    return "in" if column == 0 else ("out" if column == columns - 1 else f"h{column}")


def zoom_picture(units, column: int, unit: int, points: PlanePoints | None, view: View) -> Picture:
    """The cursor's unit drawn large: the output as the decision boundary pane draws it (its
    plane, colours and points, ``t`` and ``z`` as there), any other unit on its own scale."""
    values = units.maps[column][unit]                                               # (rows, cols)
    if column == len(units.widths) - 1 and points is not None:
        output = output_values(values, points.task)
        if output is not None:
            return BoundaryPicture(output, units.extent, points.task, points, view.show_test,
                                   view.discretize)
    dead = column > 0 and bool(units.dead(column - 1)[unit])
    return UnitZoom(values, float(largest(values[None])[0]), dead)


def zoom_legend(picture: Picture, units, column: int, unit: int, width: int, ramp=None) -> Text:
    """The zoom's two lines: which unit, and its colours (for the output, the decision
    boundary's: its classes or values, and its points, in ``ramp``'s colours for them)."""
    name = column_name(column, len(units.widths))
    if isinstance(picture, BoundaryPicture):
        title = Text(name, style="bold")
        title.append(" P(class 1)" if picture.task == "binary" else " value", style="dim")
        scale = Text()
        names = ("class 0 ", "class 1") if picture.task == "binary" else ("low ", "high")
        for k, label in enumerate(names):
            scale.append("■ ", style=colors.hex_color(colors.class_colors(ramp)[k]))
            scale.append(label)
        marks = [" ▀ train"] + ([f" {TEST_MARK} val"] if picture.test is not None else [])
        for mark in marks:          # on whichever line has room
            line = next((t for t in (title, scale) if len(t) + len(mark) <= width), None)
            if line is not None:
                line.append(mark, style="dim")
    else:
        title = Text(f"{name} {units.feature_names[unit]}" if column == 0 else f"{name} unit {unit + 1}",
                     style="bold")
        if column:
            title.append(f" {units.activations[column - 1]}", style="dim")
        top = f"{picture.scale:.2g}".replace("-", "−")
        scale = Text()
        for rgb, label in ((NEGATIVE, f"−{top}  "), (colors.NEUTRAL, "0  "), (POSITIVE, f"+{top}")):
            scale.append("■ ", style=colors.hex_color(rgb))
            scale.append(label)
        if picture.dead:
            scale = Text(f"{DEAD_MARK} dead: 0 everywhere", style="bold " + colors.hex_color(colors.DIVERGED))
        elif len(scale) > width:
            scale = Text(f"±{top}")
    title.truncate(width)
    scale.truncate(width)
    return Text("\n").join([title, scale])


class NetworkView(PictureView):
    """The diagram; a click on a unit puts the cursor on it (Playground's pointer)."""

    def on_click(self, event) -> None:
        pane = self.parent.parent if self.parent is not None else None
        if isinstance(pane, NetworkPane):
            pane.point_at(event.x, event.y)


class ZoomView(PictureView):
    """The cursor's unit drawn large."""


class NetworkBody(Horizontal):
    """The diagram and the zoom beside it; with focus (the pane's tab or number key, or a
    click), the arrow keys move the cursor from unit to unit and ``u`` makes the zoom large."""

    can_focus = True
    BINDINGS = [
        Binding("up", "move(0, -1)", "Unit", show=False, tooltip="The unit above"),
        Binding("down", "move(0, 1)", "Unit", show=False, tooltip="The unit below"),
        Binding("left", "move(-1, 0)", "Layer", show=False, tooltip="The layer before"),
        Binding("right", "move(1, 0)", "Layer", show=False, tooltip="The layer after"),
        Binding("u", "zoom", "Zoom", show=False,
                tooltip="The cursor's unit drawn large over the whole pane, and back"),
    ]

    def action_move(self, columns: int, units: int) -> None:
        if isinstance(self.parent, NetworkPane):
            self.parent.move(columns, units)

    def action_zoom(self) -> None:
        if isinstance(self.parent, NetworkPane):
            self.parent.toggle_zoom()


NOTE_ROWS = 2       # the lines under the diagram about the cursor's unit


class NetworkPane(Pane):
    """The selected variant's network, unit by unit, and the unit under the cursor drawn large."""

    ID, TITLE, TAB = "network", "Network", "Network"
    HELP = ("each unit's output over the input plane, weights as links (blue +, orange − dashed), "
            "the output as the decision boundary; arrows or a click: a unit's weights, bias, "
            "gradient, dead or alive, and its map large beside the diagram (u: over the whole pane)")
    DEFAULT_CSS = """
    NetworkPane #network-body { height: 1fr; }
    NetworkPane #network-body:focus { background: $boost; }
    NetworkPane #network-view { width: 1fr; }
    NetworkPane #network-zoom { width: 0; display: none; padding-left: 1; }
    NetworkPane #network-zoom-legend { height: 2; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cursor = (1, 0)            # (column: 0 inputs, 1 first hidden layer …, unit)
        self.large = False              # u: the zoom takes the pane
        self._fit: Fit | None = None
        self._zoom = Zoom(0, 0)
        self._shown: tuple[Frame, View] | None = None

    def compose(self) -> ComposeResult:
        with NetworkBody(id="network-body"):
            yield NetworkView(id="network-view")
            with Vertical(id="network-zoom"):
                yield ZoomView(id="network-zoom-view")
                yield Caption(id="network-zoom-legend", classes="legend")
        yield Static(id="network-unit", classes="legend")

    def fingerprint(self, frame: Frame, view: View):
        variant = self.selected(frame, view)
        units = frame.units[variant] if frame.units else None
        return (view, variant, frame.state, None if units is None else units.step,
                frame.snapshots[variant].step)

    def move(self, columns: int, units: int) -> None:
        column, unit = self.cursor
        self.cursor = (column + columns, unit + units)
        self._redraw()

    def toggle_zoom(self) -> None:
        self.large = not self.large
        self._redraw()

    def point_at(self, x: int, y: int) -> None:
        """A click at ``(x, y)`` of the diagram: the cursor on the unit drawn there."""
        hit = None if self._fit is None else self._fit.place_at(x, y)
        if hit is not None and hit[1] < len(self._fit.units[hit[0]]):
            self.cursor = (hit[0], self._fit.units[hit[0]][hit[1]])
            self._redraw()

    def _redraw(self) -> None:
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
            self._place(Zoom(0, 0))
            note.update(Text("drawing the network…", style="dim italic"))
            return
        if not self.size.area:
            return          # not laid out yet: drawn once it is (``Pane.on_resize``)
        width, height = self.content_region.width, max(self.content_region.height - NOTE_ROWS, 3)
        zoom = zoom_box(units.widths, width, height, self.large) if units.maps else Zoom(0, 0)
        self._place(zoom)
        f = fit(units.widths, width if zoom.large else max(width - zoom.width, 8), height)
        column = min(max(self.cursor[0], 0), f.columns - 1)
        self.cursor = (column, min(max(self.cursor[1], 0), units.widths[column] - 1))
        f = self._fit = f.with_units(choose_columns(units, f, self.cursor))
        points = frame.points[variant] if units.maps else None
        diagram.picture = NetworkPicture(units, self.cursor, f, points)
        diagram.refresh()
        if zoom.width:
            picture = zoom_picture(units, *self.cursor, points, view)
            self.query_one(ZoomView).picture = picture
            self.query_one(ZoomView).refresh()
            self.query_one("#network-zoom-legend", Caption).show_text(
                zoom_legend(picture, units, *self.cursor, zoom.width - 1,
                            colors.ramp_for(self.app.console.color_system)))
        note.update(unit_text(units, *self.cursor, width=max(20, note.content_region.width)))
        who = f"{frame.labels[variant]} · " if len(frame.snapshots) > 1 else ""
        dead = sum(int(units.dead(i).sum()) for i in range(len(units.biases) - 1))
        hint = "" if zoom.width or not units.maps else " · u: the unit large"
        self.border_subtitle = Text(f"{who}step {units.step}" + (f" · {dead} dead" if dead else "") + hint)

    def _place(self, zoom: Zoom) -> None:
        """The zoom beside the diagram ``zoom.width`` wide, alone in the pane, or gone."""
        if zoom == self._zoom:
            return
        self._zoom = zoom
        box = self.query_one("#network-zoom")
        box.display = bool(zoom.width)
        box.styles.width = "1fr" if zoom.large else zoom.width
        self.query_one(ZoomView).styles.height = zoom.rows or 1     # its legend right under it
        self.query_one(NetworkView).display = not zoom.large


def choose_columns(units, f: Fit, cursor: tuple[int, int]) -> tuple[tuple[int, ...], ...]:
    """Each shown column's units for ``f``'s places (``choose_units``): the cursor's unit and
    its neighbours in its own column, the units most strongly linked to it in the columns
    beside, the dead ones, then those that pass on the most."""
    column, unit = cursor
    chosen = []
    for c in range(f.columns):
        spreads = spread(units.maps[c]) if units.maps else np.ones(units.widths[c])
        outgoing = units.weights[c] if c < len(units.weights) else None           # (n, n_next)
        linked = None
        if c == column - 1:
            linked = units.weights[c][:, unit]          # into the cursor's unit
        elif c == column + 1:
            linked = units.weights[column][unit, :]     # out of it
        chosen.append(choose_units(f.places, unit_scores(spreads, outgoing, linked),
                                   units.dead(c - 1) if c else None, unit if c == column else None))
    return tuple(chosen)


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
                             ("\n←→↑↓ move · u large · blue +, orange − (dashed) · ✕ dead", "dim"))
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

"""Decision boundary: the model's output over the input plane, with the training points on top.

Drawn with half blocks (``▀``: the top pixel in the foreground colour, the bottom one in the
background colour), so each character shows two cells of the grid and the plane stays square.
plotext has no good heat map, so this one renderable is drawn here.

As TensorFlow Playground shows its test data, the user may show held-out points (key `t`: the
validation points, named as such since the validation loss is measured on them; each a ring in
its true class's colour over the model's colour there, so a point the model gets wrong sits on
the other colour) and discretize the output (key `z`: the class-1 probability thresholded at
0.5, so the boundary is one sharp line).
"""

from __future__ import annotations

import numpy as np
from rich.console import ConsoleOptions
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult

from .. import colors
from ..frame import Frame, PlanePoints
from .base import Caption, Pane, View
from .halfblock import half_blocks
from .plot import Picture, PictureView

FADE = 0.45             # how far the plane is pulled toward dark, so the points stand out
TEST_MARK = "○"         # a validation point: hollow, beside the training points' solid pixels
FOLLOWED_MARK = "◆"     # the training example the step-through follows
FOLLOWED_COLOR = (255, 255, 255)
SEEN_COLOR_STEP = 4     # of 255 per channel: a plane whose colours all moved less is not drawn again


def cell_colors(values: np.ndarray, task: str, value_range: tuple[float, float],
                discretize: bool = False, fade: float = FADE, ramp=None) -> np.ndarray:
    """RGB (rows, cols, 3) for a grid of model outputs, pulled ``fade`` of the way toward the
    background; ``discretize`` gives a binary task's plane only its two class colours; with a
    ``ramp`` (a terminal without true colour), the nearest of its steps instead."""
    values = np.nan_to_num(np.asarray(values, dtype=float), nan=0.5)
    if discretize and task == "binary":
        values = (values >= 0.5).astype(float)
    if task == "multiclass":
        palette = np.array(colors.CLASS, dtype=float)
        rgb = palette[np.clip(values.round().astype(int), 0, len(palette) - 1) % len(palette)]
        return rgb * (1 - fade) + np.array(colors.BACKGROUND) * fade
    if task == "regression":
        lo, hi = value_range
        t = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    else:
        t = np.clip(values, 0.0, 1.0)
    if ramp is not None:
        return np.array(ramp, dtype=float)[np.rint(t * (len(ramp) - 1)).astype(int)]
    low, high = np.array(colors.CLASS[0], float), np.array(colors.CLASS[1], float)
    middle = np.array(colors.NEUTRAL, float)
    t = t[..., None]
    # orange -> white -> blue, as TensorFlow Playground; certainty shows as saturation
    rgb = np.where(t < 0.5, low + (middle - low) * (t * 2), middle + (high - middle) * (t * 2 - 1))
    return rgb * (1 - fade) + np.array(colors.BACKGROUND) * fade


def square_side(width: int, height: int) -> int:
    """The side in pixels of the largest square picture in ``width`` x ``height`` characters
    (a pixel is half a character tall), 2 at least; its rows are ``side - side % 2`` (two
    to a character)."""
    return max(2, min(width, 2 * height))


def sample(grid: np.ndarray, pixel_rows: int, cols: int) -> np.ndarray:
    """``grid`` ``(..., rows, cols)`` (row 0 at x2_min) at ``pixel_rows`` x ``cols`` pixels, row
    0 at the top (x2_max), each pixel the grid's value at its centre."""
    rows_src, cols_src = grid.shape[-2:]
    yi = ((np.arange(pixel_rows)[::-1] + 0.5) * rows_src / pixel_rows).astype(int)
    xi = ((np.arange(cols) + 0.5) * cols_src / cols).astype(int)
    return grid[..., yi, :][..., xi]


class SeenColors:
    """A plane's colours, equal to another's when no colour differs by ``SEEN_COLOR_STEP`` or
    more: compared with the picture last drawn, the plane is drawn again once it has visibly
    moved, however slowly it got there."""

    __hash__ = None

    def __init__(self, rgb: np.ndarray):
        self.rgb = rgb

    def __eq__(self, other) -> bool:
        return (isinstance(other, SeenColors) and self.rgb.shape == other.rgb.shape
                and float(np.abs(self.rgb - other.rgb).max(initial=0.0)) < SEEN_COLOR_STEP)


class BoundaryPicture(Picture):
    """Rich renderable of one boundary grid and its points, fitted square in the space: the
    training points as pixels and, with ``show_test``, the validation points as rings;
    ``followed``, a training row, as a white diamond."""

    def __init__(self, grid: np.ndarray, extent, task: str, points: PlanePoints,
                 show_test: bool = False, discretize: bool = False, followed: int | None = None):
        self.grid = grid
        self.extent = extent
        self.task = task
        self.points = points.train
        self.labels = points.train_labels
        self.test = (points.val, points.val_labels) if show_test else None
        self.discretize = discretize
        self.followed = followed

    def value_range(self) -> tuple[float, float]:
        if self.labels is not None and len(self.labels):
            return float(np.min(self.labels)), float(np.max(self.labels))
        finite = self.grid[np.isfinite(self.grid)]
        return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)

    def seen(self) -> "SeenColors":
        """The grid's colours (the picture samples the grid: the same colours, the same picture)."""
        return SeenColors(cell_colors(self.grid, self.task, self.value_range(), self.discretize))

    def pixels(self, pixel_rows: int, cols: int, ramp=None, with_points: bool = True) -> np.ndarray:
        """RGB ``(pixel_rows, cols, 3)`` of the plane, row 0 at the top (x2_max), with the
        training points on it (``with_points``); ``ramp``: a terminal's stepped colours."""
        rgb = cell_colors(sample(self.grid, pixel_rows, cols), self.task, self.value_range(),
                          self.discretize, ramp=ramp)
        if with_points and len(self.points):
            row, col = self._pixels(self.points, rgb.shape[:2])
            rgb[row, col] = self._point_colors(self.labels, ramp)
        return rgb

    def _segments(self, options: ConsoleOptions) -> list[Segment]:
        width = options.max_width
        side = square_side(width, options.height or width // 2)
        cols, pixel_rows = side, side - side % 2
        rgb = self.pixels(pixel_rows, cols, self.ramp)
        marks = {}
        if self.test is not None and len(self.test[0]):
            row, col = self._pixels(self.test[0], rgb.shape[:2])
            marks = {(r // 2, c): (TEST_MARK, tuple(color))
                     for r, c, color in zip(row, col, self._point_colors(self.test[1], self.ramp))}
        if self.followed is not None:
            row, col = self._pixels(self.points[self.followed:self.followed + 1], rgb.shape[:2])
            marks[(int(row[0]) // 2, int(col[0]))] = (FOLLOWED_MARK, FOLLOWED_COLOR)
        return half_blocks(rgb, pad=(width - cols) // 2, marks=marks)

    def _pixels(self, points: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Pixel row and column of each point (row 0 at the top, x2_max)."""
        pixel_rows, cols = shape
        x1_min, x1_max, x2_min, x2_max = self.extent
        px = (points[:, 0] - x1_min) / ((x1_max - x1_min) or 1.0)
        py = (points[:, 1] - x2_min) / ((x2_max - x2_min) or 1.0)
        col = np.clip((px * cols).astype(int), 0, cols - 1)
        row = np.clip(((1 - py) * pixel_rows).astype(int), 0, pixel_rows - 1)
        return row, col

    def _point_colors(self, labels: np.ndarray, ramp=None) -> np.ndarray:
        """Each point's label in full colour (the plane under it is faded); ``ramp``: the
        terminal's stepped colours, whose classes have colours of their own."""
        if self.task == "regression":
            faded = cell_colors(np.asarray(labels, float)[None, :], "regression", self.value_range())[0]
            return (faded - np.array(colors.BACKGROUND) * FADE) / (1 - FADE)
        palette = np.array(colors.class_colors(ramp), dtype=float)
        return palette[np.asarray(labels).astype(int) % len(palette)]


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(int(rgb[0]), int(rgb[1]), int(rgb[2]))


class BoundaryView(PictureView):
    """Shows a ``BoundaryPicture`` (or nothing yet)."""


class BoundaryPane(Pane):
    """The selected variant's decision boundary, or a note when the data is not a 2-D plane."""

    ID, TITLE, TAB = "boundary", "Decision boundary", "Boundary"
    HELP = "the model's output over the 2-D input plane, training points on top (t: validation points too)"

    def compose(self) -> ComposeResult:
        yield BoundaryView(id="boundary-view")
        yield Caption(id="boundary-note", classes="legend")

    def fingerprint(self, frame: Frame, view: View):
        """What the eye sees of the plane: early steps change it every frame, late ones
        hardly at all."""
        picture = self._picture(frame, view)
        return (view, self.selected(frame, view), frame.labels,
                picture.seen() if picture is not None else None)

    @classmethod
    def _picture(cls, frame: Frame, view: View) -> BoundaryPicture | None:
        variant = cls.selected(frame, view)
        pictures, points = frame.pictures[variant], frame.points[variant]
        if pictures.boundary is None or points is None:
            return None
        return BoundaryPicture(np.asarray(pictures.boundary, dtype=float), pictures.boundary_extent,
                               points.task, points, view.show_test, view.discretize)

    def show(self, frame: Frame, view: View) -> None:
        variant = self.selected(frame, view)
        picture = self._picture(frame, view)
        boundary_view = self.query_one(BoundaryView)
        note = self.query_one("#boundary-note", Caption)
        if picture is None:
            boundary_view.picture = None
            boundary_view.display = False
            note.show_text(Text("no decision boundary: the data is not a 2-D plane", style="dim italic"))
        else:
            boundary_view.display = True
            boundary_view.picture = picture
            note.show_text(self.legend(picture.task, view, colors.ramp_for(self.app.console.color_system)))
        boundary_view.refresh()
        self.set_subtitle(frame.labels[variant] if len(frame.snapshots) > 1 else "")

    @staticmethod
    def legend(task: str, view: View, ramp=None) -> Text:
        """The colours and marks of the plane for ``task``, as ``view`` shows it (``ramp``: a
        terminal's stepped colours, with the classes' own)."""
        text = Text()
        if task == "regression":
            text.append("■ ", style=_hex(colors.CLASS[0]))
            text.append("low ")
            text.append("■ ", style=_hex(colors.CLASS[1]))
            text.append("high value")
        else:
            for k in range(2 if task == "binary" else 3):
                text.append("■ ", style=_hex(colors.class_colors(ramp)[k]))
                text.append(f"class {k} ")
            if task != "binary":
                text.append("…")
        text.append(" · ▀ train", style="dim")
        # "val", as the loss pane names the validation split (these are its points)
        text.append(f" {TEST_MARK} val" if view.show_test else " · t: val", style="dim")
        if view.discretize:
            text.append(" · discretized" if task == "binary" else " · z: binary only", style="dim")
        return text

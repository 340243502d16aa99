"""How the network pane fills its space, in plain Python: the zoom's size beside the diagram,
the thumbnails' size, and which of a column's units get its places when not all fit.

TensorFlow Playground draws every unit and a large view of the one under the pointer; a
terminal pane has room for a few thumbnails a column. So the zoom takes the room the diagram
can spare (or, with ``large``, the whole pane), thumbnails grow while each column still shows
``ENOUGH_UNITS``, and the places go to what matters: the cursor's unit and its neighbours, the
dead units, the units most strongly linked to the cursor's, then those that pass on the most.
Every choice is a function of the frame alone: the same step shows the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_THUMB_ROWS = 8      # a thumbnail is 2h x 2h pixels: 16 x 16 at most (detail enough at that size)
MIN_GAP = 3             # characters between columns, where the links run
LINK_GAP = 6            # the gap the zoom leaves at least (narrower, the links read as bars)
MAX_GAP = 20
ENOUGH_UNITS = 4        # thumbnails grow only while each column still shows this many units
ZOOM_MIN_ROWS = 6       # a zoom smaller than 12 x 12 pixels is not drawn beside the diagram
ZOOM_MAX_ROWS = 20      # nor larger than 40 x 40, the unit maps' own grid
ZOOM_LEGEND_ROWS = 2    # the zoom's name and scale under it


@dataclass(frozen=True)
class Zoom:
    """The zoom's box: ``rows`` rows of ``2 * rows`` characters (its square plane) with its
    legend under it, ``width`` characters at the right of the pane (0: not drawn); ``large``:
    it takes the pane alone."""

    rows: int
    width: int
    large: bool = False


def zoom_box(widths: tuple[int, ...], width: int, height: int, large: bool = False) -> Zoom:
    """The zoom beside a diagram of ``widths`` columns in ``width`` x ``height`` characters:
    as large as the height allows and the diagram can spare (every column with 2-row
    thumbnails and links ``LINK_GAP`` wide between them), if that is ``ZOOM_MIN_ROWS`` at least;
    with ``large``, the whole space."""
    rows_room = height - ZOOM_LEGEND_ROWS
    if large:
        rows = max(1, min(rows_room, (width - 1) // 2))
        return Zoom(rows, width, True)
    columns = len(widths)
    diagram = columns * 4 + (columns - 1) * LINK_GAP + 2
    rows = min(rows_room, (width - diagram - 1) // 2, ZOOM_MAX_ROWS)
    if rows < ZOOM_MIN_ROWS:
        return Zoom(0, 0)
    return Zoom(rows, 2 * rows + 1)


@dataclass(frozen=True)
class Fit:
    """How the diagram fits its space: thumbnails ``h`` rows of ``2h`` characters, ``gap``
    characters of links between columns, ``places`` units a column at most, the first
    ``columns`` columns (inputs, hidden layers, output), and ``units[c]``, the units column
    ``c`` shows (ascending; chosen with ``with_units``)."""

    h: int
    gap: int
    places: int
    columns: int
    units: tuple[tuple[int, ...], ...] = ()

    @property
    def w(self) -> int:
        return 2 * self.h

    def x(self, column: int) -> int:
        """The thumbnail's first character (one character of margin for the cursor)."""
        return 1 + column * (self.w + self.gap)

    def y(self, place: int) -> int:
        """The thumbnail's first row (row 0 holds the column titles; the row under each
        thumbnail its name)."""
        return 1 + place * (self.h + 1)

    def place_at(self, x: int, y: int) -> tuple[int, int] | None:
        """The (column, place) of the thumbnail at character ``(x, y)`` (its name row and the
        cursor's margins beside it included), or None among the links and titles."""
        place = (y - 1) // (self.h + 1)
        if y < 1 or place >= self.places:
            return None
        column = next((c for c in range(self.columns) if self.x(c) - 1 <= x <= self.x(c) + self.w), None)
        return None if column is None else (column, place)

    def with_units(self, units: tuple[tuple[int, ...], ...]) -> Fit:
        return Fit(self.h, self.gap, self.places, self.columns, units)


def fit(widths: tuple[int, ...], width: int, height: int) -> Fit:
    """The largest thumbnails (2 to ``MAX_THUMB_ROWS`` rows) for which every column fits
    across and shows ``ENOUGH_UNITS`` units (or all of the widest's, if fewer): the pictures
    before the links (at 160x48, 6 x 6 pixels with links 5 wide beat 4 x 4 with links 8 wide);
    when none does, 2-row thumbnails, and then 1-row ones and the first columns that fit."""
    options = []
    for h in range(MAX_THUMB_ROWS, 0, -1):
        columns = len(widths)
        while columns > 1 and columns * 2 * h + (columns - 1) * MIN_GAP + 2 > width:
            columns -= 1
        gap = MAX_GAP if columns == 1 else min(MAX_GAP, (width - 2 - columns * 2 * h) // (columns - 1))
        # A title row above (with the count of units left out), a name row under each.
        places = max(1, (height - 1) // (h + 1))
        options.append(Fit(h, gap, places, columns))
    complete = [f for f in options if f.columns == len(widths) and f.h >= 2]
    if not complete:
        return next((f for f in options if f.columns == len(widths)), options[-1])
    wanted = min(max(widths), ENOUGH_UNITS)
    return next((f for f in complete if f.places >= wanted), complete[-1])


def choose_units(places: int, scores: np.ndarray, dead: np.ndarray | None = None,
                 cursor: int | None = None) -> tuple[int, ...]:
    """Which of a column's ``len(scores)`` units take its ``places``, ascending: all when they
    fit; else the ``cursor``'s unit and its two neighbours, dead units (up to half the places,
    so a column of dead units still shows live ones), then the best ``scores`` by their power
    of two and, within one, the first units: scores that drift a little as the run trains
    keep the choice (a function of the frame alone, so the same step shows the same units)."""
    n = len(scores)
    if n <= places:
        return tuple(range(n))
    picked: list[int] = []

    def take(unit: int) -> None:
        if 0 <= unit < n and unit not in picked and len(picked) < places:
            picked.append(unit)

    if cursor is not None:
        for unit in (cursor, cursor - 1, cursor + 1):
            take(unit)
    if dead is not None:
        for unit in np.flatnonzero(dead)[:max(1, places // 2)]:
            take(int(unit))
    scores = np.asarray(scores, float)
    with np.errstate(divide="ignore"):
        magnitude = np.where(scores > 0, np.floor(np.log2(np.where(scores > 0, scores, 1.0))), -np.inf)
    for unit in np.argsort(-magnitude, kind="stable"):
        take(int(unit))
    return tuple(sorted(picked))


def unit_scores(spread: np.ndarray, outgoing: np.ndarray | None,
                linked: np.ndarray | None = None) -> np.ndarray:
    """How much each unit of a column matters: its weight to or from the cursor's unit
    (``linked``, |w| per unit) in the columns beside the cursor's, else what it passes on, the
    spread of its output over the plane (``spread``) times the size of its outgoing weights
    (``outgoing`` ``(n_units, n_next)``; None for the output column); 0 where not finite."""
    if linked is not None:
        scores = np.abs(np.asarray(linked, float))
    elif outgoing is None:
        scores = np.asarray(spread, float).copy()
    else:
        scores = np.asarray(spread, float) * np.sqrt((np.asarray(outgoing, float) ** 2).sum(axis=1))
    return np.nan_to_num(scores, nan=0.0, posinf=0.0)

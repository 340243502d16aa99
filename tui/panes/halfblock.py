"""Pictures made of half blocks: ``▀`` shows its top pixel in the foreground colour and its
bottom pixel in the background colour, so one character is two pixels of a picture.

Shared by the decision boundary and the weights' heat strip. Runs of equal characters
become one segment and styles are cached, which keeps a 60x30 picture to a few ms.
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

_STYLES: dict[int, Style] = {}
_MAX_STYLES = 16384


def _style(key: int) -> Style:
    style = _STYLES.get(key)
    if style is None:
        if len(_STYLES) >= _MAX_STYLES:
            _STYLES.clear()
        top, bottom = key >> 24, key & 0xFFFFFF
        style = _STYLES[key] = Style(
            color=Color.from_rgb(top >> 16, (top >> 8) & 255, top & 255),
            bgcolor=Color.from_rgb(bottom >> 16, (bottom >> 8) & 255, bottom & 255))
    return style


def half_blocks(rgb: np.ndarray, pad: int = 0, marks: dict[tuple[int, int], tuple[str, tuple]] | None = None
                ) -> list[Segment]:
    """Segments for ``rgb`` (2 * rows, cols, 3) with values 0-255, ``pad`` spaces left of each row.

    ``marks`` puts a glyph in some characters instead of their two pixels: ``(row, col)`` (in
    characters) to ``(glyph, rgb)``, drawn over the mean of the two pixels it replaces.
    """
    pixels = np.clip(np.asarray(rgb), 0, 255).astype(np.int64)
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]    # (2 * rows, cols)
    keys = (packed[0::2] << 24) | packed[1::2]                                  # (rows, cols)
    marks = marks or {}
    segments: list[Segment] = []
    for r, row in enumerate(keys.tolist()):
        if pad:
            segments.append(Segment(" " * pad))
        start = 0
        for i in range(1, len(row) + 1):
            if i == len(row) or row[i] != row[start] or (r, i) in marks or (r, i - 1) in marks:
                if (r, start) in marks:
                    segments.append(_mark(marks[(r, start)], pixels[2 * r:2 * r + 2, start]))
                else:
                    segments.append(Segment("▀" * (i - start), _style(row[start])))
                start = i
        segments.append(Segment.line())
    return segments


def _mark(mark: tuple[str, tuple], pixels: np.ndarray) -> Segment:
    glyph, color = mark
    under = pixels.mean(axis=0).round().astype(int)           # the two pixels it covers
    return Segment(glyph, Style(color=Color.from_rgb(*(int(c) for c in color)),
                                bgcolor=Color.from_rgb(*under), bold=True))

"""The dashboard's colours, one place: series per variant, classes, layers.

RGB triples; Textual reduces them to 256 or 16 colours on terminals without true colour.
"""

from __future__ import annotations

RGB = tuple[int, int, int]

# One hue per variant, in the order of the scenario's [[variant]] tables.
VARIANT = [
    (88, 166, 255),    # blue
    (255, 159, 67),    # orange
    (46, 204, 113),    # green
    (217, 128, 250),   # violet
    (249, 202, 36),    # yellow
    (72, 219, 251),    # cyan
    (255, 107, 129),   # pink
    (200, 214, 229),   # grey
]

# Class colours for decision boundaries: class 0 orange, class 1 blue (as TensorFlow Playground).
CLASS = [
    (245, 146, 35),
    (8, 119, 189),
    (46, 204, 113),
    (217, 128, 250),
    (249, 202, 36),
    (231, 76, 60),
    (72, 219, 251),
    (160, 160, 160),
    (142, 68, 173),
    (26, 188, 156),
]

BACKGROUND: RGB = (24, 24, 28)
NEUTRAL: RGB = (235, 235, 235)
DIVERGED: RGB = (231, 76, 60)
INITIAL: RGB = (140, 140, 150)


# The decision boundary's orange -> grey -> blue ramp where the terminal has no true colour.
# Rounded to the nearest of 256 colours, its middle tones land on olive and lavender cells that
# read as a third class. These steps are palette colours on the ramp's own axis, and the terminal
# shows each of them on it and apart from the others (the 6x6x6 cube's values and a grey; in 16
# colours, ANSI's yellow, grey and blue).
RAMP_256: tuple[RGB, ...] = ((215, 95, 0), (215, 135, 0), (215, 135, 95), (215, 175, 135),
                             (178, 178, 178), (135, 175, 215), (95, 135, 175), (0, 95, 175))
RAMP_16: tuple[RGB, ...] = ((128, 128, 0), (192, 192, 192), (0, 0, 128))


# The two classes' points over a plane of steps, on the ramp's axis and apart from its steps.
# The class colours themselves round to bright red and cyan in 16 colours (two more hues, read
# as two more classes), and class 1 to a cyan-blue in 256: bright yellow and bright blue in 16,
# the palette's orange and a plain blue in 256.
POINTS_256: tuple[RGB, RGB] = ((255, 135, 0), (0, 135, 215))
POINTS_16: tuple[RGB, RGB] = ((255, 255, 85), (85, 85, 255))


def class_colors(ramp: tuple[RGB, ...] | None) -> list[RGB]:
    """The classes' colours for points and legends on a plane drawn with ``ramp``."""
    points = {RAMP_256: POINTS_256, RAMP_16: POINTS_16}.get(ramp) if ramp is not None else None
    return [*points, *CLASS[2:]] if points else list(CLASS)


def ramp_for(color_system: str | None) -> tuple[RGB, ...] | None:
    """The stepped ramp for a console's colour system (Rich's name for it); None: true colour,
    where the ramp is continuous."""
    return {"256": RAMP_256, "standard": RAMP_16, "windows": RAMP_16}.get(color_system or "")


def variant_color(index: int) -> RGB:
    return VARIANT[index % len(VARIANT)]


def dim(color: RGB, amount: float = 0.45) -> RGB:
    """``color`` pulled ``amount`` of the way toward the background."""
    return mix(color, BACKGROUND, amount)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """Linear blend: ``a`` at t = 0, ``b`` at t = 1."""
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t),
            round(a[2] + (b[2] - a[2]) * t))


def hex_color(color: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def layer_color(index: int, n_layers: int) -> RGB:
    """First hidden layer blue through to the output layer red, so depth reads at a glance."""
    t = index / max(1, n_layers - 1)
    return mix((88, 166, 255), (255, 107, 107), t)

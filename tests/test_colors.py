"""The heat maps on a terminal without true colour: every cell a colour of the orange -> grey
-> blue axis, never one of the olive or lavender cells that the nearest-of-256 rounding of the
continuous ramp gives and that a learner reads as a third class."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
from rich.color import Color, ColorSystem
from rich.console import Console

from nnsim.tui import colors
from nnsim.tui.panes.boundary import BoundaryPicture, cell_colors
from nnsim.tui.frame import PlanePoints


def on_the_axis(rgb, orange_up_to: float = 45) -> bool:
    """Orange (hue 15-45 degrees), blue (195-240) or grey (hardly saturated)."""
    h, _, s = colorsys.rgb_to_hls(*(c / 255 for c in rgb))
    return s < 0.12 or 15 <= h * 360 <= orange_up_to or 195 <= h * 360 <= 240


def shown_as(rgb, system: ColorSystem) -> tuple[int, int, int]:
    """The colour a terminal of ``system`` shows for ``rgb``, as Rich reduces it."""
    color = Color.from_rgb(*rgb).downgrade(system)
    return tuple(color.get_truecolor())


def test_the_continuous_ramp_rounds_to_cells_off_its_axis():
    """What the steps are for: rounded to 256 colours, the true-colour ramp leaves its axis."""
    rgb = cell_colors(np.linspace(0, 1, 201), "binary", (0.0, 1.0))
    assert not all(on_the_axis(shown_as(tuple(int(c) for c in cell), ColorSystem.EIGHT_BIT))
                   for cell in rgb.round().astype(int))


@pytest.mark.parametrize("system, ramp, orange_up_to", [
    (ColorSystem.EIGHT_BIT, colors.RAMP_256, 45),
    (ColorSystem.STANDARD, colors.RAMP_16, 60),       # ANSI has no orange: its yellow stands in
])
def test_each_step_is_shown_on_the_axis_and_apart(system, ramp, orange_up_to):
    shown = [shown_as(step, system) for step in ramp]
    assert all(on_the_axis(colour, orange_up_to) for colour in shown), shown
    assert len(set(shown)) == len(ramp)                # no two steps look the same
    assert ramp[0][0] > ramp[0][2] and ramp[-1][2] > ramp[-1][0]        # orange first, blue last


def test_a_plane_on_a_256_colour_terminal_uses_the_steps_in_order():
    t = np.linspace(0, 1, 101)
    rgb = [tuple(int(c) for c in cell) for cell in cell_colors(t, "binary", (0.0, 1.0),
                                                                ramp=colors.RAMP_256)]
    assert set(rgb) == set(colors.RAMP_256)
    order = [colors.RAMP_256.index(cell) for cell in rgb]
    assert order == sorted(order)                    # more certain of class 1: further along


def test_the_boundary_drawn_for_a_256_colour_terminal_has_only_steps_and_points():
    grid = np.linspace(0, 1, 64).reshape(8, 8)
    points = PlanePoints(task="binary", train=np.zeros((0, 2)), train_labels=np.zeros(0), val=np.zeros((0, 2)),
                         val_labels=np.zeros(0))
    picture = BoundaryPicture(grid, (-1.0, 1.0, -1.0, 1.0), "binary", points)
    console = Console(width=20, height=10, color_system="256", force_terminal=True)
    segments = list(console.render(picture, console.options.update(height=10)))
    drawn = {tuple(style.get_truecolor()) for s in segments if s.style for style in
             (s.style.color, s.style.bgcolor) if style is not None}
    assert drawn and drawn <= set(colors.RAMP_256), drawn - set(colors.RAMP_256)


@pytest.mark.parametrize("color_system, system", [("256", ColorSystem.EIGHT_BIT),
                                                  ("standard", ColorSystem.STANDARD)])
def test_the_points_and_the_plane_show_two_hues_and_grey_on_a_terminal_without_true_colour(
        color_system, system):
    """Found by capturing a 16-colour terminal: the map was yellow and blue, but its training
    points, in the class colours, became bright red and cyan: two more hues, read as classes."""
    grid = np.linspace(0, 1, 64).reshape(8, 8)
    where = np.array([[-0.9, -0.9], [0.9, 0.9], [0.0, 0.5], [0.5, 0.0]])
    points = PlanePoints(task="binary", train=where, train_labels=np.array([0, 1, 0, 1]),
                         val=np.zeros((0, 2)), val_labels=np.zeros(0))
    picture = BoundaryPicture(grid, (-1.0, 1.0, -1.0, 1.0), "binary", points)
    console = Console(width=20, height=10, color_system=color_system, force_terminal=True)
    segments = list(console.render(picture, console.options.update(height=10)))
    drawn = {shown_as(tuple(style.get_truecolor()), system) for s in segments if s.style
             for style in (s.style.color, s.style.bgcolor) if style is not None}
    ramp = colors.ramp_for(color_system)
    points_shown = {shown_as(c, system) for c in colors.class_colors(ramp)[:2]}
    assert points_shown <= drawn                              # the points are there
    assert all(on_the_axis(c, 60) for c in drawn), drawn      # and all on the axis
    assert not points_shown & {shown_as(step, system) for step in ramp[1:-1]}   # not grey


def test_the_boundary_legend_shows_the_points_colours():
    from nnsim.tui.panes.base import View
    from nnsim.tui.panes.boundary import BoundaryPane

    for ramp in (None, colors.RAMP_256, colors.RAMP_16):
        legend = BoundaryPane.legend("binary", View(), ramp)
        squares = [span.style for span in legend.spans if "■" in legend.plain[span.start:span.end]]
        assert squares == [colors.hex_color(c) for c in colors.class_colors(ramp)[:2]]

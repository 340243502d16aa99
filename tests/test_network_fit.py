"""How the network pane fills its space, in plain Python: the zoom's box, the thumbnails' size,
which units take a column's places, and which unit a click lands on."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnsim.tui.panes.network_fit import (ENOUGH_UNITS, LINK_GAP, MAX_THUMB_ROWS, MIN_GAP,
                                         ZOOM_LEGEND_ROWS, ZOOM_MIN_ROWS, Fit, choose_units, fit,
                                         unit_scores, zoom_box)

PLAYGROUND = (2, 16, 16, 1)
RELU = (2,) + (16,) * 8 + (1,)


def across(f: Fit) -> int:
    """The characters the diagram takes across (the cursor's margin on each side)."""
    return f.x(f.columns - 1) + f.w + 1


@pytest.mark.parametrize("widths, width, height", itertools.product(
    (PLAYGROUND, RELU, (7, 4, 1), (2, 40, 3, 1)), (40, 55, 78, 108, 158), (9, 13, 19, 38)))
def test_thumbnails_are_the_largest_that_fit_and_show_enough_units(widths, width, height):
    f = fit(widths, width, height)
    assert across(f) <= width and f.y(f.places) <= height + 1
    if f.columns == len(widths) and f.h >= 2:
        wanted = min(max(widths), ENOUGH_UNITS)
        assert f.places >= wanted or f.h == 2
        bigger = f.h + 1
        if bigger <= MAX_THUMB_ROWS:         # one size up would not fit across or show enough
            too_wide = len(widths) * 2 * bigger + (len(widths) - 1) * MIN_GAP + 2 > width
            too_few = (height - 1) // (bigger + 1) < wanted
            assert too_wide or too_few


def test_a_taller_pane_gets_larger_thumbnails_and_a_wider_one_longer_links():
    small, tall = fit(PLAYGROUND, 55, 13), fit(PLAYGROUND, 55, 38)
    assert small.h == 2 and small.places == 4
    assert tall.h > small.h and tall.places >= ENOUGH_UNITS
    assert fit(PLAYGROUND, 100, 13).gap > small.gap


def test_the_zoom_takes_what_the_diagram_can_spare_and_no_less_than_its_minimum():
    zoom = zoom_box(PLAYGROUND, 78, 13)             # the 80x24 tab
    assert zoom.rows == 13 - ZOOM_LEGEND_ROWS and zoom.width == 2 * zoom.rows + 1
    left = 78 - zoom.width
    assert left >= len(PLAYGROUND) * 4 + (len(PLAYGROUND) - 1) * LINK_GAP + 2
    assert zoom_box(PLAYGROUND, 42, 19).width == 0  # the 160x48 grid's cell: no room beside
    assert zoom_box(RELU, 78, 13).width == 0        # ten columns need the width
    narrow = zoom_box(PLAYGROUND, 36 + 2 * ZOOM_MIN_ROWS + 1, 30)
    assert narrow.rows == ZOOM_MIN_ROWS
    assert zoom_box(PLAYGROUND, 36 + 2 * ZOOM_MIN_ROWS, 30).width == 0


def test_the_large_zoom_takes_the_whole_space_square():
    for width, height in ((78, 13), (42, 19), (120, 40)):
        zoom = zoom_box(RELU, width, height, large=True)
        assert zoom.large and zoom.width == width
        assert zoom.rows == min(height - ZOOM_LEGEND_ROWS, (width - 1) // 2)


def test_all_units_are_shown_when_they_fit():
    assert choose_units(4, np.zeros(3)) == (0, 1, 2)
    assert choose_units(3, np.zeros(3), np.array([False, True, False]), cursor=2) == (0, 1, 2)


def test_the_cursor_and_its_neighbours_come_first_then_dead_units_then_the_best_scores():
    scores = 2.0 ** np.arange(16)                   # unit 15 best, each a power of two apart
    dead = np.zeros(16, bool)
    dead[[9, 10, 11, 12, 13]] = True                # the ReLU: five dead, none first
    assert choose_units(6, scores, dead, cursor=0) == (0, 1, 9, 10, 11, 15)
    assert choose_units(4, scores, dead, cursor=5) == (4, 5, 6, 9)
    # Dead units take at most half the places: a column of them still shows live ones.
    assert choose_units(6, scores, dead) == (9, 10, 11, 13, 14, 15)
    assert choose_units(5, scores) == (11, 12, 13, 14, 15)
    assert choose_units(3, scores, cursor=15) == (13, 14, 15)


@pytest.mark.parametrize("places, cursor", itertools.product((1, 2, 3, 5, 8), (0, 7, 15)))
def test_a_choice_is_as_many_units_as_places_ascending_with_the_cursor(places, cursor):
    rng = np.random.default_rng(places + cursor)
    shown = choose_units(places, rng.random(16), rng.random(16) < 0.4, cursor)
    assert len(shown) == places and list(shown) == sorted(set(shown)) and cursor in shown
    assert all(0 <= unit < 16 for unit in shown)


def test_scores_are_links_to_the_cursor_beside_it_and_what_a_unit_passes_on_elsewhere():
    spread = np.array([1.0, 2.0, 0.5])
    outgoing = np.array([[3.0, 4.0], [0.0, 1.0], [0.0, 0.0]])   # |rows|: 5, 1, 0
    np.testing.assert_allclose(unit_scores(spread, outgoing), [5.0, 2.0, 0.0])
    np.testing.assert_allclose(unit_scores(spread, outgoing, linked=np.array([-3.0, 1.0, 2.0])),
                               [3.0, 1.0, 2.0])
    np.testing.assert_allclose(unit_scores(spread, None), spread)          # the output column
    assert unit_scores(np.array([np.nan, 1.0]), None).tolist() == [0.0, 1.0]


def test_scores_within_a_power_of_two_keep_the_first_units_so_small_drifts_change_nothing():
    assert choose_units(2, np.array([1.0, 1.5, 1.9])) == (0, 1)
    assert choose_units(2, np.array([1.0, 1.9, 1.5])) == (0, 1)    # reordered within [1, 2)
    assert choose_units(2, np.array([1.0, 1.5, 2.0])) == (0, 2)    # a power of two more counts
    assert choose_units(2, np.array([0.0, 0.3, 0.0])) == (0, 1)    # zero: last, by number


def test_a_click_lands_on_the_thumbnail_drawn_there():
    f = fit(PLAYGROUND, 55, 13)
    for column, place in itertools.product(range(f.columns), range(f.places)):
        for dx, dy in ((0, 0), (f.w - 1, f.h - 1), (-1, 0), (f.w, 0), (0, f.h)):   # margins, name row
            assert f.place_at(f.x(column) + dx, f.y(place) + dy) == (column, place)
    assert f.place_at(f.x(0) + f.w + 2, f.y(0)) is None           # on the links
    assert f.place_at(f.x(1), 0) is None                          # on the titles
    assert f.place_at(f.x(1), f.y(f.places)) is None              # under the last place

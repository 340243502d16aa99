"""The network pane and what it draws: each unit's map over the plane against an independent
NumPy forward pass, dead units on a constructed network, the output drawn as the decision
boundary, and in the app the cursor's unit, its zoom (`u`) and the units chosen for the room."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

import reference
from conftest import LESSON
from nnsim.core import Run
from nnsim.tui import colors
from nnsim.tui.app import create_app
from nnsim.tui.panes.boundary import BoundaryPicture
from nnsim.tui.panes.network import (DEAD_MARK, NetworkPicture, NetworkView, UnitZoom, ZoomView,
                                     choose_columns, signed, unit_text, zoom_legend,
                                     zoom_picture)
from nnsim.tui.panes.base import View
from nnsim.tui.frame import PlanePoints
from nnsim.tui.panes.network_fit import fit
from pilot import scenario_file, settled, shown_text, wait_until


def fitted(units, width: int, height: int, cursor: tuple[int, int] = (1, 0)):
    """``fit`` with each column's units chosen as the pane chooses them."""
    f = fit(units.widths, width, height)
    return f.with_units(choose_columns(units, f, cursor))


def reference_layers(run: Run) -> list[reference.Layer]:
    """The run's network as ``tests/reference.py`` layers, from ``get_params`` alone."""
    activations = [run.config.model.activation] * len(run.config.model.layers) + ["linear"]
    return [reference.Layer(W, b, name, False) for (W, b), name in zip(run.get_params(), activations)]


def reference_units(layers: list[reference.Layer], x: np.ndarray) -> list[np.ndarray]:
    """Each layer's act(z) (N, n_out) for the rows of ``x``, by ``reference.forward``."""
    _, cache = reference.forward(layers, x)
    return [reference.activate(layer.activation, z) for layer, (_, z) in zip(layers, cache)]


@pytest.mark.parametrize("activation, features", [
    ("tanh", ["x1", "x2"]),
    ("relu", ["x1", "x2", "x1*x2", "sin(x1)"]),
    ("sigmoid", ["x1", "x2", "x1^2"]),
])
def test_every_units_map_is_its_output_over_the_plane(activation, features):
    run = Run({"data": {"kind": "circle", "n_points": 200, "features": features},
               "model": {"layers": [6, 5], "activation": activation},
               "train": {"lr": 0.05, "seed": 3}})
    run.advance(40)
    rows, cols = 7, 9
    units = run.unit_maps((rows, cols))
    x1_min, x1_max, x2_min, x2_max = units.extent
    x1, x2 = np.meshgrid(np.linspace(x1_min, x1_max, cols), np.linspace(x2_min, x2_max, rows))
    inputs = run.dataset.plane.featurize(np.column_stack([x1.ravel(), x2.ravel()]))
    expected = [inputs] + reference_units(reference_layers(run), inputs)
    assert len(units.maps) == len(expected) == 4
    for column, (maps, want) in enumerate(zip(units.maps, expected)):
        assert maps.shape == (want.shape[1], rows, cols), column
        np.testing.assert_allclose(maps, want.T.reshape(-1, rows, cols), rtol=1e-12, atol=1e-12)
    # Not one picture repeated: the units differ from one another and the plane is not flat.
    assert np.ptp(units.maps[1], axis=(1, 2)).min() > 0
    assert not np.allclose(units.maps[1][0], units.maps[1][1])


def test_zero_shares_and_weights_are_the_training_points_and_get_params():
    run = Run({"data": {"kind": "xor", "n_points": 300}, "model": {"layers": [8], "activation": "relu"},
               "train": {"seed": 1}})
    run.advance(30)
    units = run.unit_maps()
    x_train, _ = run.split("train")
    hidden = reference_units(reference_layers(run), x_train)[0]
    np.testing.assert_array_equal(units.zero_share[0], (hidden == 0.0).mean(axis=0))
    for (W, b), weights, biases in zip(run.get_params(), units.weights, units.biases):
        np.testing.assert_array_equal(weights, W)
        np.testing.assert_array_equal(biases, b)
    assert all(g.shape == b.shape and (g > 0).any() for g, b in zip(units.grad_mean, units.biases))


def dead_network() -> Run:
    """A ReLU layer of four where unit 2 can never fire (zero weights, negative bias) and
    unit 3 always does (zero weights, positive bias)."""
    run = Run({"data": {"kind": "circle", "n_points": 200}, "model": {"layers": [4], "activation": "relu"},
               "train": {"seed": 0}})
    (W, b), out = run.get_params()
    W[:, 1], b[1] = 0.0, -1.0
    W[:, 2], b[2] = 0.0, 0.5
    run.set_params([(W, b), out])
    return run


def test_a_unit_that_is_zero_on_every_training_point_is_dead_and_marked():
    units = dead_network().unit_maps()
    dead = units.dead(0)
    assert dead[1] and not dead[2]
    assert units.zero_share[0][1] == 1.0 and units.zero_share[0][2] == 0.0
    assert not units.dead(1).any()                  # the linear output is never dead
    drawn = render(NetworkPicture(units, (1, 1), fitted(units, 60, 20, (1, 1))), 60, 20)
    assert drawn.count(DEAD_MARK) == int(dead.sum())
    assert "dead" in unit_text(units, 1, 1).plain
    assert "dead" not in unit_text(units, 1, 2).plain


def render(picture, width: int, height: int, color_system: str | None = None) -> str:
    console = Console(width=width, height=height, color_system=color_system, legacy_windows=False)
    with console.capture() as capture:
        console.print(picture, height=height)
    return capture.get()


def test_a_wide_layer_shows_what_fits_and_says_how_many_are_hidden():
    run = Run({"data": {"kind": "circle", "n_points": 100}, "model": {"layers": [40, 3]}})
    units = run.unit_maps()
    f = fitted(units, 80, 14)
    assert f.columns == 4 and 1 < len(f.units[1]) == f.places < 40 and f.units[2] == (0, 1, 2)
    drawn = render(NetworkPicture(units, (1, 0), f), 80, 14)
    assert f"h1 +{40 - f.places}" in drawn
    # The hidden units shown are named by number, so a gap in the numbers shows.
    lines = drawn.splitlines()
    assert [lines[f.y(j) + f.h][f.x(1):].split()[0] for j in range(f.places)] == \
        [str(unit + 1) for unit in f.units[1]]


def test_the_cursor_on_the_last_unit_of_a_tall_layer_shows_it_and_its_neighbour():
    run = Run({"data": {"kind": "circle", "n_points": 100}, "model": {"layers": [40, 3]}})
    units = run.unit_maps()
    f = fitted(units, 80, 14, (1, 39))
    assert {38, 39} <= set(f.units[1])
    drawn = render(NetworkPicture(units, (1, 39), f), 80, 14).splitlines()
    place = f.units[1].index(39)
    assert drawn[f.y(place) + f.h // 2][f.x(1) - 1] == "▶"
    assert drawn[f.y(place) + f.h][f.x(1):].startswith("40")


def test_the_output_unit_is_drawn_as_the_decision_boundary():
    """On the boundary's grid, the output unit's map through the sigmoid is the boundary, and
    its zoom is the boundary pane's very picture: same colours, same training points."""
    run = Run({"data": {"kind": "spiral", "n_points": 200}, "model": {"layers": [8]},
               "train": {"seed": 2}})
    run.advance(50)
    units, pictures = run.unit_maps(run.boundary_shape), run.pictures()
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(1 / (1 + np.exp(-units.maps[-1][0])), pictures.boundary,
                                   rtol=1e-12, atol=1e-12)
    points = PlanePoints.of(run.dataset)
    view = View(show_test=True)
    zoom = zoom_picture(units, len(units.widths) - 1, 0, points, view)
    pane = BoundaryPicture(pictures.boundary, pictures.boundary_extent, points.task, points,
                           show_test=True)
    assert isinstance(zoom, BoundaryPicture)
    assert render(zoom, 30, 15, "truecolor") == render(pane, 30, 15, "truecolor")
    # Its legend's squares are the points' colours, in every colour system.
    for ramp in (None, colors.RAMP_256, colors.RAMP_16):
        legend = zoom_legend(zoom, units, len(units.widths) - 1, 0, 30, ramp)
        squares = [span.style for span in legend.spans if "■" in legend.plain[span.start:span.end]]
        assert squares == [colors.hex_color(c) for c in colors.class_colors(ramp)[:2]]
    # A hidden unit's zoom is the unit on its own scale.
    hidden = zoom_picture(units, 1, 3, points, view)
    assert isinstance(hidden, UnitZoom) and hidden.scale == np.abs(units.maps[1][3]).max()


async def test_the_cursor_shows_the_units_incoming_weights_and_bias(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("6")
        for key in ("right", "down", "down"):       # from h1 unit 1 to h2 unit 3
            await pilot.press(key)
        await wait_until(pilot, lambda: app.up_to_date)
        await pilot.pause()
        shown = str(app.query_one("#network-unit").render())
        W, b = app.trainer.runs[0].run.get_params()[1]
        assert "h2 unit 3" in shown
        assert f"bias {signed(b[2]).plain}" in shown
        for i in range(2):
            assert f"h1.{i + 1} {signed(W[i, 2]).plain}" in shown


async def test_the_cursor_reaches_every_unit_of_a_layer_taller_than_the_pane(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("6")
        for _ in range(7):                          # h1 has 8 units; far fewer fit at 80x24
            await pilot.press("down")
        await wait_until(pilot, lambda: app.up_to_date)
        await pilot.pause()
        assert "h1 unit 8" in str(app.query_one("#network-unit").render())
        diagram = app.query_one(NetworkView)
        f = diagram.picture.fit
        assert 7 in f.units[1] and len(f.units[1]) < 8
        assert f"h1 +{8 - len(f.units[1])}" in shown_text(diagram)


async def test_unit_maps_are_computed_only_while_the_pane_is_on_screen(tmp_path):
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:       # tabs: the loss pane first
        await wait_until(pilot, lambda: settled(app)() and app.frame.units == (None, None))
        await pilot.press("6")
        await wait_until(pilot, lambda: app.frame.units[0] is not None and app.up_to_date)
        assert app.frame.units[1] is None               # only the run the pane shows
        assert app.frame.units[0].step == app.frame.snapshots[0].step == 20
        await pilot.press("v")                          # the other variant
        await wait_until(pilot, lambda: app.frame.units[1] is not None and app.frame.units[0] is None)


def test_the_inputs_are_named_under_their_maps():
    run = Run({"data": {"kind": "circle", "n_points": 100, "features": ["x1", "x2", "sin(x1)"]},
               "model": {"layers": [4]}})
    units = run.unit_maps()
    f = fitted(units, 80, 20)
    lines = render(NetworkPicture(units, (1, 0), f), 80, 20).splitlines()
    for j, name in enumerate(units.feature_names):
        assert lines[f.y(j) + f.h][f.x(0):].startswith(name), (name, lines[f.y(j) + f.h])


async def test_the_zoom_follows_the_cursor_and_u_gives_it_the_whole_pane(tmp_path):
    """At 80x24 the cursor's unit is drawn large beside the diagram at once (the pane's key,
    as Playground's pointer over a unit); `u` gives the zoom the pane and back; on the output
    it is the decision boundary's picture."""
    app = create_app(scenario_file(tmp_path, LESSON), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("6")
        zoom, diagram = app.query_one(ZoomView), app.query_one(NetworkView)
        await wait_until(pilot, lambda: app.up_to_date and isinstance(zoom.picture, UnitZoom))
        units = app.frame.units[0]
        assert zoom.display and diagram.display
        assert zoom.size.width >= 2 * 6 and zoom.size.width > diagram.picture.fit.w
        np.testing.assert_array_equal(zoom.picture.values, units.maps[1][0])       # h1 unit 1
        beside = zoom.size.width
        await pilot.press("down")
        await wait_until(pilot, lambda: np.array_equal(zoom.picture.values, units.maps[1][1]))
        await pilot.press("u")
        await wait_until(pilot, lambda: not diagram.display and zoom.size.width > beside)
        np.testing.assert_array_equal(zoom.picture.values, units.maps[1][1])       # the same unit
        for _ in range(3):                          # to the output, in the large view
            await pilot.press("right")
        await wait_until(pilot, lambda: isinstance(zoom.picture, BoundaryPicture))
        assert "out" in str(app.query_one("#network-zoom-legend").render())
        await pilot.press("u")
        await wait_until(pilot, lambda: diagram.display and zoom.size.width == beside)
        # A click on a unit's thumbnail puts the cursor there, as Playground's pointer does.
        await wait_until(pilot, lambda: app.up_to_date)
        f = diagram.picture.fit
        unit = f.units[2][1]
        await pilot.click(NetworkView, offset=(f.x(2) + 1, f.y(1)))
        await wait_until(pilot, lambda: isinstance(zoom.picture, UnitZoom)
                         and np.array_equal(zoom.picture.values, units.maps[2][unit]))
        assert f"h2 unit {unit + 1}" in str(app.query_one("#network-unit").render())


DEAD = """
title = "Dead units"
lesson = "A ReLU layer of 16."

[data]
n_points = 200

[model]
layers = [16]
activation = "relu"

[train]
optimizer = "sgd"
steps = 300
eval_every = 10
"""


async def test_dead_units_are_among_those_shown_and_the_rest_are_counted(tmp_path):
    """The issue's finding: five dead units of sixteen, none among the first units; at 80x24
    the column shows some of them (marked), counts the units left out, and the cursor's unit."""
    app = create_app(scenario_file(tmp_path, DEAD), stop_at=20, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        run = app.trainer.runs[0].run              # paused: the trainer is not touching it
        (W, b), out = run.get_params()
        W[:, 9:14], b[9:14] = 0.0, -1.0            # never fire: no gradient ever revives them
        run.set_params([(W, b), out])
        await pilot.press("6", "n")
        diagram = app.query_one(NetworkView)
        await wait_until(pilot, lambda: app.frame.units[0] is not None
                         and app.frame.units[0].dead(0).sum() == 5 and app.up_to_date)
        await pilot.pause()
        f = diagram.picture.fit
        shown = f.units[1]
        assert len(shown) == f.places < 16
        assert 0 in shown                           # the cursor's
        dead_shown = [unit for unit in shown if 9 <= unit <= 13]
        assert dead_shown                           # the first units were all alive
        text = shown_text(diagram)
        assert text.count(DEAD_MARK) >= len(dead_shown)
        assert f"h1 +{16 - len(shown)}" in text

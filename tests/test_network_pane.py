"""The network pane and what it draws: each unit's map over the plane against an independent
NumPy forward pass, dead units on a constructed network, and the cursor's unit in the app."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

import reference
from conftest import LESSON
from nnsim.core import Run
from nnsim.tui.app import create_app
from nnsim.tui.panes.network import DEAD_MARK, NetworkPicture, fit, signed, unit_text
from pilot import scenario_file, settled, shown_text, wait_until


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
    drawn = render(NetworkPicture(units, (1, 1), fit(units.widths, 60, 20)), 60, 20)
    assert drawn.count(DEAD_MARK) == int(dead.sum())
    assert "dead" in unit_text(units, 1, 1).plain
    assert "dead" not in unit_text(units, 1, 2).plain


def render(picture, width: int, height: int) -> str:
    console = Console(width=width, height=height, color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(picture, height=height)
    return capture.get()


def test_a_wide_layer_shows_its_first_units_and_says_how_many_are_hidden():
    run = Run({"data": {"kind": "circle", "n_points": 100}, "model": {"layers": [40, 3]}})
    units = run.unit_maps()
    f = fit(units.widths, 80, 14)
    assert f.columns == 4 and 1 < f.shown[1] < 40 and f.shown[2] == 3
    assert f"+{40 - f.shown[1]}" in render(NetworkPicture(units, (1, 0), f), 80, 14)


def test_a_column_scrolled_to_a_hidden_unit_shows_it_and_the_links_it_has():
    """Past the last unit shown, the cursor scrolls its column: the window moves down, the
    units above are counted in the title (↑N), the links drawn are the window's own."""
    run = Run({"data": {"kind": "circle", "n_points": 100}, "model": {"layers": [40, 3]}})
    units = run.unit_maps()
    f = fit(units.widths, 80, 14)
    last = units.widths[1] - 1
    scrolled = f.scrolled_to(1, last, units.widths, ())
    assert scrolled.first[1] == last - f.shown[1] + 1 and scrolled.first[0] == 0
    drawn = render(NetworkPicture(units, (1, last), scrolled), 80, 14)
    assert f"h1 ↑{scrolled.first[1]}" in drawn
    back = scrolled.scrolled_to(1, 0, units.widths, scrolled.first)
    assert back.first[1] == 0                       # and back to the top
    assert scrolled.scrolled_to(0, 1, units.widths, scrolled.first).first == scrolled.first


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
        assert "h1 ↑" in shown_text(app.query_one("#network-view"))


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
    f = fit(units.widths, 80, 20)
    lines = render(NetworkPicture(units, (1, 0), f), 80, 20).splitlines()
    for j, name in enumerate(units.feature_names):
        assert lines[f.y(j) + f.h][f.x(0):].startswith(name), (name, lines[f.y(j) + f.h])

"""A unit's bend (core/bends.py): 0 for maps whose level sets are parallel straight lines, up
to 1 for circles; the engine's finite differences against exact gradients of a NumPy network;
and the ``bend`` expectation that reads it."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import reference
from nnsim.core import Run
from nnsim.core.bends import bend, unit_bends
from nnsim.core.config import ConfigError, config_from_dict
from nnsim.core.expectations import parse_expectation
from scenario_helpers import expect, outcome, runs


def test_a_function_of_one_linear_combination_has_no_bend():
    rng = np.random.default_rng(0)
    slopes = rng.normal(size=(500, 3))                    # g'(w.x) at 500 points, 3 maps
    slopes[:200, 1] = 0.0                                 # a ReLU's flat side
    w = np.array([0.3, -1.7])
    np.testing.assert_array_less(bend(slopes * w[0], slopes * w[1]), 1e-12)


def test_circles_bend_fully_and_two_directions_by_their_weights():
    x1, x2 = np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21))
    radial = bend(2 * x1.reshape(-1, 1), 2 * x2.reshape(-1, 1))      # f = x1^2 + x2^2
    assert radial[0] == pytest.approx(1.0, abs=1e-12)
    # Half the points change along x1 at slope 3, half along x2 at slope 1: eigenvalues 9 and 1
    # (times n/2), bend 2 * 1 / (9 + 1).
    gx = np.array([[3.0]] * 50 + [[0.0]] * 50)
    gy = np.array([[0.0]] * 50 + [[1.0]] * 50)
    assert bend(gx, gy)[0] == pytest.approx(0.2, abs=1e-12)


def test_a_map_that_does_not_change_has_no_bend_at_all():
    flat = bend(np.zeros((10, 2)), np.zeros((10, 2)))
    assert np.isnan(flat).all()


def exact_bends(run: Run, shape) -> list[np.ndarray]:
    """Each layer's bends from exact gradients: the Jacobian of every unit by the chain rule
    through ``tests/reference.py``'s network, the structure tensor's eigenvalues by eigvalsh."""
    activations = [run.config.model.activation] * len(run.config.model.layers) + ["linear"]
    layers = [reference.Layer(W, b, name, False) for (W, b), name in zip(run.get_params(), activations)]
    x1_min, x1_max, x2_min, x2_max = run.dataset.plane.extent
    x1, x2 = np.meshgrid(np.linspace(x1_min, x1_max, shape[1]), np.linspace(x2_min, x2_max, shape[0]))
    x = np.column_stack([x1.ravel(), x2.ravel()])                 # plain x1, x2: no scaling
    _, cache = reference.forward(layers, x)
    jacobian = np.broadcast_to(np.eye(2), (len(x), 2, 2))         # (N, 2 inputs, units)
    result = []
    for layer, (_, z) in zip(layers, cache):
        jacobian = np.einsum("nij,jk->nik", jacobian, layer.W) * reference.slope(layer.activation, z)[:, None, :]
        tensor = np.einsum("niu,nju->uij", jacobian, jacobian)   # (units, 2, 2)
        low, high = np.linalg.eigvalsh(tensor).T
        result.append(2 * low / (low + high))
    return result


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_the_engines_bends_are_those_of_the_exact_gradients(activation):
    run = Run({"data": {"kind": "spiral", "n_points": 200},
               "model": {"layers": [6, 5], "activation": activation},
               "train": {"lr": 0.03, "seed": 2}})
    run.advance(300)
    measured = unit_bends(run, (9, 11))
    expected = exact_bends(run, (9, 11))
    assert [len(m) for m in measured] == [6, 5, 1]
    for layer, (got, want) in enumerate(zip(measured, expected)):
        np.testing.assert_allclose(got, np.clip(want, 0, 1), atol=1e-6, err_msg=f"layer {layer}")
    assert np.median(measured[1]) > 0.01 and measured[2][0] > 0.01  # not all straight: a real test


@pytest.mark.parametrize("activation, straight", [
    ("tanh", 1e-9),
    ("relu", 1e-4),     # a grid point within the finite difference of a ReLU's kink leans a little
])
def test_first_layer_maps_are_straight_and_linear_units_keep_every_layer_straight(activation, straight):
    config = {"data": {"kind": "circle", "n_points": 200}, "model": {"layers": [8, 8, 8]},
              "train": {"lr": 0.03, "seed": 1}}
    run = Run({**config, "model": {"layers": [8, 8, 8], "activation": activation}})
    run.advance(200)
    first, *later = unit_bends(run)
    assert np.nanmax(first) < straight
    assert max(np.nanmedian(b) for b in later) > 0.01
    linear = Run({**config, "model": {"layers": [8, 8, 8], "activation": "linear"}})
    linear.advance(200)
    assert max(np.nanmax(b) for b in unit_bends(linear)) < 1e-9


def test_straight_means_straight_in_the_inputs_the_first_layer_sees():
    run = Run({"data": {"kind": "circle", "n_points": 200, "features": ["x1", "x2", "x1^2", "x2^2"]},
               "model": {"layers": [8]}, "train": {"seed": 1}})
    assert np.nanmax(unit_bends(run)[0]) > 0.1           # conics in the plane, lines in (x1, .., x2^2)


def test_data_without_a_plane_has_no_bends():
    assert unit_bends(Run({"data": {"kind": "digits"}, "model": {"layers": [4]}})) is None


def with_bends(name, *layers):
    return replace(outcome(name), bends=tuple(np.array(units, dtype=float) for units in layers))


def test_the_bend_kind_takes_a_statistic_of_a_layers_changing_units():
    one = runs(with_bends("a", [0.0, 1e-15, np.nan], [0.1, 0.3, 0.5, np.nan], [0.9]))
    first = expect({"kind": "bend", "layer": 0, "statistic": "max", "below": 1e-6}, one)
    assert first.passed is True and dict(first.figures)["value"] == pytest.approx(1e-15)
    median = expect({"kind": "bend", "layer": 1, "above": 0.25}, one)
    assert median.passed is True and dict(median.figures)["value"] == pytest.approx(0.3)
    assert expect({"kind": "bend", "layer": 1, "statistic": "min", "above": 0.25}, one).passed is False
    assert expect({"kind": "bend", "layer": -1, "above": 0.95}, one).passed is False
    assert "h2: median bend of 3 units' maps 0.3" in median.message


def test_a_layer_with_no_changing_unit_is_not_measured_and_fails():
    flat = runs(with_bends("a", [np.nan, np.nan], [0.5]))
    result = expect({"kind": "bend", "layer": 0, "below": 1.0}, flat)
    assert result.passed is False and "no unit's map changes" in result.message
    assert math.isnan(dict(result.figures)["value"])


def test_a_running_variant_has_no_bends_yet():
    running = runs(outcome("a", finished=False))
    assert expect({"kind": "bend", "layer": 0, "below": 1.0}, running).passed is None


@pytest.mark.parametrize("table, data, key", [
    ({"kind": "bend", "layer": 0, "statistic": "mean", "below": 1}, {}, "statistic"),
    ({"kind": "bend", "layer": 2, "below": 1}, {}, "layer"),                 # 2 layers: 0, 1
    ({"kind": "bend", "layer": -3, "below": 1}, {}, "layer"),
    ({"kind": "bend", "layer": 0}, {}, "below"),
    ({"kind": "bend", "layer": 0, "below": 1}, {"kind": "digits"}, "variant"),
    ({"kind": "bend", "below": 1}, {}, "layer"),
])
def test_bad_bend_expectations(table, data, key):
    configs = {"a": config_from_dict({"data": data, "model": {"layers": [4]}})}
    with pytest.raises(ConfigError) as info:
        parse_expectation(table, configs)
    assert info.value.key == key

"""The loss landscape (core.landscape): the grid's losses against the NumPy reference at the same
weights, the planes' directions, PCA recovering a path that lies in a plane, the path record's
bounds, the step line, and that a run drawn is a run unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from nnsim.core import landscape as L
from nnsim.core.budget import MIN_TRAJECTORY_ROWS, TRAJECTORY_ROWS, trajectory_rows
from nnsim.core.losses import LOSS_CODE
from nnsim.core.run import Run

LOSS_NAME = {code: name for name, code in LOSS_CODE.items()}


def config(**train):
    return {"data": {"kind": "circle", "n_points": 160, "noise": 0.1},
            "model": {"layers": [6, 5], "activation": "tanh"},
            "train": {"lr": 0.3, "optimizer": "sgd", "batch_size": 16, "steps": 400,
                      "eval_every": 10, "seed": 3, **train}}


def trained(steps: int = 120, **train) -> Run:
    run = Run(config(**train))
    run.record_trajectory(TRAJECTORY_ROWS)
    run.advance(steps)
    return run


def reference_loss(run: Run, params: np.ndarray) -> float:
    """The training loss of ``params`` by the NumPy reference (no kernel in it)."""
    layers = ref.unpack(run.layout.table, params)
    logits, _ = ref.forward(layers, run.dataset.x_train)
    return float(ref.data_loss(LOSS_NAME[run.train_state().loss_code], logits,
                               run.dataset.y_train)[0])


def test_the_grids_losses_are_the_references_at_the_same_weights():
    run = trained()
    land = L.landscape([run], 0, (5, 7))
    assert land.losses.shape == (5, 7)
    for j in (0, 2, 4):
        for i in (0, 3, 6):
            weights = land.plane.origin + land.alphas[i] * land.plane.directions[0] \
                + land.betas[j] * land.plane.directions[1]
            assert land.losses[j, i] == pytest.approx(reference_loss(run, weights), rel=1e-9)


def test_the_grid_at_the_origin_is_the_runs_training_loss():
    run = trained()
    plane = L.pca_plane(run.params.copy(), L.path_points(run)[1])
    losses = L.losses_on_plane(run, plane, np.array([0.0]), np.array([0.0]))
    assert losses[0, 0] == run.evaluate("train")[0]


def test_a_wrong_weight_is_caught():
    """Negative control: the reference notices a point a little off the plane."""
    run = trained()
    land = L.landscape([run], 0, (3, 3))
    weights = land.plane.point(land.alphas[0], land.betas[0]).copy()
    weights[0] += 1e-3
    assert land.losses[0, 0] != pytest.approx(reference_loss(run, weights), rel=1e-9)


def test_pca_directions_are_orthonormal_and_explain_the_path():
    run = trained()
    land = L.landscape([run], 0, (3, 3))
    d = land.plane.directions
    assert land.plane.kind == "pca"
    np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-12)
    assert 0.0 < land.plane.explained <= 1.0
    path = land.paths[0]
    assert path.steps[0] == 0 and path.steps[-1] == run.step
    np.testing.assert_allclose(path.coordinates[-1], 0.0, atol=1e-12)   # the current weights
    start = path.coordinates[0]
    assert start[0] <= 0 and start[1] <= 0


def test_pca_recovers_a_path_that_lies_in_a_plane():
    rng = np.random.default_rng(0)
    n_params = 50
    basis, _ = np.linalg.qr(rng.standard_normal((n_params, 2)))                 # (P, 2)
    origin = rng.standard_normal(n_params)
    t = np.linspace(0, 1, 30)
    coords = np.column_stack([3 * np.cos(4 * t) * (1 - t), np.sin(7 * t) * (1 - t)])   # (n, 2)
    points = origin + coords @ basis.T
    plane = L.pca_plane(origin, points)
    assert plane.explained == pytest.approx(1.0)
    recovered = plane.coordinates(points)
    np.testing.assert_allclose(origin + recovered @ plane.directions, points, atol=1e-10)
    # the same plane: its directions span the basis's
    np.testing.assert_allclose(np.abs(np.linalg.det(plane.directions @ basis)), 1.0, atol=1e-10)
    # a path off the plane is not recovered (negative control)
    bent = points + np.outer(t ** 2, rng.standard_normal(n_params))
    assert L.pca_plane(origin, bent).explained < 0.999


def test_before_a_path_the_plane_is_random_filter_normalised_and_seeded():
    run = Run(config())
    land = L.landscape([run], 0, (3, 3))
    assert land.plane.kind == "random" and np.isnan(land.plane.explained)
    d1, d2 = land.plane.directions
    assert d1 @ d2 == pytest.approx(0.0, abs=1e-12)
    for (W, b), (D, db) in zip(run.layout.unflatten(run.params), run.layout.unflatten(d1)):
        np.testing.assert_allclose(np.linalg.norm(D, axis=0), np.linalg.norm(W, axis=0))
        assert not db.any()
    again = L.landscape([run], 0, (3, 3))
    np.testing.assert_array_equal(again.plane.directions, land.plane.directions)


def test_runs_that_share_a_start_share_the_plane():
    fast, slow = trained(lr=0.3), trained(lr=0.05)
    slow.name = "slow"
    land = L.landscape([fast, slow], 0, (3, 3))
    assert [p.name for p in land.paths] == [fast.name, "slow"]
    np.testing.assert_allclose(land.paths[1].coordinates[0], land.paths[0].coordinates[0])
    other = Run(config(seed=4))
    other.record_trajectory(TRAJECTORY_ROWS)
    assert len(L.landscape([fast, other], 0, (3, 3)).paths) == 1


def test_drawing_the_landscape_changes_nothing():
    run, twin = trained(), trained()
    L.landscape([run], 0, (4, 4))
    L.step_line(run)
    run.advance(50)
    twin.advance(50)
    np.testing.assert_array_equal(run.params, twin.params)
    assert run.history.train_loss.tolist() == twin.history.train_loss.tolist()


def test_recording_the_path_changes_no_result():
    recorded, plain = trained(), Run(config())
    plain.advance(120)
    np.testing.assert_array_equal(recorded.params, plain.params)


def test_the_path_is_bounded_and_thinned_by_index():
    trajectory = L.Trajectory(3, 8)
    for check in range(40):
        trajectory.add(10 * check, np.full(3, float(check)))
    steps = trajectory.steps
    assert len(steps) <= 8
    assert steps[0] == 0 and np.all(np.diff(steps) == steps[1] - steps[0])
    np.testing.assert_array_equal(trajectory.weights[:, 0], steps / 10)


def test_the_paths_memory_is_estimated_before_it_is_kept():
    assert trajectory_rows(337, None) == TRAJECTORY_ROWS
    assert trajectory_rows(10**9, None) == 0
    assert trajectory_rows(1000, 8 * 1000 * MIN_TRAJECTORY_ROWS) == 0     # little memory free


def test_the_step_line_lands_where_the_run_does():
    run = trained()
    line = L.step_line(run)
    twin = trained()
    twin.advance(1)
    assert line.step == run.step and line.t[0] == 0.0 and line.t[-1] == L.LINE_STEPS
    assert line.losses[0] == run.evaluate("train")[0]
    assert line.landed == pytest.approx(twin.evaluate("train")[0], rel=1e-9)
    assert line.step_length == pytest.approx(np.linalg.norm(twin.params - run.params), rel=1e-9)


def test_a_rate_too_high_overshoots_the_line_and_too_low_stops_short():
    """Full batch: the step follows the training loss's own gradient (a mini-batch's may
    point uphill on the whole split)."""
    assert L.step_line(trained(steps=60, lr=30.0, batch_size=0)).lowest < 1.0
    assert L.step_line(trained(steps=60, lr=0.01, batch_size=0)).lowest > 1.0


def test_the_dashboards_work_shrinks_the_grid_then_the_rows():
    assert L.within(None, (30, 30), 10**4, 10**4) == ((30, 30), 10**4)
    assert L.within(1e9, (20, 20), 100, 1000) == ((20, 20), 1000)         # it fits
    assert L.within(2e7, (20, 20), 100, 1000) == ((14, 14), 1000)        # a coarser grid
    assert L.within(1e6, (20, 20), 100, 1000) == ((12, 12), 69)          # then fewer rows
    (rows, cols), examples = L.within(1e6, (32, 16), 10**4, 1000)
    assert min(rows, cols) == L.MIN_GRID and rows == 2 * cols             # its shape kept
    assert examples == max(L.MIN_ROWS, int(1e6 // (rows * cols * 10**4)))


def test_a_grid_on_fewer_rows_is_the_reference_on_those_rows():
    run = trained()
    land = L.landscape([run], 0, (30, 30), work=2e5)
    assert land.examples < land.train_rows and land.losses.shape[0] < 30
    weights = land.plane.point(land.alphas[1], land.betas[2])
    layers = ref.unpack(run.layout.table, weights)
    logits, _ = ref.forward(layers, run.dataset.x_train[:land.examples])
    expected = ref.data_loss(LOSS_NAME[run.train_state().loss_code], logits,
                             run.dataset.y_train[:land.examples])[0]
    assert land.losses[2, 1] == pytest.approx(expected, rel=1e-9)
    line = L.step_line(run, work=2e4)
    assert line.examples < line_full_rows(run) and len(line.t) == L.LINE_POINTS


def line_full_rows(run) -> int:
    return len(run.dataset.y_train)

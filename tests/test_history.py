"""The bounded history: one row per check, thinned as it fills, constant memory.

Which checks survive is stated here independently of the code: after ``n`` checks into a
buffer of ``capacity`` rows, the kept checks are the multiples of the smallest power of two
``stride`` with ``ceil(n / stride) <= capacity``.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from nnsim.core import Run
from nnsim.core.history import HistoryBuffer

N_LAYERS = 2
CAPACITY = inspect.signature(HistoryBuffer).parameters["capacity"].default


def kept_checks(n: int, capacity: int) -> np.ndarray:
    stride = 1
    while math.ceil(n / stride) > capacity:
        stride *= 2
    return np.arange(0, n, stride)


def append_check(buffer: HistoryBuffer, i: int) -> None:
    """Check ``i`` with values that say which check they came from."""
    buffer.append(10 * i, i // 3, 1.0 / (i + 1), 2.0 * i, 3.0 * i, 0.5, 0.25, 4.0 * i, 5.0 * i,
                  np.array([i, -i], float), np.array([i + 0.5, -i - 0.5]))


@pytest.mark.parametrize("n", [1, 7, 8, 9, 16, 17, 31, 33, 100, 1000])
def test_kept_rows_are_every_stride_th_check(n):
    buffer = HistoryBuffer(N_LAYERS, capacity=8)
    for i in range(n):
        append_check(buffer, i)
    history = buffer.view()
    kept = kept_checks(n, 8)
    assert len(history) == len(kept) <= 8
    np.testing.assert_array_equal(history.step, 10 * kept)
    np.testing.assert_array_equal(history.epoch, kept // 3)
    np.testing.assert_array_equal(history.lr, 1.0 / (kept + 1))
    np.testing.assert_array_equal(history.train_loss, 2.0 * kept)
    np.testing.assert_array_equal(history.val_loss, 3.0 * kept)
    np.testing.assert_array_equal(history.batch_loss, 4.0 * kept)
    np.testing.assert_array_equal(history.batch_loss_std, 5.0 * kept)
    np.testing.assert_array_equal(history.grad_norms, np.column_stack([kept, -kept]))
    np.testing.assert_array_equal(history.update_ratios, np.column_stack([kept + 0.5, -kept - 0.5]))
    assert history.step.dtype == history.epoch.dtype == np.int64


def test_view_is_a_read_only_copy_and_clear_empties():
    buffer = HistoryBuffer(N_LAYERS, capacity=4)
    for i in range(3):
        append_check(buffer, i)
    history = buffer.view()
    with pytest.raises(ValueError):
        history.val_loss[0] = 1.0
    for i in range(3, 20):
        append_check(buffer, i)
    np.testing.assert_array_equal(history.step, [0, 10, 20])     # unchanged by later appends
    buffer.clear()
    assert len(buffer.view()) == 0
    append_check(buffer, 0)
    np.testing.assert_array_equal(buffer.view().step, [0])


def test_one_row_per_check_with_the_snapshot_values():
    run = Run({"data": {"kind": "circle", "n_points": 100}, "model": {"layers": [4]},
               "train": {"eval_every": 5, "steps": 60}})
    snapshots = [run.snapshot()] + [run.advance(5) for _ in range(12)]
    history = snapshots[-1].history
    np.testing.assert_array_equal(history.step, np.arange(0, 61, 5))
    for name in ("epoch", "lr", "train_loss", "val_loss", "train_acc", "val_acc"):
        np.testing.assert_array_equal(getattr(history, name), [getattr(s, name) for s in snapshots])
    np.testing.assert_array_equal(history.grad_norms[1:], [s.grad_norms for s in snapshots[1:]])


def test_a_long_run_holds_a_bounded_history():
    """4·10⁴ steps with a check after every one (the buffer thins five times): the record
    stays within the buffer's capacity, keeps its first check and stays in step order."""
    steps = 40_000
    run = Run({"data": {"kind": "circle", "n_points": 20}, "model": {"layers": [2]},
               "train": {"eval_every": 1, "steps": steps, "batch_size": 0, "lr": 0.001}})
    for _ in range(8):
        history = run.advance(steps // 8).history
        assert len(history) <= CAPACITY
        assert history.step[0] == 0 and np.all(np.diff(history.step) > 0)
    assert run.step == steps
    np.testing.assert_array_equal(history.step, kept_checks(steps + 1, CAPACITY))
    assert sum(getattr(history, f).nbytes for f in history.__dataclass_fields__) <= \
        CAPACITY * 8 * (7 + 2 * run.layout.n_layers)

"""Shared test helpers. ``import reference`` (tests/reference.py) works because pytest puts
this folder on sys.path."""

from __future__ import annotations

import dataclasses
import re
import signal
import time

import numpy as np
import pytest
import textual.constants
from textual.pilot import Pilot

# The dashboard draws for the terminal it is in: with 256 or 16 colours its heat maps take
# stepped ramps (tui/colors.py). Tests and snapshots draw in true colour whatever TERM the
# machine running them has (xterm here, unset in CI); an app reads this as it starts.
textual.constants.COLOR_SYSTEM = "truecolor"

# Every wait in the suite gives up only after this many seconds: a condition that is going to
# hold holds within a second or two on an idle machine, and a loaded one (two other CPU-bound
# processes on two cores) must never make correct code fail.
PATIENCE = 120.0

# Textual's pilot waits for the screen to take its pending messages at every press, resize and
# pause, and gives up after 30 s: at load 20 four resizes with the controls open took longer
# (WaitForScreenTimeout). Its waits get the suite's patience instead.
_wait_for_screen = Pilot._wait_for_screen


async def _patient_wait_for_screen(self, timeout: float = PATIENCE) -> bool:
    return await _wait_for_screen(self, timeout=max(timeout, PATIENCE))


Pilot._wait_for_screen = _patient_wait_for_screen


def pytest_sessionstart(session):
    """With pytest-xdist, compile (or load) the training kernels once here, before the workers
    start: on a fresh clone they would otherwise all compile the same kernels at once, each
    paying the whole compile on a shared machine (the saves themselves are safe: core/jit.py
    locks them)."""
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return                      # a worker, or no workers at all
    from nnsim.core import warmup
    from nnsim.executor import warm_kernels

    warm_kernels()
    warmup.ensure("later")          # what the step-through and the landscape use, compiled once


# The kernels as the product loads them, before any test calls one by itself. A kernel loaded
# from Numba's cache calls the copy of a callee (``optimizer_step``) that the process loaded
# first, and the copies need not round alike (the contract and arcp flags let a copy optimised
# inside its caller fuse or divide differently): nnsim's processes load a Run's
# kernels, then the step-through's, and every copy they call is the training kernel's. A test
# that called ``optimizers.optimizer_step`` first would make later kernels in its worker call
# that copy, and the step-through's Adam update then differed from the run's in the last bit
# (seen on an idle machine, where test order put test_optimizers between the two loads).
SMALL_ADAM = {"data": {"kind": "circle", "n_points": 40}, "model": {"layers": [3]},
              "train": {"optimizer": "adam", "batch_size": 8, "steps": 4, "eval_every": 2}}


@pytest.fixture(scope="session", autouse=True)
def kernels_loaded_as_the_product_loads_them():
    from nnsim.core import Run
    from nnsim.core.trace import trace_step

    run = Run(SMALL_ADAM)
    run.advance(2)
    trace_step(run)


def poll_until(condition, what: str, timeout: float = PATIENCE):
    """Poll ``condition`` from this thread until it returns something true (a process, a browser
    or a terminal to get somewhere); its value, or AssertionError. A dashboard in a pilot test
    is awaited with ``pilot.wait_until`` instead, which lets the app run meanwhile."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
    return value

def interruptible() -> None:
    """``preexec_fn`` for a child a test sends SIGINT: Ctrl-C's default, as a terminal's
    foreground job has it. A suite started in the background (``nohup pytest &``) hands its
    children SIGINT ignored, and the child rightly never ends on it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# A two-variant lesson for the dashboard's tests: an event for one variant and one for both.
LESSON = """
title = "Two optimizers on a spiral"
summary = "Adam against SGD, side by side."
lesson = "Both start from the same weights; watch which loss falls first."

[data]
kind = "spiral"
n_points = 200

[model]
layers = [8, 8]

[train]
steps = 300
eval_every = 10

[[variant]]
name = "adam"

[[variant]]
name = "sgd"
train = { optimizer = "sgd", lr = 0.3 }

[[event]]
at_step = 100
variant = "sgd"
set = { "train.lr" = 0.1 }
say = "SGD slows down to lr 0.1."

[[event]]
at_step = 200
say = "Two thirds of the way."

[[expect]]
kind = "no_divergence"
variant = "adam"
"""

# One run, no events: the controls panel's tests.
SINGLE = """
title = "One run"
lesson = "A small network on the spiral."

[data]
n_points = 200

[train]
steps = 200
eval_every = 10
"""

ENDLESS = LESSON.replace("steps = 300", "steps = 1000000")     # still running when paused
# Without its scripted events: a narration about one run would select that run on screen.
QUIET_ENDLESS = re.sub(r"\[\[event\]\][^[]*", "", ENDLESS)


def _assert_identical(a, b, where: str = "value") -> None:
    """Bit-for-bit equality of snapshots, histories, arrays and numbers (NaN equals NaN only
    with the same bits)."""
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            _assert_identical(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (np.ndarray, float)):
        a, b = np.asarray(a), np.asarray(b)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), where
        assert a.tobytes() == b.tobytes(), f"{where} differs"
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture
def assert_identical():
    """``assert_identical(a, b)``: every field of two snapshots (or arrays) equal bit for bit."""
    return _assert_identical


def pytest_collection_modifyitems(items):
    """The dashboard's tests first: each takes seconds where most take milliseconds, and
    pytest-xdist's workers steal from the end of one another's queues, so a long test left for
    last keeps one core busy while the other has finished (the idle suite ended on a 52 s
    test). The order within each part is kept."""
    items.sort(key=lambda item: not item.path.name.startswith(("test_tui", "test_serve")))

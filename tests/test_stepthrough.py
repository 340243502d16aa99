"""The step-through screen, driven as a learner drives it: its keys walk the phases forward and
back, and the step it shows is the step the dashboard's run takes, bit for bit."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from nnsim.core import Run
from nnsim.tui.app import create_app
from nnsim.tui.diagram import PHASES
from nnsim.tui.stepthrough import StepThroughScreen

pytestmark = pytest.mark.asyncio

TIMEOUT = 60.0
SMALL = """
title = "A small network"
lesson = "Two hidden layers on a circle, small batches."

[data]
kind = "circle"
n_points = 80

[model]
layers = [5, 4]
dropout = {dropout}

[train]
optimizer = "{optimizer}"
lr = 0.05
batch_size = 8
steps = 1000000
eval_every = 5
"""


def small_app(tmp_path, optimizer: str = "sgd", dropout: float = 0.0, stop_at: int = 7):
    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(optimizer=optimizer, dropout=dropout))
    return create_app(str(path), seed=3, stop_at=stop_at, show_speed=False, chunk_steps=3)


async def wait_until(pilot, condition, timeout: float = TIMEOUT) -> None:
    """Let the app run until ``condition()`` holds (polling, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the app did not get there in time"
        await pilot.pause(0.02)


def text_of(screen: StepThroughScreen, widget: str = "#st-story") -> str:
    """What a widget of the screen shows, as plain text."""
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(screen.query_one(widget).content)
    return console.export_text()


async def open_step_through(pilot, stop_at: int = 7) -> StepThroughScreen:
    """Wait for the runs to pause at ``stop_at``, press p, wait for the trace."""
    app = pilot.app
    await wait_until(pilot, lambda: app.frame is not None and app.frame.state == "paused"
                     and app.frame.step == stop_at)
    await pilot.press("p")
    await wait_until(pilot, lambda: isinstance(app.screen, StepThroughScreen)
                     and app.screen.trace is not None)
    return app.screen


@pytest.mark.parametrize("forward, back", [("right", "left"), ("space", "b"), ("n", "left")])
async def test_each_phase_key_walks_forward_and_back(tmp_path, forward, back):
    app = small_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step_through(pilot)
        trace = screen.trace
        seen = []
        for phase in range(len(PHASES)):
            assert screen.look.phase == phase
            seen.append(text_of(screen))
            if phase < len(PHASES) - 1:
                await pilot.press(forward)
        assert len(set(seen)) == len(PHASES)        # every phase draws something of its own
        for phase in range(len(PHASES) - 1, 0, -1):
            await pilot.press(back)
            assert screen.look.phase == phase - 1
            assert text_of(screen) == seen[phase - 1]
        await pilot.press(back)                      # nothing before the forward pass
        assert screen.look.phase == 0 and screen.trace is trace
        for _ in range(len(PHASES)):
            await pilot.press(forward)
        # Past the update: the next step, traced from where the run now is.
        await wait_until(pilot, lambda: screen.trace is not trace and screen.trace is not None)
        assert screen.trace.step == trace.step + 1 and screen.look.phase == 0


@pytest.mark.parametrize("dropout", [0.0, 0.3], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
async def test_the_update_shown_is_the_step_the_run_takes(tmp_path, optimizer, dropout,
                                                        assert_identical):
    """After phase 4 the dashboard's run is one step further, with the weights the update
    showed, and those are one ``advance(1)`` of an identical run."""
    app = small_app(tmp_path, optimizer, dropout)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step_through(pilot)
        trace = screen.trace
        assert app.trainer.runs[0].step == trace.step       # tracing takes no step
        for _ in range(len(PHASES) - 1):
            await pilot.press("right")
        await wait_until(pilot, lambda: app.frame.step == trace.step + 1)
        shown = [a for layer in trace.layers for a in (layer.weights_after, layer.biases_after)]
        trained = [a for W, b in app.trainer.runs[0].run.get_params() for a in (W, b)]
        assert_identical(shown, trained)
        assert app.trainer.runs[0].step == trace.step + 1
        await pilot.press("left")                            # looking back takes no step again
        await pilot.press("right")
        await pilot.pause()
    identical = Run(app.scenario.variants[0].config)
    identical.advance(trace.step)
    identical.advance(1)
    assert_identical(shown, [a for W, b in identical.get_params() for a in (W, b)])
    assert app.frame.step == trace.step + 1
    if dropout:
        assert all((layer.dropout_mask == 0).any() for layer in trace.layers[:-1])


async def test_exact_example_and_layer_keys_change_only_the_view(tmp_path):
    app = small_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step_through(pilot)
        story = lambda: text_of(screen)   # noqa: E731
        rounded = story()
        await pilot.press("x")
        assert screen.look.exact and story() != rounded
        assert repr(float(screen.trace.layers[0].pre_activations[0, 0])) in story()
        await pilot.press("x", "down")
        assert screen.look.example == 1 and story() != rounded
        await pilot.press("up", "right_square_bracket")
        assert screen.look.example == 0 and screen.look.layer == 1 and story() != rounded
        await pilot.press("escape")
        assert not isinstance(app.screen, StepThroughScreen)
        assert app.frame.step == screen.trace.step and app.frame.state == "paused"


async def test_the_learning_loop_replay_opens_the_step_through():
    app = create_app("learning-loop", seed=0, replay=True, show_speed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, StepThroughScreen)
                         and app.screen.trace is not None)
        assert app.screen.trace.step == 0
        assert len(app.screen.trace.batch_rows) == 14       # every training example, each step


async def test_a_traced_step_is_not_taken_once_the_run_moved_on(tmp_path):
    """The trainer takes a traced step only from where it was traced (a reset, another step
    or a new run in between would make the shown update a lie)."""
    from nnsim.core.scenario import load_scenario
    from nnsim.tui.requests import TakeTraced, Trace
    from nnsim.tui.worker import Trainer

    path = tmp_path / "small.toml"
    path.write_text(SMALL.format(optimizer="sgd", dropout=0.0))
    trainer = Trainer(load_scenario(str(path), seed=3))
    trainer.open()
    run = trainer.runs[0].run
    trainer.handle(Trace(0))
    run.advance(1)
    before = run.params.copy()
    trainer.handle(TakeTraced())
    assert run.step == 1 and run.params.tobytes() == before.tobytes()
    trainer.handle(Trace(0))
    trainer.handle(TakeTraced())
    assert run.step == 2

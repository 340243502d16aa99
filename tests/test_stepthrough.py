"""The step-through screen, driven as a learner drives it: its keys walk the phases forward and
back, and the step it shows is the step the dashboard's run takes, bit for bit."""

from __future__ import annotations

import io
import re
import threading

import pytest
from rich.console import Console

from nnsim.core import Run
from nnsim.core.trace import trace_step
from nnsim.tui.app import create_app
from nnsim.tui.diagram import PHASES, Look, story
from nnsim.tui.stepthrough import StepThroughScreen
from conftest import PATIENCE
from pilot import wait_until


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


# --- every number on screen, redone from the numbers beside it ------------------------------

NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
NETWORKS = {   # the scenario tables of a few networks a learner steps through
    "tiny-sgd": {"model": {"layers": [3]}, "train": {"optimizer": "sgd", "lr": 0.1}},
    "momentum-dropout": {"model": {"layers": [5, 4], "dropout": 0.3},
                         "train": {"optimizer": "momentum", "lr": 0.05}},
    "adam-residual-penalised": {"model": {"layers": [4, 4, 4], "residual": True},
                                "train": {"optimizer": "adam", "l2": 0.01, "l1": 0.01,
                                          "l1_mode": "subgradient", "clip_norm": 0.05}},
}


def story_text(trace, phase: int, example: int) -> str:
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(story(trace, Look(phase=phase, example=example)))
    return console.export_text()


def numbers_after(text: str, pattern: str) -> tuple[float, ...]:
    """The numbers a line of the story shows where ``pattern`` (a regex with NUMBER groups) is."""
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in:\n{text}"
    return tuple(float(group) for group in found.groups())


def agrees(shown: float, computed: float, *factors: float) -> None:
    """A number printed to 3 significant figures against one computed from others printed so:
    each carries up to half a unit of its third figure."""
    slack = 5e-3 * (abs(shown) + sum(abs(f) for f in factors) + abs(computed)) + 1e-12
    assert abs(shown - computed) <= slack, (shown, computed)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("network", NETWORKS)
def test_every_number_on_screen_follows_from_those_beside_it(network, seed):
    """Issue 26: the mean loss and its ÷B, each chain-rule product from the output back, a
    weight's gradient and its update, read off the rendered story of one followed example."""
    tables = NETWORKS[network]
    run = Run({"data": {"kind": "circle", "n_points": 80},
               "model": tables["model"],
               "train": {**tables["train"], "batch_size": 12, "steps": 100, "seed": seed}})
    run.advance(3 + seed)
    trace = trace_step(run)
    example = seed % len(trace.batch_rows)
    rows = len(trace.batch_rows)
    # 2. Loss: the batch's mean, and where dL/dlogits starts.
    text = story_text(trace, 1, example)
    total, divisor, loss = numbers_after(text, rf"losses' sum {NUMBER} ÷ (\d+) = {NUMBER}")
    assert divisor == rows
    agrees(loss, total / rows, total)
    prediction, target = numbers_after(text, rf"prediction {NUMBER}, target {NUMBER}")
    own, divisor, dlogit = numbers_after(
        text, rf"own gradient, \(p - y\) = {NUMBER}, ÷ (\d+) .*dL/dlogit = {NUMBER}")
    agrees(own, prediction - target, prediction)
    agrees(dlogit, own / divisor, own)
    # 3. Backpropagation: dL/da = Σ dL/dz × w (+ skip), then × mask × act'(z).
    text = story_text(trace, 2, example)
    for line in re.findall(r"h\d+, unit 1: dL/da = .*", text):
        products = [(float(a), float(b)) for a, b in re.findall(rf"\({NUMBER}×{NUMBER}\)", line)]
        skip = numbers_after(line, rf"skip {NUMBER}")[0] if "skip" in line else 0.0
        (grad_output,) = numbers_after(line, rf"= {NUMBER}(?:;|$)")
        terms = [a * b for a, b in products] + [skip]
        agrees(grad_output, sum(terms), *terms)
        mask = numbers_after(line, rf"× mask {NUMBER}")[0] if "mask" in line else 1.0
        slope, delta = numbers_after(line, rf"'\(z\) {NUMBER} → dL/dz = {NUMBER}")
        agrees(delta, grad_output * mask * slope, grad_output * mask * slope)
    x, delta, contribution = numbers_after(text, rf"'s: {NUMBER} × {NUMBER} = {NUMBER}")
    agrees(contribution, x * delta, x * delta)
    # 4. Update: the followed weight, before → after.
    text = story_text(trace, 3, example)
    (rate,) = numbers_after(text, rf"lr = {NUMBER};")
    change, before, after = numbers_after(text, rf"Δw = {NUMBER}: w {NUMBER} → {NUMBER}")
    agrees(after, before + change, before, change)
    gradient = numbers_after(text, rf"weight in1→u1 = {NUMBER}: its gradient {NUMBER}")[1]
    if network == "tiny-sgd":
        agrees(change, -rate * gradient, rate * gradient)
    elif network == "momentum-dropout":
        momentum, velocity_before, g, velocity = numbers_after(
            text, rf"velocity = {NUMBER}×{NUMBER} \+ {NUMBER} = {NUMBER}")
        agrees(g, gradient)
        agrees(velocity, momentum * velocity_before + g, velocity_before, g)
        agrees(change, -rate * velocity, rate * velocity)
    else:
        (penalised,) = numbers_after(text, rf"= {NUMBER} → {NUMBER} \(the penalty")[1:]
        norm, clip, scale, used = numbers_after(
            text, rf"every parameter {NUMBER} > clip {NUMBER}: × {NUMBER} → {NUMBER}")
        agrees(scale, clip / norm, clip)
        agrees(used, penalised * scale, penalised * scale)
        beta1, m0, rest, g, m = numbers_after(
            text, rf"m = {NUMBER}×{NUMBER} \+ {NUMBER}×{NUMBER} = {NUMBER}")
        agrees(g, used)
        agrees(m, beta1 * m0 + rest * g, m0, g)
    norms = story_text(trace, 2, example).split("‖dL/dW‖ from the output back: ")[1].split("\n")[0]
    assert "+" not in norms and "-" not in norms.replace("←", "")


async def test_p_while_the_runs_start_says_so_then_shows_the_first_step(tmp_path, monkeypatch):
    """Issue 26: p before the first frame opens a screen that says the runs are starting (never
    an empty one), and the first step arrives on it once they have."""
    from nnsim.tui.worker import Trainer

    started = threading.Event()
    open_runs = Trainer.open

    def open_when_told(trainer):
        started.wait(PATIENCE)
        open_runs(trainer)

    monkeypatch.setattr(Trainer, "open", open_when_told)
    app = small_app(tmp_path, stop_at=0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, StepThroughScreen) and app.frame is None
        assert "The runs are starting" in text_of(screen, "#st-diagram")
        started.set()
        await wait_until(pilot, lambda: screen.trace is not None)
        assert screen.trace.step == 0 and "Example 1, h1, unit 1" in text_of(screen)


async def test_at_160x48_the_boundary_fills_the_room_and_marks_the_followed_example(tmp_path):
    app = small_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_step_through(pilot)
        boundary = screen.query_one("#st-boundary")
        await wait_until(pilot, lambda: boundary.picture is not None)
        await pilot.pause()
        used = (screen.query_one("#st-diagram").region.height + boundary.region.height)
        assert used >= 40 and boundary.region.width >= 70
        assert boundary.picture.followed == int(screen.trace.batch_rows[0])
        await pilot.press("down")
        assert boundary.picture.followed == int(screen.trace.batch_rows[1])
        assert "example 2" in str(boundary.border_subtitle)
        # The story beside it follows example 2 as well.
        assert "Example 2, h1, unit 1: z =" in text_of(screen).replace("\n", " ")
        for _ in range(len(PHASES) - 1):
            await pilot.press("right")
        await wait_until(pilot, lambda: screen.boundary_step == screen.trace.step + 1)
        assert f"at step {screen.trace.step + 1}" in str(boundary.border_title)


async def test_at_80x24_no_boundary_takes_the_story_s_room(tmp_path):
    app = small_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_step_through(pilot)
        assert not screen.query_one("#st-boundary").display or \
            screen.query_one("#st-boundary").region.height == 0
        assert screen.query_one("#st-story-scroll").region.height >= 8

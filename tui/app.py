"""The live training dashboard: ``nnsim`` / ``nnsim SCENARIO`` in a terminal.

A thread worker (``worker.Trainer``) trains every variant of the scenario and hands immutable
snapshots to the app; the panes draw them at most ``REDRAW_SECONDS`` apart. Keys become
commands on the trainer's queue; the panes never touch a run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one BLAS thread: the worker is the parallelism

import dataclasses
import sys
import time
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.widgets import Footer, Tab, Tabs
from textual.worker import Worker, WorkerState, get_current_worker

from ..core.scenario import Scenario, ScenarioError, builtin_names, load_scenario
from .commands import DashboardCommands
from .export import export_metrics
from .panes import View
from .panes.boundary import BoundaryPane
from .panes.gradients import GradientsPane
from .panes.lesson import LessonPane
from .panes.plot import RenderCost
from .panes.loss import LossPane
from .panes.status import StatusLine
from .panes.weights import WeightsPane
from .screens import HelpScreen, ScenarioPicker
from .worker import Narration, Notice, Progress, ProgressReady, RunsBuilt, Trainer

PLAYGROUND = "playground"       # `nnsim` alone; it trains until paused
REDRAW_SECONDS = 0.1            # panes redraw at most ten times a second
UI_SHARE = 0.15                 # and spend at most this share of the time drawing: the
                                # drawing holds the GIL that the training thread needs too
SWITCH_INTERVAL = 0.001         # hand the GIL to the training thread sooner than Python's 5 ms
COMPILING_AFTER = 1.5           # seconds without a first snapshot before saying "compiling"

LEARNING_RATE = Binding.Group("LR", compact=True)

PANES = (   # id, tab label, widget
    ("loss", "Loss", LossPane),
    ("boundary", "Boundary", BoundaryPane),
    ("gradients", "Gradients", GradientsPane),
    ("weights", "Weights", WeightsPane),
    ("lesson", "Lesson", LessonPane),
)


class NnsimApp(App[int]):
    """Trains a scenario while you watch; see the module docstring."""

    CSS_PATH = "nnsim.tcss"
    TITLE = "nnsim"
    COMMANDS = App.COMMANDS | {DashboardCommands}
    # Below 150 columns or 40 rows the panes become tabs; above, a grid of all of them.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [
        Binding("space", "toggle_pause", "Pause", id="pause", tooltip="Pause or resume training"),
        Binding("n", "step", "Step", id="step", tooltip="One training step (pauses first)"),
        Binding("r", "reset", "Reset", id="reset",
                tooltip="Reset every run to its initial weights, step 0 (settings kept)"),
        Binding("plus,equals_sign", "scale_lr(2.0)", "LR×2", id="lr-up", key_display="+",
                tooltip="Double the learning rate", group=LEARNING_RATE),
        Binding("minus", "scale_lr(0.5)", "LR÷2", id="lr-down", key_display="-",
                tooltip="Halve the learning rate", group=LEARNING_RATE),
        Binding("d", "dropout", "Drop", id="dropout", tooltip="Dropout on or off"),
        Binding("o", "optimizer", "Optim", id="optimizer",
                tooltip="Next optimizer (sgd, momentum, nesterov, rmsprop, adam, adamw)"),
        Binding("s", "pick_scenario", "Lesson", id="scenario", tooltip="Choose another lesson"),
        Binding("question_mark", "help", "Help", id="help", key_display="?",
                tooltip="Keys and what each pane shows"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit"),
        Binding("l", "log_scale", "Log", id="log-scale", tooltip="Loss on a log or a linear scale"),
        Binding("e", "export", "Export", id="export",
                tooltip="Export the metrics (CSV) and a screenshot (SVG) to the working directory"),
        Binding("m", "smooth", "Smooth", id="smooth", show=False, tooltip="Smooth the loss curves"),
        Binding("v", "next_variant", "Variant", id="variant", show=False,
                tooltip="Show the next variant in the per-run panes"),
        Binding("left_square_bracket", "layer(-1)", "Layer", id="layer-prev", key_display="[",
                show=False, tooltip="Previous layer in the weights pane"),
        Binding("right_square_bracket", "layer(1)", "Layer", id="layer-next", key_display="]",
                show=False, tooltip="Next layer in the weights pane"),
        Binding("enter", "resume", "Go on", id="resume", show=False,
                tooltip="Resume (after a narration in --replay)"),
        *(Binding(str(i), f"show_pane('{pane}')", label, id=f"pane-{pane}", show=False,
                  tooltip=f"Show the {label.lower()} pane (narrow screens)")
          for i, (pane, label, _) in enumerate(PANES, start=1)),
    ]

    def __init__(self, scenario: Scenario, *, open_ended: bool = False, seed: int | None = None,
                 replay: bool = False, autoplay: bool = False, stop_at: int | None = None,
                 show_speed: bool = True, chunk_steps: int | None = None) -> None:
        super().__init__()
        self.scenario = scenario
        self.open_ended = open_ended
        self.seed = seed
        self.replay = replay
        self.autoplay = autoplay
        self.stop_at = stop_at
        self.show_speed = show_speed
        self.chunk_steps = chunk_steps
        self.view = View()
        self.trainer: Trainer | None = None
        self.progress: Progress | None = None
        self.failure = ""               # why training stopped with an error, if it did
        self._stale: set[str] = set()          # panes not yet showing self.progress
        self._rotation = [pane for pane, _, _ in PANES]     # least recently drawn first
        self._urgent = False
        self._last_draw = 0.0
        self._draw_interval = REDRAW_SECONDS
        self._cost_mark = 0.0
        self._switch_interval = sys.getswitchinterval()
        self._started = 0.0
        self._spinner = 0

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        # Kept as attributes: messages arrive while a modal screen (help, palette) is on top,
        # and ``query_one`` would search that screen.
        self.panes = {pane: widget(id=pane, classes="pane") for pane, _, widget in PANES}
        self.status = StatusLine(id="status", show_speed=self.show_speed)
        self.tabs = Tabs(*(Tab(label, id=f"tab-{pane}") for pane, label, _ in PANES), id="pane-tabs")
        yield self.tabs
        with Container(id="panes") as self.grid:
            yield from self.panes.values()
        yield self.status
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.panes["loss"].add_class("-active")
        self.set_interval(0.1, self._tick)
        self.start_training()

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        pane = event.tab.id.removeprefix("tab-")
        for other, _, _ in PANES:
            self.panes[other].set_class(other == pane, "-active")
        self._draw(force=True)

    # ------------------------------------------------------------------ training

    def start_training(self) -> None:
        """A fresh trainer for ``self.scenario``; any previous one is cancelled."""
        self.trainer = Trainer(
            self.scenario, open_ended=self.open_ended, stop_at=self.stop_at,
            hold_on_narration=self.replay and not self.autoplay, chunk_steps=self.chunk_steps)
        self.progress = None
        self.failure = ""
        self._started = time.monotonic()
        self.panes["lesson"].set_scenario(self.scenario)
        self.panes["boundary"].clear()
        self.sub_title = self.scenario.title
        self._train(self.trainer)

    @work(thread=True, exclusive=True, group="training", exit_on_error=False)
    def _train(self, trainer: Trainer) -> None:
        worker = get_current_worker()
        trainer.loop(lambda: worker.is_cancelled, self.post_message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "training" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.failure = f"{type(error).__name__}: {error}" if not str(error).startswith(
                type(error).__name__) else str(error)
            self.status.failed(self.failure)
            self.notify(self.failure, title="training stopped", severity="error", timeout=30)

    def _mine(self, message) -> bool:
        return self.trainer is not None and getattr(message, "trainer", None) is self.trainer

    def on_runs_built(self, message: RunsBuilt) -> None:
        if self._mine(message):
            self.panes["boundary"].datasets = message.datasets
            # Without a 2-D plane the wide grid gives the boundary's place to the loss.
            self.grid.set_class(all(d.plane is None for d in message.datasets), "-no-plane")

    def on_progress_ready(self, message: ProgressReady) -> None:
        if not self._mine(message):
            return
        progress = self.trainer.take()
        if progress is None:
            return
        if self.progress is not None and progress.step < self.progress.step:
            self.panes["lesson"].restart()
        if self.progress is None or progress.state != self.progress.state:
            self._urgent = True     # paused, finished, diverged: say so before any picture
        self.progress = progress
        self._stale = {pane for pane, _, _ in PANES}
        self._draw()

    @property
    def up_to_date(self) -> bool:
        """Every visible pane shows the latest snapshot (tests and screenshots wait for it)."""
        return self.progress is not None and not any(
            self.panes[pane].display for pane in self._stale)

    def on_narration(self, message: Narration) -> None:
        if not self._mine(message):
            return
        line = message.text or message.changes
        if message.variant and line:
            line = f"[{message.variant}] {line}"
        if line:
            self.panes["lesson"].narrate(message.step, line)
        if message.text and (self.replay or self.autoplay):
            hint = "\n(space to go on)" if message.hold else ""
            self.notify(message.text + hint, title=f"step {message.step}",
                        timeout=3600 if message.hold else 8)

    def on_notice(self, message: Notice) -> None:
        if self._mine(message):
            self.notify(message.text, severity=message.severity)

    # ------------------------------------------------------------------ drawing

    def _tick(self) -> None:
        if self.failure:
            return
        if self.progress is None or self.progress.state == "starting":
            self._spinner += 1
            compiling = time.monotonic() - self._started > COMPILING_AFTER
            self.status.starting(self._spinner, self.scenario.name, compiling)
        if self.progress is not None:
            self._draw()

    def _draw(self, force: bool = False) -> None:
        """Bring the screen up to date with ``self.progress``.

        The status line is redrawn every time, and at once after a key or a change of state.
        Panes are redrawn one per call, the one stale the longest first, so the event loop is
        never held by more than one picture and a key press waits for at most one; calls are
        at least ``REDRAW_SECONDS`` apart, or further when the last picture took long (big
        screens), so drawing stays within ``UI_SHARE`` of the time and leaves the GIL to the
        training thread. ``force`` (the user changed the view or the tab) redraws every
        visible pane at once.
        """
        if self.progress is None:
            return
        if self._urgent:            # a key's effect: the status line shows it now
            self._urgent = False
            self._show_status()
        if not (self._stale or force):
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self._draw_interval:
            return
        self._last_draw = now
        cost, self._cost_mark = RenderCost.seconds - self._cost_mark, RenderCost.seconds
        self._draw_interval = max(REDRAW_SECONDS, min(2.0, cost / UI_SHARE))
        visible = [pane for pane in self._rotation if self.panes[pane].display]
        stale = [pane for pane in visible if pane in self._stale or force]
        for pane in stale if force else stale[:1]:
            self.panes[pane].show(self.progress, self.view)
            self._stale.discard(pane)
            self._rotation.remove(pane)
            self._rotation.append(pane)
        self._show_status()

    def _show_status(self) -> None:
        if self.progress.state != "starting":     # while starting, _tick shows a spinner
            self.status.show(self.progress, self.view, self.scenario.name)

    def _set_view(self, **changes) -> None:
        self.view = dataclasses.replace(self.view, **changes)
        self._draw(force=True)

    # ------------------------------------------------------------------ actions

    def _command(self, kind: str, key: str = "", value=None) -> None:
        if self.trainer is not None:
            self._urgent = True
            self.trainer.send(kind, key, value)

    def action_toggle_pause(self) -> None:
        self.clear_notifications()
        self._command("toggle")

    def action_resume(self) -> None:
        self.clear_notifications()
        self._command("resume")

    def action_step(self) -> None:
        self._command("step", value=1)

    def action_reset(self) -> None:
        self._command("reset")

    def action_scale_lr(self, factor: float) -> None:
        self._command("scale", "train.lr", factor)

    def action_dropout(self) -> None:
        self._command("dropout")

    def action_optimizer(self) -> None:
        self._command("optimizer")

    def action_log_scale(self) -> None:
        self._set_view(log_scale=not self.view.log_scale)

    def action_smooth(self) -> None:
        self._set_view(smooth=not self.view.smooth)

    def action_next_variant(self) -> None:
        self._set_view(variant=(self.view.variant + 1) % len(self.scenario.variants))

    def action_layer(self, delta: int) -> None:
        self._set_view(layer=self.view.layer + delta)

    def action_show_pane(self, pane: str) -> None:
        self.tabs.active = f"tab-{pane}"

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_pick_scenario(self) -> None:
        lessons = []
        for name in builtin_names():
            try:
                lesson = load_scenario(name)
            except ScenarioError:
                continue
            lessons.append((name, lesson.title, lesson.summary))
        self.push_screen(ScenarioPicker(lessons, self.scenario.name), self.switch_scenario)

    def switch_scenario(self, name: str | None) -> None:
        if not name or name == self.scenario.name:
            return
        try:
            scenario = load_scenario(name, seed=self.seed)
        except ScenarioError as err:
            self.notify(str(err), severity="error")
            return
        self.scenario = scenario
        self.open_ended = name == PLAYGROUND
        self.view = View()
        self.start_training()

    def action_export(self) -> None:
        if self.progress is None:
            self.notify("nothing to export yet", severity="warning")
            return
        stem = f"nnsim-{self.scenario.name}-step{self.progress.step}"
        folder = Path.cwd()
        csv_path = export_metrics(self.scenario, self.progress, folder / f"{stem}.csv")
        svg_path = self.save_screenshot(f"{stem}.svg", str(folder))
        self.notify(f"metrics: {csv_path}\nscreenshot: {svg_path}", title="exported")


def create_app(scenario: str | Path | None = None, *, seed: int | None = 0, replay: bool = False,
               autoplay: bool = False, stop_at: int | None = None, show_speed: bool = True,
               chunk_steps: int | None = None) -> NnsimApp:
    """The dashboard for a built-in lesson name or a ``.toml`` path (default: the playground).

    ``stop_at`` pauses once every run reaches that step, ``chunk_steps`` fixes the chunk size
    (otherwise adapted to the machine's speed) and ``show_speed=False`` hides the steps/s:
    together they make a screen that is the same on every machine.
    Raises ``ScenarioError`` for a scenario that does not load.
    """
    name = PLAYGROUND if scenario is None else scenario
    loaded = load_scenario(name, seed=seed)
    return NnsimApp(loaded, open_ended=loaded.name == PLAYGROUND,
                    seed=seed, replay=replay or autoplay, autoplay=autoplay, stop_at=stop_at,
                    show_speed=show_speed, chunk_steps=chunk_steps)


def run_app(scenario: str | None = None, *, seed: int | None = None, replay: bool = False,
            autoplay: bool = False) -> int:
    """Run the dashboard in this terminal; the exit status (2 when the scenario does not load).

    ``seed`` replaces every variant's ``train.seed`` as ``nnsim run --seed`` does (None: the
    scenario's own)."""
    try:
        app = create_app(scenario, seed=seed, replay=replay, autoplay=autoplay)
    except ScenarioError as err:
        print(f"nnsim: {err}", file=sys.stderr)
        return 2
    result = app.run()
    return result if isinstance(result, int) else 0

"""The live training dashboard: ``nnsim`` / ``nnsim SCENARIO`` in a terminal.

The app owns the trainer's lifecycle (``worker.Trainer`` in a thread worker), switching
lessons and export; the ``DashboardScreen`` owns the panes and how the user looks at them.
Keys that change the training become commands on the trainer's queue; no pane touches a run.
Every string from a scenario or a data file is shown as plain text (``markup=False``, Rich
``Text``), never as markup: a lesson's ``[@click=app.quit]`` is text to read, not a link.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import threading
from pathlib import Path

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState, get_current_worker

from ..core import warmup
from ..core.config import ConfigError, with_values
from ..core.data.folder import folder_files
from ..core.experiment import EXPERIMENT_STEM, free_path, scenario_toml
from ..core.report import metrics_csv, write_atomically
from ..core.scenario import Scenario, ScenarioError, builtin_names, load_scenario
from ..core.text import one_line
from .commands import CommandPalette, ControlCommands, DashboardCommands
from .controls import ControlsPanel, ControlsScreen
from .dashboard import DashboardScreen
from .frame import Frame
from .messages import FrameReady, Narration, Notice, RateFound, TraceReady
from .rate_finder import RateFinderScreen
from .screens import HelpScreen, ScenarioPicker, WriteScreen
from . import requests as ask
from .stepthrough import HOME_LESSONS, StepThroughScreen
from .worker import Trainer

PLAYGROUND = "playground"       # `nnsim` alone; it trains until paused
SWITCH_INTERVAL = 0.001         # hand the GIL to the training thread sooner than Python's 5 ms
STOP_SECONDS = 0.5              # after quitting, how long the training thread may take to stop
CLOSING_SECONDS = 2.0           # after a closing signal, how long restoring the terminal may take
# kill, the SSH session closed, or `kill -INT` (ctrl+c in the dashboard is a key, not a signal)
CLOSING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

LEARNING_RATE = Binding.Group("LR", compact=True)
PACE = Binding.Group("Pace", compact=True)


def lesson_pace(scenario: Scenario) -> float:
    """Steps per second that play the scenario's ``train.steps`` in its ``[view] seconds``."""
    steps = max(v.config.train.steps for v in scenario.variants)
    return max(1.0, steps / scenario.seconds)


class NnsimApp(App[int]):
    """Trains a scenario while you watch; see the module docstring."""

    CSS_PATH = "nnsim.tcss"
    TITLE = "nnsim"
    COMMANDS = App.COMMANDS | {DashboardCommands, ControlCommands}
    # Below 150 columns or 40 rows the dashboard's panes become tabs; above, a grid of all of
    # them (the classes land on every screen; tui/nnsim.tcss uses them).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    BINDINGS = [
        Binding("space", "toggle_pause", "Pause", id="pause", tooltip="Pause or resume training"),
        Binding("n", "step", "Step", id="step", tooltip="One training step (pauses first)"),
        Binding("r", "reset", "Reset", id="reset",
                tooltip="Every run again from step 0 and its first weights, with your settings"),
        Binding("R", "reset_settings", "Reset rate…", id="reset-settings", show=False,
                tooltip="As r, with the rate, optimizer, dropout… back to the lesson's; "
                        "data and network kept"),
        Binding("b", "back_to_lesson", "Lesson as loaded", id="back-to-lesson", show=False,
                tooltip="Back to the lesson exactly as it loaded (data, network, training, "
                        "seed), from step 0"),
        Binding("plus,equals_sign", "scale_lr(2.0)", "LR×2", id="lr-up", key_display="+",
                tooltip="Double the learning rate", group=LEARNING_RATE),
        Binding("minus", "scale_lr(0.5)", "LR÷2", id="lr-down", key_display="-",
                tooltip="Halve the learning rate", group=LEARNING_RATE),
        Binding("comma,less_than_sign", "pace(0.5)", "Slower", id="slower", key_display="<",
                tooltip="Train at half the pace (steps per second)", group=PACE),
        Binding("full_stop,greater_than_sign", "pace(2.0)", "Faster", id="faster", key_display=">",
                tooltip="Train at twice the pace", group=PACE),
        Binding("f", "full_speed", "Full speed", id="full-speed", show=False,
                tooltip="As fast as the kernels go, and back to the pace"),
        Binding("d", "dropout", "Drop", id="dropout", tooltip="Dropout on or off"),
        Binding("o", "optimizer", "Optim", id="optimizer",
                tooltip="Next optimizer (sgd, momentum, nesterov, rmsprop, adam, adamw)"),
        Binding("s", "pick_scenario", "Lesson", id="scenario", tooltip="Choose another lesson"),
        Binding("question_mark", "help", "Help", id="help", key_display="?",
                tooltip="Keys and what each pane shows"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit"),
        Binding("e", "export", "Export", id="export",
                tooltip="Export the metrics (CSV) and a screenshot (SVG) to the working directory"),
        Binding("c", "controls", "Controls", id="controls",
                tooltip="The controls: data, features, layers, activation, optimizer, rate, … "
                        "(beside the panes from 150 columns)"),
        Binding("w", "write", "Write", id="write", show=False,
                tooltip="Write the current setup as a scenario file (nnsim run replays it)"),
        Binding("p", "step_through", "Phases", id="step-through",
                tooltip="Step through one training step, phase by phase (pauses first)"),
        Binding("g", "find_rate", "Rate finder", id="find-rate", show=False,
                tooltip="Learning-rate range test on a copy of the selected run's weights "
                        "(loss against a growing rate; offers a rate)"),
        Binding("enter", "resume", "Go on", id="resume", show=False,
                tooltip="Resume (after a narration in --replay)"),
    ]

    def __init__(self, scenario: Scenario, *, open_ended: bool = False, seed: int | None = None,
                 replay: bool = False, autoplay: bool = False, stop_at: int | None = None,
                 show_speed: bool = True, chunk_steps: int | None = None, paced: bool = True,
                 served: bool = False, data_folder: Path | None = None,
                 lesson: Scenario | None = None) -> None:
        super().__init__()
        self.lesson = lesson or scenario    # as it loaded, without --set: what `b` goes back to
        self.served = served
        self.data_folder = data_folder
        self.paced = paced
        self.scenario = scenario
        self.open_ended = open_ended
        self.seed = seed
        self.replay = replay
        self.autoplay = autoplay
        self.stop_at = stop_at
        self.chunk_steps = chunk_steps
        self.show_speed = show_speed
        self.dashboard: DashboardScreen | None = None     # made when the app runs
        self.trainer: Trainer | None = None
        self.failure = ""               # why training stopped with an error, if it did
        self.exit_line = ""             # the one line to print after exiting on bad input
        self.training_thread: threading.Thread | None = None
        self._switch_interval = sys.getswitchinterval()
        self._spinner = 0
        self._watched: int | None = None   # what the trainer was last told to watch (its default)
        self._landscape_watched = None      # the landscape pane's run and grid, as last told

    @property
    def frame(self) -> Frame | None:
        """The frame on screen (None before the first)."""
        return self.dashboard.frame if self.dashboard is not None else None

    @property
    def class_files(self) -> tuple[str, ...] | None:
        """The CSV files a served student may pick by name (``nnsim serve --data``); None in a
        terminal, where the user types a path of their own."""
        return folder_files(self.data_folder) if self.served else None

    def for_student(self, text: str) -> str:
        """``text`` as a served student may read it: the data folder's place on the server taken
        out, so files are named but not where they live (in a terminal, ``text`` itself)."""
        if self.served and self.data_folder is not None:
            return text.replace(f"{self.data_folder}{os.sep}", "")
        return text

    @property
    def up_to_date(self) -> bool:
        return self.dashboard is not None and self.dashboard.up_to_date

    def get_default_screen(self) -> DashboardScreen:
        # Made here, inside the running app: widgets made before it would belong to whichever
        # app was active then (another app in the same process, in tests).
        self.dashboard = DashboardScreen(show_speed=self.show_speed)
        return self.dashboard

    def on_mount(self) -> None:
        sys.setswitchinterval(SWITCH_INTERVAL)
        if threading.current_thread() is threading.main_thread():
            self._loop = asyncio.get_running_loop()
            self._closing_handlers = {signum: signal.signal(signum, self._on_closing_signal)
                                      for signum in CLOSING_SIGNALS}
        self.set_interval(0.1, self._tick)
        self.start_training()

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        if threading.current_thread() is threading.main_thread():
            for signum, previous in self._closing_handlers.items():
                signal.signal(signum, previous)

    def _on_closing_signal(self, signum: int, _frame) -> None:
        """Exit through Textual, which restores the terminal, but never linger past
        ``CLOSING_SECONDS``: once the SSH session or terminal has closed (SIGHUP), writing to it
        can block Textual's shutdown for ever. A plain handler, not the event loop's, so that it
        runs even while the loop is busy."""
        status = 128 + signum
        deadline = threading.Timer(CLOSING_SECONDS, os._exit, (status,))
        deadline.daemon = True
        deadline.start()
        self._loop.call_soon_threadsafe(self.exit, None, status)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent) and (self._exit or not self.screen_stack):
            return      # quitting, or closed: a key typed after `q` (or queued while the app
                        # was taken down) must not open, or look for, what is gone
        await super().on_event(event)

    # ------------------------------------------------------------------ training

    def start_training(self) -> None:
        """A fresh trainer for ``self.scenario``; any previous one is cancelled."""
        self.trainer = Trainer(
            self.scenario, lesson=self.lesson, pace=lesson_pace(self.scenario) if self.paced else None,
            open_ended=self.open_ended, stop_at=self.stop_at,
            hold_on_narration=self.replay and not self.autoplay, chunk_steps=self.chunk_steps)
        self.failure = ""
        self._watched = None
        self._landscape_watched = None
        self.dashboard.set_scenario(self.scenario)
        self.sub_title = self.scenario.title
        self._train(self.trainer)
        if self.replay and self.scenario.name in HOME_LESSONS:
            self.action_step_through()

    @work(thread=True, exclusive=True, group="training", exit_on_error=False)
    def _train(self, trainer: Trainer) -> None:
        worker = get_current_worker()
        self.training_thread = threading.current_thread()
        trainer.loop(lambda: worker.is_cancelled, self.post_message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "training" and event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, ConfigError):  # the data file, or a network too big: bad input
                self.exit_line = f"{self.scenario.path}: {error}"
                self.exit(return_code=2)
                return
            self.failure = f"{type(error).__name__}: {error}" if not str(error).startswith(
                type(error).__name__) else str(error)
            self.dashboard.status.failed(self.for_student(self.failure))
            self.notify(self.for_student(self.failure), title="training stopped",
                        severity="error", timeout=30, markup=False)

    def _mine(self, message) -> bool:
        return self.trainer is not None and getattr(message, "trainer", None) is self.trainer

    def on_frame_ready(self, message: FrameReady) -> None:
        if self._mine(message):
            frame = self.trainer.take()
            if frame is not None:
                self.dashboard.show_frame(frame)

    def on_narration(self, message: Narration) -> None:
        if not self._mine(message):
            return
        self.dashboard.narrate(message.step, message.variant, message.text, message.changes,
                               message.hold)

    def on_trace_ready(self, message: TraceReady) -> None:
        if self._mine(message) and isinstance(self.screen, StepThroughScreen):
            self.screen.show_trace(message.trace, message.reason, message.line)

    def on_notice(self, message: Notice) -> None:
        if self._mine(message):
            text = self.for_student(message.text)
            self.notify(text, severity=message.severity, markup=False)
            if message.severity == "error":     # a change the trainer refused
                for panel in self.screen.query(ControlsPanel):
                    panel.refused(text)

    def _tick(self) -> None:
        if self.failure:
            return
        frame = self.dashboard.frame
        if frame is None or frame.state == "starting":
            self._spinner += 1
            # "compiling" only while a helper process compiles (a first start: core.warmup)
            self.dashboard.status.starting(self._spinner, self.scenario.name, warmup.compiling())
        if frame is not None:
            self.dashboard.draw()
            if self.dashboard.watched != self._watched:    # the network pane came or went
                self._watched = self.dashboard.watched
                self.ask(ask.Watch(self._watched))
            if self.dashboard.landscape_watched != self._landscape_watched:
                self._landscape_watched = self.dashboard.landscape_watched
                self.ask(ask.ShowLandscape(self._landscape_watched))

    # ------------------------------------------------------------------ actions

    def ask(self, request: ask.Request) -> None:
        """Put ``request`` on the training thread's queue (nothing to do before it exists)."""
        if self.trainer is not None:
            self.trainer.send(request)

    def action_toggle_pause(self) -> None:
        self.ask(ask.TogglePause())

    def action_resume(self) -> None:
        self.ask(ask.Resume())

    def action_step(self) -> None:
        self.ask(ask.Step())

    def action_reset(self) -> None:
        self.ask(ask.Reset())

    def action_reset_settings(self) -> None:
        self.ask(ask.RestoreSettings())

    def action_back_to_lesson(self) -> None:
        self.ask(ask.BackToLesson())

    def action_quit(self) -> None:
        self.exit(return_code=1 if self.failure else 0)    # after a crash, not a success

    def action_scale_lr(self, factor: float) -> None:
        self.ask(ask.ScaleSetting("train.lr", factor))

    def action_pace(self, factor: float) -> None:
        self.ask(ask.ScalePace(factor))

    def action_full_speed(self) -> None:
        self.ask(ask.ToggleFullSpeed())

    def action_dropout(self) -> None:
        self.ask(ask.ToggleDropout())

    def action_optimizer(self) -> None:
        self.ask(ask.NextOptimizer())

    def configure(self, changes: tuple) -> str:
        """Send the controls' ``changes`` (``(dotted key, value)`` pairs) to the trainer, or say
        why not: the scenario loader's one-line message for a value no run can take."""
        return self._send(changes, None)

    def configure_run(self, index: int, changes: tuple) -> str:
        """Send live ``changes`` for run ``index`` alone (the range test's rate), or say why
        not, as ``configure`` does."""
        return self._send(changes, index)

    def _send(self, changes: tuple, index: int | None) -> str:
        frame = self.frame
        if frame is None or self.trainer is None:
            return "the runs are still starting"
        try:
            for cfg in frame.configs if index is None else frame.configs[index:index + 1]:
                with_values(cfg, changes)
        except ConfigError as err:
            return str(err)
        self.ask(ask.Configure(tuple(changes)) if index is None
                 else ask.ConfigureRun(index, tuple(changes)))
        return ""

    def apply_control(self, what: tuple | str) -> None:
        """A palette command of the controls: make its changes, or open the controls on the
        control of a key whose value is typed (or regenerate the seed)."""
        if what == "train.seed":
            what = (("train.seed", self.next_seed()),)
        if isinstance(what, str):
            self.open_controls(what)
            return
        refused = self.configure(what)
        if refused:
            self.notify(refused, title="refused", severity="error", markup=False)

    def next_seed(self) -> int:
        """The seed "regenerate" gives: the next base seed (each variant adds its offset)."""
        first = self.frame.experiment.scenario.variants[0]
        return first.config.train.seed - first.seed_offset + 1

    def open_controls(self, key: str) -> None:
        """The controls, beside the panes or over them, with ``key``'s control focused."""
        if self.dashboard.has_class("-wide"):
            if self.dashboard.controls_open:
                self.dashboard.controls.focus_control(key)
            else:
                self.dashboard.toggle_controls(focus=key)
        else:
            screen = ControlsScreen()
            self.push_screen(screen)
            self.call_after_refresh(lambda: screen.query_one(ControlsPanel).focus_control(key))

    def action_controls(self) -> None:
        if isinstance(self.screen, ControlsScreen):
            self.screen.dismiss()
        elif self.screen is self.dashboard and self.dashboard.has_class("-wide"):
            self.dashboard.toggle_controls()
        elif self.screen is self.dashboard:
            self.push_screen(ControlsScreen())

    def action_write(self) -> None:
        frame = self.frame
        if frame is None or frame.experiment is None:
            self.notify("nothing to write yet", severity="warning")
            return
        text = scenario_toml(frame.experiment)
        if self.served:     # a class data file by its name: the file runs beside a copy of it
            name = f"{EXPERIMENT_STEM}.toml"
            self.deliver_text(io.StringIO(self.for_student(text)), save_filename=name,
                              mime_type="application/toml")
            data = frame.configs[0].data
            beside = (f"; it needs {Path(data.path).name} (from your teacher) in the same folder"
                      if data.kind == "csv" else "")
            self.notify(f"{name}: your browser downloads it; nnsim run {name} replays it{beside}",
                        title="downloaded", markup=False)
            return
        folder = working_folder()
        self.push_screen(WriteScreen(text, free_path(folder) if folder else Path.home()))

    def action_command_palette(self) -> None:
        if not CommandPalette.is_open(self):
            self.push_screen(CommandPalette(id="--command-palette"))

    def action_step_through(self) -> None:
        self.push_screen(StepThroughScreen(self.ask, self.dashboard.view.variant))

    def action_find_rate(self) -> None:
        frame = self.frame
        if frame is None or self.trainer is None:
            self.notify("the runs are still starting", severity="warning")
            return
        variant = min(self.dashboard.view.variant, len(frame.names) - 1)
        self.push_screen(RateFinderScreen(frame.names[variant],
                                          lambda changes: self.configure_run(variant, changes)))
        self.ask(ask.FindRate(variant))

    def on_rate_found(self, message: RateFound) -> None:
        if self._mine(message) and isinstance(self.screen, RateFinderScreen):
            self.screen.show_test(message.test, message.reason)

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
        """Start lesson ``name``; the lesson on screen again goes back to it as it loaded."""
        if not name:
            return
        if name == self.lesson.name:
            self.action_back_to_lesson()
            return
        try:
            scenario = load_scenario(name, seed=self.seed)
        except ScenarioError as err:
            self.notify(str(err), severity="error", markup=False)
            return
        self.scenario = self.lesson = scenario
        self.open_ended = name == PLAYGROUND
        self.start_training()

    def action_export(self) -> None:
        frame = self.dashboard.frame
        if frame is None:
            self.notify("nothing to export yet", severity="warning")
            return
        stem = f"nnsim-{self.scenario.name}-step{frame.step}"
        histories = [(name, snap.history) for name, snap in zip(frame.names, frame.snapshots)]
        if self.served:
            self.deliver_text(io.StringIO(metrics_csv(histories)), save_filename=f"{stem}.csv")
            self.deliver_text(io.StringIO(self.export_screenshot()), save_filename=f"{stem}.svg",
                              mime_type="image/svg+xml")
            self.notify(f"{stem}.csv and {stem}.svg: your browser downloads them",
                        title="exported", markup=False)
            return
        folder = working_folder()
        if folder is None:
            self.notify("the working folder is gone (deleted or moved): nothing exported",
                        title="export", severity="error", markup=False)
            return
        try:
            csv_path = write_atomically(folder, f"{stem}.csv", metrics_csv(histories))
            svg_path = self.save_screenshot(f"{stem}.svg", str(folder))
        except OSError as err:      # a read-only or full working directory: say so, train on
            self.notify(f"could not export to {folder}: {err.strerror or err}", title="export",
                        severity="error", markup=False)
            return
        self.notify(f"metrics: {csv_path}\nscreenshot: {svg_path}", title="exported", markup=False)


def working_folder() -> Path | None:
    """The folder nnsim was started in, or None when it has been deleted since."""
    try:
        return Path.cwd()
    except OSError:
        return None


def create_app(scenario: str | Path | None = None, *, seed: int | None = 0, overrides=(),
               replay: bool = False, autoplay: bool = False, stop_at: int | None = None,
               show_speed: bool = True, chunk_steps: int | None = None,
               paced: bool = False, served: bool = False,
               data_folder: Path | None = None) -> NnsimApp:
    """The dashboard for a built-in lesson name or a ``.toml`` path (default: the playground).

    ``overrides`` are ``--set`` pairs (from ``parse_override``). ``paced`` plays the lesson at
    its pace, as ``nnsim`` does (tests default to full speed). ``stop_at`` pauses once every run
    reaches that step, ``chunk_steps`` fixes the chunk size (otherwise adapted to the machine's
    speed) and ``show_speed=False`` hides the measured steps/s: together they make a screen
    that is the same on every machine. ``served`` makes a session of ``nnsim serve``, whose user
    may name no path on the server: ``w`` and ``e`` become downloads in their browser, and data
    files are picked by name from ``data_folder``. Raises ``ScenarioError`` for a scenario that
    does not load.
    """
    name = PLAYGROUND if scenario is None else scenario
    loaded = load_scenario(name, seed=seed, overrides=tuple(overrides))
    lesson = load_scenario(name, seed=seed) if overrides else loaded
    return NnsimApp(loaded, lesson=lesson, open_ended=loaded.name == PLAYGROUND,
                    seed=seed, replay=replay or autoplay, autoplay=autoplay, stop_at=stop_at,
                    show_speed=show_speed, chunk_steps=chunk_steps, paced=paced, served=served,
                    data_folder=data_folder)


def run_app(scenario: str | None = None, *, seed: int | None = None, overrides=(),
            replay: bool = False, autoplay: bool = False, served: bool = False,
            data_folder: Path | None = None) -> int:
    """Run the dashboard in this terminal, at the lesson's pace; the exit status (2 when the
    scenario does not load).

    ``seed`` replaces every variant's ``train.seed`` as ``nnsim run --seed`` does (None: the
    scenario's own); ``overrides`` are ``--set`` pairs, as for ``nnsim run``."""
    try:
        app = create_app(scenario, seed=seed, overrides=overrides, replay=replay,
                         autoplay=autoplay, paced=True, served=served, data_folder=data_folder)
    except ScenarioError as err:
        print(f"nnsim: {one_line(str(err))}", file=sys.stderr)
        return 2
    # Our own loop, not asyncio.run: that would wait at exit for the training thread, which
    # cannot be interrupted while Numba compiles (seconds, on a first start).
    app.run(loop=asyncio.new_event_loop())
    status = app.return_code or 0
    if app.exit_line:
        print(one_line(app.exit_line), file=sys.stderr)
    thread = app.training_thread
    if thread is not None:
        thread.join(STOP_SECONDS)
        if thread.is_alive():               # still compiling: the terminal is already restored
            warmup.stop()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    return status

"""The training thread behind the dashboard: threading, commands and publishing.

``Trainer.loop`` runs inside a Textual thread worker and steps every run of a scenario through
the one driver (``core.driver``), which decides where chunks end and fires the scripted events,
exactly as ``nnsim run`` does. What the trainer adds is *when*: at a pace a person can follow
(``Pace``), sleeping on its command queue between frames so a slow pace costs almost no CPU and
a key is handled at once. Frames travel through a one-slot mailbox: the worker posts a small
``FrameReady`` only when the app has taken the previous frame, so a slow screen never makes a
queue grow and never blocks training.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from textual.message import Message

from ..core.config import LIVE_KEYS, OPTIMIZERS, ConfigError, get_value, with_values
from ..core.experiment import Edit, Experiment, describe_change, restarted, split_changes
from ..core.expectations import Outcome
from ..core.pacing import ChunkClock, Pace
from ..core.scenario import Scenario
from .frame import Frame, PastRun, PlanePoints, WeightTimeline
from .messages import FrameReady, Narration, Notice, TraceReady, TrainerMessage

IDLE_POLL_SECONDS = 0.1     # how often an idle worker wakes to check it was cancelled
FRAMES_PER_SECOND = 10      # at a pace, steps are taken in batches of one frame's worth
                            # (the panes redraw at most this often)
SPEED_WINDOW_SECONDS = 1.0  # the steps/s shown is measured over this much wall time
DEFAULT_DROPOUT = 0.5       # what `d` switches on when the scenario had no dropout
SLOWEST_PACE = 1.0          # steps per second
FASTEST_PACE = 1e6          # beyond this the pace is "as fast as the kernels go"
PAST_RUNS = 4               # runs replaced by a change that stay on the loss plot


@dataclass(frozen=True)
class Command:
    """One request from the UI to the training thread."""

    kind: str               # toggle | resume | step | scale | dropout | optimizer | reset | restore | pace
                            # | full_speed | trace | take_traced | watch | configure
    key: str = ""
    value: Any = None


@dataclass
class _Slot:
    """The one-frame mailbox between the worker and the app."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latest: Frame | None = None
    pending: bool = False


class Trainer:
    """Owns the runs of one scenario; every method except ``send`` and ``take`` runs on the worker.

    ``pace``: steps per second (``None``: as fast as the kernels go). ``open_ended``: keep
    training past ``train.steps`` (the playground). ``stop_at``: pause when every run reaches
    this step (fixed screenshots and tests). ``hold_on_narration``: pause after each event that
    says something (``--replay``). ``chunk_steps`` fixes the chunk size (screens that must be the
    same on every machine).
    """

    def __init__(self, scenario: Scenario, *, pace: float | None = None, open_ended: bool = False,
                 stop_at: int | None = None, hold_on_narration: bool = False,
                 start_paused: bool = False, chunk_steps: int | None = None) -> None:
        self.scenario = scenario
        self.open_ended = open_ended
        self.stop_at = stop_at
        self.hold_on_narration = hold_on_narration
        self.fixed_chunk = chunk_steps
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self.pace = Pace(pace)
        self.clock = ChunkClock()
        self._slot = _Slot()
        self._paused = start_paused
        self._hold_reason = ""
        self.runs: list = []                    # ScriptedRun, one per variant
        self._points: tuple[PlanePoints | None, ...] = ()
        self._final_outcomes: dict[int, Outcome] = {}
        self._saved_dropout: dict[int, float] = {}
        self._timelines: list[WeightTimeline] = []
        self._recent: deque[tuple[float, int]] = deque()    # (time, steps taken) for the speed
        self._steps_taken = 0
        self._trained = False       # no round done yet: the kernels may still be compiling
        self._full_speed_from: float | None = None  # the pace `f` returns to
        self._post_message: Callable[[Message], Any] = lambda message: None
        self._traced: tuple[Any, int] | None = None     # (Run, step) of the last trace
        self._units: dict[int, tuple[Any, Any]] = {}    # run index: (snapshot, its UnitMaps)
        self._watched: int | None = 0   # the run whose units the network pane shows (None: hidden)
        self._past: deque[PastRun] = deque(maxlen=PAST_RUNS)
        self._edits: list[Edit] = []            # live changes since step 0 (for `w`)
        self._start: tuple = ()                 # each run's settings at step 0 (for `w`)
        self._experiment: Experiment | None = None      # made again after each change

    # ------------------------------------------------------------------ called from the UI thread

    def send(self, kind: str, key: str = "", value: Any = None) -> None:
        self.commands.put(Command(kind, key, value))

    def take(self) -> Frame | None:
        """The newest frame (or None); lets the worker post the next one."""
        with self._slot.lock:
            frame, self._slot.latest = self._slot.latest, None
            self._slot.pending = False
        return frame

    # ------------------------------------------------------------------ the worker

    def loop(self, is_cancelled: Callable[[], bool], post: Callable[[Message], Any]) -> None:
        """Train until cancelled. ``post`` is the app's thread-safe ``post_message``."""
        self._post_message = post
        self._build_runs()
        if is_cancelled():
            return
        self._fire_due_events()
        self._publish()
        self.pace.restart(time.monotonic())
        while not is_cancelled():
            self._drain()
            if self._paused or not self._trainable():
                self._wait_for_command(IDLE_POLL_SECONDS)
                continue
            now = time.monotonic()
            due = self.pace.due(now)
            if due is None:
                self._round(self.fixed_chunk or self.clock.steps)
                continue
            batch = self._frame_steps()
            if due < batch:
                self._wait_for_command(min(IDLE_POLL_SECONDS, self.pace.wait(now, batch - due)))
                continue
            self._round(min(due, self.fixed_chunk or max(batch, self.clock.steps)))

    def _frame_steps(self) -> int:
        """Steps per frame at the current pace: one round each frame, however slow the pace."""
        return max(1, math.ceil(self.pace.steps_per_second / FRAMES_PER_SECOND))

    def _wait_for_command(self, timeout: float) -> None:
        try:
            command = self.commands.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            return
        self._handle(command)
        self._drain()

    def _post(self, message: TrainerMessage) -> None:
        message.trainer = self
        self._post_message(message)

    def _build_runs(self) -> None:
        from ..core.driver import ScriptedRun

        self._install(ScriptedRun.build(self.scenario, open_ended=self.open_ended))

    def _install(self, runs: list) -> None:
        """``runs`` take over, from step 0."""
        self.runs = runs
        self._points = tuple(PlanePoints.of(run.run.dataset) for run in self.runs)
        self._timelines = [WeightTimeline().add(0, run.snapshot.weight_hist, 0) for run in self.runs]
        self._final_outcomes.clear()
        self._started_over()
        for note in dict.fromkeys(note for run in self.runs for note in run.run.dataset.notes):
            self._post(Notice(note, "warning"))

    def _drain(self) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            self._handle(command)

    # ------------------------------------------------------------------ stepping

    def _trainable(self) -> bool:
        return any(run.active for run in self.runs)

    def _reached_stop(self) -> bool:
        return self.stop_at is not None and all(
            run.step >= self.stop_at for run in self.runs if run.active)

    def _round(self, n_steps: int, adapt: bool = True, peek: bool = False) -> None:
        """Advance every active run by up to ``n_steps``, all to the nearest of their next stops
        (an event for one variant holds the others there too, so they stay in step); ``peek``
        measures each run at the step it reached (see ``Run.peek``)."""
        n_steps = min([n_steps] + [run.next_stop(self.stop_at) - run.step
                                   for run in self.runs if run.active])
        started = time.perf_counter()
        advanced = 0
        for index, run in enumerate(self.runs):
            if not run.active:
                continue
            before = run.step
            run.advance(n_steps, self.stop_at)
            if peek:        # a step by hand: measure it now, not only at the next check
                run.peek()
            self._record(index)
            advanced = max(advanced, run.step - before)
        self.pace.took(advanced)
        if not self._trained:   # that round loaded (or compiled) the kernels: no burst to repay it
            self._trained = True
            self.pace.restart(time.monotonic())
            self._recent.clear()
        self._steps_taken += advanced
        if adapt:
            self.clock.observe(advanced, time.perf_counter() - started)
        self._fire_due_events()
        if self._reached_stop():
            self.stop_at = None     # pause here once; space trains on
            self._paused = True
        self._publish()

    def _record(self, index: int) -> None:
        run, timeline = self.runs[index], self._timelines[index]
        spacing = max(run.run.config.train.eval_every, timeline.spacing)
        self._timelines[index] = timeline.add(run.step, run.snapshot.weight_hist, spacing)

    def _fire_due_events(self) -> None:
        for run in self.runs:
            fired_here = run.fire_due()
            if any(fired.event.set for fired in fired_here):
                run.refresh()   # the screen shows the setting the next step uses, as narrated
            for fired in fired_here:
                if not fired.tell:
                    continue
                hold = self.hold_on_narration and bool(fired.event.say)
                if hold:
                    self._paused = True
                    self._hold_reason = "narration"
                self._post(Narration(fired.step, fired.event.variant, fired.event.say,
                                     fired.changes, hold))

    # ------------------------------------------------------------------ commands

    def _handle(self, command: Command) -> None:
        kind = command.kind
        if kind == "toggle":
            self._set_paused(not self._paused)
        elif kind == "resume":
            self._set_paused(False)
        elif kind == "step":
            self._paused = True
            self._hold_reason = ""
            if self._trainable():
                self._round(max(1, int(command.value or 1)), adapt=False, peek=True)
                return
        elif kind == "trace":
            self._trace(int(command.value or 0))
            return
        elif kind == "take_traced":
            if self._take_traced():
                return
        elif kind == "watch":
            self._watched = command.value
        elif kind == "pace":
            self._scale_pace(command.value)
        elif kind == "full_speed":
            self._toggle_full_speed()
        elif kind in ("scale", "dropout", "optimizer"):
            if kind == "scale" and self._each_set(
                    command.key, lambda cfg: get_value(cfg, command.key) * command.value):
                self._tell_scaled(command.key, command.value)
            elif kind == "dropout":
                self._toggle_dropout()
            else:
                current = self.runs[0].run.config.train.optimizer
                following = OPTIMIZERS[(OPTIMIZERS.index(current) + 1) % len(OPTIMIZERS)]
                self._each_set("train.optimizer", lambda cfg: following)
            # Paused, the screen would show the old learning rate until the next step.
            for run in self.runs:
                run.refresh()
        elif kind == "reset":
            self._reset()
        elif kind == "restore":
            self._restore_settings()
            self._reset()
        elif kind == "configure":
            self._configure(command.value)
        self._publish()

    def _trace(self, index: int) -> None:
        """Pause, then trace run ``index``'s next step for the step-through (the run unchanged)."""
        from ..core.trace import trace_step

        self._set_paused(True)
        run = self.runs[min(index, len(self.runs) - 1)]
        if not run.active:
            self._post(TraceReady(None, f"{run.name} has {run.snapshot.state}: no step to take"))
            return
        trace = trace_step(run.run)
        self._traced = (run.run, trace.step)
        self._post(TraceReady(trace))

    def _take_traced(self) -> bool:
        """Take the traced step, as ``n`` takes a step, if the traced run is still where it was
        traced (not reset, replaced or moved on); whether it was taken."""
        run, step = self._traced or (None, -1)
        if not any(scripted.run is run for scripted in self.runs) or run.step != step:
            self._post(Notice("the run moved on since this step was traced: not taken", "warning"))
            return False
        self._traced = None
        self._round(1, adapt=False, peek=True)
        return True

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        self._hold_reason = ""
        self.pace.restart(time.monotonic())

    def _scale_pace(self, factor: float) -> None:
        current = self.pace.steps_per_second
        if current is None:         # from full speed, slow down from what it measured
            current = max(SLOWEST_PACE, self._speed() or FASTEST_PACE)
        wanted = current * factor
        self.pace.set(None if wanted > FASTEST_PACE else max(SLOWEST_PACE, wanted), time.monotonic())
        self._full_speed_from = None

    def _toggle_full_speed(self) -> None:
        if self.pace.steps_per_second is None and self._full_speed_from is not None:
            self.pace.set(self._full_speed_from, time.monotonic())
            self._full_speed_from = None
        elif self.pace.steps_per_second is not None:
            self._full_speed_from = self.pace.steps_per_second
            self.pace.set(None, time.monotonic())

    def _each_set(self, key: str, value_of: Callable[[Any], Any]) -> bool:
        """Every run's ``key`` to ``value_of`` its settings; False (and said) if one refused."""
        for run in self.runs:
            try:
                self._set(run, key, value_of(run.run.config))
            except ConfigError as err:
                self._post(Notice(f"{run.name}: {err}", "error"))
                return False
        return True

    def _tell_scaled(self, key: str, factor: float) -> None:
        """Said at once, as set: at 80 columns the status line may have no room for it."""
        name = "learning rate" if key == "train.lr" else key
        values = ", ".join(f"{get_value(run.run.config, key):.3g}" for run in self.runs)
        every = " for every run" if len(self.runs) > 1 else ""
        scaled = f"×{factor:g}" if factor >= 1 else f"÷{1 / factor:g}"
        self._post(Notice(f"{name} {scaled}{every}: {values}"))

    def _set(self, run, key: str, value: Any) -> None:
        """A live change to one run, remembered for the scenario file `w` writes: made at step
        0 it is part of the run's settings, later an event at the step it was made."""
        run.run.set(key, value)
        if run.step == 0:
            self._start = tuple(scripted.run.config for scripted in self.runs)
        else:
            self._edits.append(Edit(run.step, run.name, key, get_value(run.run.config, key)))
        self._experiment = None

    def _configure(self, changes: tuple[tuple[str, Any], ...]) -> None:
        """The controls' change: live keys at the next step; any other key starts new runs
        from step 0, and the replaced runs stay on the loss plot."""
        live, defining = split_changes(changes)
        if not defining:
            for key, value in live:
                self._each_set(key, lambda cfg: value)
            for run in self.runs:
                run.refresh()
            return
        from ..core.driver import ScriptedRun

        try:
            configs = tuple(with_values(run.run.config, [
                (key, value + variant.seed_offset if key == "train.seed" else value)
                for key, value in changes]) for run, variant in zip(self.runs, self.scenario.variants))
            scenario = restarted(self.scenario, configs)
            runs = ScriptedRun.build(scenario, open_ended=self.open_ended)
        except ConfigError as err:      # a data file that does not load, a network too big
            self._post(Notice(str(err), "error"))
            return
        self._past.append(PastRun(describe_change(self.runs[0].run.config, configs[0]),
                                  tuple(run.snapshot.history for run in self.runs),
                                  tuple(run.run.steps_per_epoch for run in self.runs)))
        self.scenario = scenario
        self._saved_dropout.clear()
        self._install(runs)
        self._recent.clear()
        self.pace.restart(time.monotonic())
        self._fire_due_events()

    def _started_over(self) -> None:
        """The runs are at step 0: their settings now are those a scenario file would state."""
        self._start = tuple(run.run.config for run in self.runs)
        self._edits.clear()
        self._experiment = None

    def _experiment_now(self) -> Experiment:
        if self._experiment is None:
            self._experiment = Experiment(restarted(self.scenario, self._start), tuple(self._edits))
        return self._experiment

    def _toggle_dropout(self) -> None:
        runs = [run.run for run in self.runs]
        if all(len(run.config.model.layers) == 0 for run in runs):
            self._post(Notice("dropout needs a hidden layer", "warning"))
            return
        if any(run.config.model.dropout > 0 for run in runs):
            for i, run in enumerate(self.runs):
                self._saved_dropout[i] = run.run.config.model.dropout
                self._set(run, "model.dropout", 0.0)
        else:
            for i, run in enumerate(self.runs):
                self._set(run, "model.dropout", self._saved_dropout.get(i) or DEFAULT_DROPOUT)

    def _restore_settings(self) -> None:
        """Every setting a key or an event changed back to the scenario's (``R``): after ``+``
        has driven the learning rate to 1e308, a reset alone would diverge again at once."""
        for run, variant in zip(self.runs, self.scenario.variants):
            for key in sorted(LIVE_KEYS):
                wanted = get_value(variant.config, key)
                if get_value(run.run.config, key) != wanted:
                    run.run.set(key, wanted)
        self._saved_dropout.clear()

    def _reset(self) -> None:
        """Every run back to its initial weights at step 0; the script starts over."""
        for run in self.runs:
            run.reset()
        if self.runs:
            self.runs[0].told.clear()
        self._timelines = [WeightTimeline().add(0, run.snapshot.weight_hist, 0) for run in self.runs]
        self._final_outcomes.clear()
        self._started_over()
        self._recent.clear()
        self.pace.restart(time.monotonic())
        self._fire_due_events()

    # ------------------------------------------------------------------ publishing

    def _speed(self) -> float:
        """Steps per second over the last ``SPEED_WINDOW_SECONDS`` of wall time."""
        now = time.monotonic()
        self._recent.append((now, self._steps_taken))
        while len(self._recent) > 2 and now - self._recent[1][0] > SPEED_WINDOW_SECONDS:
            self._recent.popleft()
        (t0, s0), (t1, s1) = self._recent[0], self._recent[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def _state(self) -> tuple[str, str]:
        snaps = [run.snapshot for run in self.runs]
        diverged = [(run.name, s.diverged_step) for run, s in zip(self.runs, snaps) if s.diverged]
        detail = ", ".join(f"{name} diverged at step {step}" if len(self.runs) > 1
                           else f"diverged at step {step}" for name, step in diverged)
        if self._trainable():
            if self._paused:
                return "paused", self._hold_reason or detail
            return ("running" if self._trained else "starting"), detail
        if len(snaps) == 1:
            return snaps[0].state, detail
        if len(diverged) == len(snaps):
            return "diverged", detail
        return "finished", detail

    def _outcome(self, index: int) -> Outcome:
        """A running run is observed through its snapshot; an ended one once, with test metrics.

        The playground trains on past ``train.steps``, but its expectations keep the verdict
        of that step, as ``nnsim run`` gives it."""
        run = self.runs[index]
        if not run.snapshot.finished or not self.scenario.expectations:
            return Outcome(snapshot=run.snapshot, config=run.run.config)
        if index not in self._final_outcomes:
            self._final_outcomes[index] = Outcome.from_run(run.run, run.snapshot)
        return self._final_outcomes[index]

    def _unit_maps(self, index: int):
        """Run ``index``'s ``UnitMaps`` if the network pane shows that run, else None; computed
        once per snapshot. One call is well under a ms, but a lesson of 30 variants would pay
        it 30 times a round (benchmarks/bench_tui.py)."""
        if index != self._watched:
            return None
        run = self.runs[index]
        kept = self._units.get(index)
        if kept is None or kept[0] is not run.snapshot:
            kept = self._units[index] = (run.snapshot, run.run.unit_maps())
        return kept[1]

    def _publish(self) -> None:
        state, detail = self._state()
        outcomes = {run.name: self._outcome(i) for i, run in enumerate(self.runs)}
        frame = Frame(
            names=tuple(run.name for run in self.runs),
            labels=tuple(v.label for v in self.scenario.variants),
            snapshots=tuple(run.snapshot for run in self.runs),
            configs=tuple(run.run.config for run in self.runs),
            results=tuple(e.check(outcomes) for e in self.scenario.expectations),
            weight_timelines=tuple(self._timelines),
            points=self._points,
            state=state, detail=detail,
            steps_per_second=self._speed() if state == "running" else 0.0,
            pace=self.pace.steps_per_second,
            steps_per_epoch=tuple(run.run.steps_per_epoch for run in self.runs),
            cleaning=tuple(run.run.dataset.cleaning for run in self.runs),
            units=tuple(self._unit_maps(i) for i in range(len(self.runs))),
            past=tuple(self._past),
            experiment=self._experiment_now(),
        )
        with self._slot.lock:
            self._slot.latest = frame
            notify = not self._slot.pending
            self._slot.pending = True
        if notify:
            self._post(FrameReady())

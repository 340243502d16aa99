"""The training loop behind the dashboard: one thread owns every run of a scenario.

``Trainer.loop`` runs inside a Textual thread worker. Between chunks it drains a thread-safe
command queue (pause, step, set a value, reset, ...), advances every variant round-robin by
a chunk sized to about 40 ms of work, fires the scenario's scripted events at exactly their
step (chunks end there, so events fire where the headless runner fires them), and hands the
newest snapshots to the app. Snapshots travel through a one-slot mailbox: the worker posts a
small ``ProgressReady`` message only when the app has taken the previous bundle, so a slow
screen never makes the queue of messages grow and never blocks training.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from textual.message import Message

from ..core.config import OPTIMIZERS, ConfigError, RunConfig
from ..core.expectations import Outcome
from ..core.scenario import Event, Scenario
from ..core.snapshot import Snapshot

CHUNK_SECONDS = 0.04        # one round of every variant: fresh snapshots ~25 times a second
PAUSED_POLL_SECONDS = 0.1   # how often a paused worker wakes to check it was cancelled
DEFAULT_DROPOUT = 0.5       # what `d` switches on when the scenario had no dropout
TIMELINE_ROWS = 64          # moments of the weight histograms kept per run


@dataclass(frozen=True)
class Command:
    """One request from the UI to the training thread."""

    kind: str               # toggle | resume | step | scale | dropout | optimizer | reset
    key: str = ""
    value: Any = None


@dataclass(frozen=True)
class WeightTimeline:
    """Evenly spaced moments of one run's weight histograms, oldest first (step 0 kept first)."""

    steps: tuple[int, ...] = ()
    hists: tuple[np.ndarray, ...] = ()       # each (n_layers, n_bins)

    def add(self, step: int, hist: np.ndarray, spacing: int) -> "WeightTimeline":
        """This timeline with ``hist`` appended if ``spacing`` steps have passed; when it is
        full, every other moment goes, so a run of any length fits in constant memory."""
        if self.steps and step < self.steps[-1] + spacing:
            return self
        steps, hists = self.steps + (step,), self.hists + (hist,)
        if len(steps) > TIMELINE_ROWS:
            steps, hists = steps[::2], hists[::2]
        return WeightTimeline(steps, hists)

    @property
    def spacing(self) -> int:
        """Steps between kept moments: doubles each time the timeline is thinned."""
        return self.steps[1] - self.steps[0] if len(self.steps) > 1 else 0


@dataclass(frozen=True)
class Progress:
    """Everything the panes draw, for one moment: immutable, safe to read on the UI thread."""

    names: tuple[str, ...]
    labels: tuple[str, ...]
    snapshots: tuple[Snapshot, ...]
    configs: tuple[RunConfig, ...]      # current settings (after keys and events)
    outcomes: tuple[Outcome, ...]       # what the expectation checker reads
    weight_timelines: tuple[WeightTimeline, ...]
    state: str                          # starting | running | paused | finished | diverged ...
    detail: str                         # a short reason, e.g. "diverged at step 12"
    steps_per_second: float
    chunk_steps: int

    @property
    def step(self) -> int:
        return max(s.step for s in self.snapshots)

    @property
    def epoch(self) -> int:
        return max(s.epoch for s in self.snapshots)


class TrainerMessage(Message):
    """From a trainer; ``trainer`` tells the app whether it is from the current one."""

    trainer: "Trainer | None" = None


class ProgressReady(TrainerMessage):
    """A new ``Progress`` is waiting in ``Trainer.take()``."""


class RunsBuilt(TrainerMessage):
    """The runs exist; their datasets (for the decision boundary) are ready."""

    def __init__(self, datasets: tuple) -> None:
        super().__init__()
        self.datasets = datasets


class Narration(TrainerMessage):
    """A scripted event fired; ``text`` is its line (may be empty) and ``changes`` its settings."""

    def __init__(self, step: int, variant: str | None, text: str, changes: str, hold: bool) -> None:
        super().__init__()
        self.step = step
        self.variant = variant
        self.text = text
        self.changes = changes
        self.hold = hold


class Notice(TrainerMessage):
    """Something to tell the user (a refused setting, a run that cannot go on)."""

    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__()
        self.text = text
        self.severity = severity


@dataclass
class _Slot:
    """The one-bundle mailbox between the worker and the app."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latest: Progress | None = None
    pending: bool = False


class Trainer:
    """Owns the runs of one scenario; every method except ``send`` and ``take`` runs on the worker.

    ``open_ended``: keep training past ``train.steps`` (the playground). ``stop_at``: pause
    when every run reaches this step (fixed screenshots and tests). ``hold_on_narration``:
    pause after each event that says something (``--replay``).
    """

    def __init__(self, scenario: Scenario, *, open_ended: bool = False, stop_at: int | None = None,
                 hold_on_narration: bool = False, start_paused: bool = False,
                 chunk_seconds: float = CHUNK_SECONDS, chunk_steps: int | None = None) -> None:
        self.scenario = scenario
        self.open_ended = open_ended
        self.stop_at = stop_at
        self.hold_on_narration = hold_on_narration
        self.chunk_seconds = chunk_seconds
        self.fixed_chunk = chunk_steps
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._slot = _Slot()
        self._paused = start_paused
        self._hold_reason = ""
        self.runs: list = []
        self._schedules: list[list[tuple[int, Event]]] = []
        self._next_event: list[int] = []
        self._snapshots: list[Snapshot] = []
        self._final_outcomes: dict[int, Outcome] = {}
        self._saved_dropout: dict[int, float] = {}
        self._chunk = chunk_steps or 10
        self._timelines: list[WeightTimeline] = []
        self._speed = 0.0
        self._trained = False       # no round done yet: the kernels may still be compiling

    # ------------------------------------------------------------------ called from the UI thread

    def send(self, kind: str, key: str = "", value: Any = None) -> None:
        self.commands.put(Command(kind, key, value))

    def take(self) -> Progress | None:
        """The newest bundle (or None); lets the worker post the next one."""
        with self._slot.lock:
            progress, self._slot.latest = self._slot.latest, None
            self._slot.pending = False
        return progress

    # ------------------------------------------------------------------ the worker

    def loop(self, is_cancelled: Callable[[], bool], post: Callable[[Message], Any]) -> None:
        """Train until cancelled. ``post`` is the app's thread-safe ``post_message``."""
        self._post_message = post
        self._build_runs()
        if is_cancelled():
            return
        self._fire_due_events()
        self._publish()
        while not is_cancelled():
            if not self._trainable() or self._paused:
                try:
                    command = self.commands.get(timeout=PAUSED_POLL_SECONDS)
                except queue.Empty:
                    continue
                self._handle(command)
                self._drain()
                continue
            self._drain()
            if self._paused or not self._trainable():
                self._publish()
                continue
            self._round(self._chunk_size())

    def _post(self, message: TrainerMessage) -> None:
        message.trainer = self
        self._post_message(message)

    def _build_runs(self) -> None:
        # Imported here so the first frame does not wait for Numba to load.
        from ..core.run import Run

        scenario = self.scenario
        self.runs = [Run(v.config, name=v.name, base_dir=scenario.base_dir) for v in scenario.variants]
        self._schedules = [scenario.schedule(run.name, run.steps_per_epoch) for run in self.runs]
        self._next_event = [0] * len(self.runs)
        self._snapshots = [run.snapshot() for run in self.runs]
        self._timelines = [WeightTimeline().add(0, s.weight_hist, 0) for s in self._snapshots]
        self._post(RunsBuilt(tuple(run.dataset for run in self.runs)))

    def _drain(self) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            self._handle(command)

    # ------------------------------------------------------------------ stepping

    def _active(self, index: int) -> bool:
        snap = self._snapshots[index]
        if snap.diverged or snap.stopped_early:
            return False
        return not snap.finished or self.open_ended

    def _trainable(self) -> bool:
        return any(self._active(i) for i in range(len(self.runs)))

    def _reached_stop(self) -> bool:
        return self.stop_at is not None and all(
            self._snapshots[i].step >= self.stop_at for i in range(len(self.runs)) if self._active(i))

    def _chunk_size(self) -> int:
        """The adaptive chunk, cut so it ends exactly at the next event or ``stop_at``."""
        n = self._chunk
        step = min(self._snapshots[i].step for i in range(len(self.runs)) if self._active(i))
        for i, schedule in enumerate(self._schedules):
            if self._active(i) and self._next_event[i] < len(schedule):
                n = min(n, schedule[self._next_event[i]][0] - self._snapshots[i].step)
        if self.stop_at is not None:
            n = min(n, self.stop_at - step)
        if self.open_ended:     # stop once at train.steps: the expectations are checked there
            for i in range(len(self.runs)):
                end = self.runs[i].config.train.steps
                if self._active(i) and self._snapshots[i].step < end:
                    n = min(n, end - self._snapshots[i].step)
        return max(n, 1)

    def _round(self, n_steps: int, adapt: bool = True) -> None:
        """Advance every active run by ``n_steps`` and adapt the chunk to the time it took."""
        started = time.perf_counter()
        advanced = 0
        for i, run in enumerate(self.runs):
            if not self._active(i):
                continue
            before = self._snapshots[i].step
            snap = run.advance(n_steps, past_end=self.open_ended)
            self._snapshots[i] = snap
            self._record(i, snap)
            advanced = max(advanced, snap.step - before)
        elapsed = max(time.perf_counter() - started, 1e-6)
        self._trained = True
        if advanced and adapt:
            rate = advanced / elapsed
            self._speed = rate if self._speed == 0 else 0.7 * self._speed + 0.3 * rate
            if self.fixed_chunk is None:
                scale = min(4.0, max(0.25, self.chunk_seconds / elapsed))
                self._chunk = max(1, min(1_000_000, int(round(n_steps * scale))))
        self._fire_due_events()
        if self._reached_stop():
            self.stop_at = None     # pause here once; space trains on
            self._paused = True
        self._publish()

    def _record(self, index: int, snap: Snapshot) -> None:
        timeline = self._timelines[index]
        spacing = max(self.runs[index].config.train.eval_every, timeline.spacing)
        self._timelines[index] = timeline.add(snap.step, snap.weight_hist, spacing)

    def _fire_due_events(self) -> None:
        for i, run in enumerate(self.runs):
            schedule = self._schedules[i]
            while self._next_event[i] < len(schedule) and schedule[self._next_event[i]][0] <= run.step:
                step, event = schedule[self._next_event[i]]
                self._next_event[i] += 1
                for key, value in event.set:
                    run.set(key, value)
                # An event for every variant is told once, by the first run it reaches.
                if event.variant is None and i > 0:
                    continue
                changes = ", ".join(f"{k} = {v}" for k, v in event.set)
                hold = self.hold_on_narration and bool(event.say)
                if hold:
                    self._paused = True
                    self._hold_reason = "narration"
                self._post(Narration(step, event.variant, event.say, changes, hold))

    # ------------------------------------------------------------------ commands

    def _handle(self, command: Command) -> None:
        kind = command.kind
        if kind == "toggle":
            self._set_paused(not self._paused)
        elif kind == "resume":
            self._set_paused(False)
        elif kind == "step":
            self._set_paused(True)
            if self._trainable():
                self._round(max(1, int(command.value or 1)), adapt=False)
                return
        elif kind in ("scale", "dropout", "optimizer"):
            if kind == "scale":
                self._each_set(command.key, lambda cfg: _get(cfg, command.key) * command.value)
            elif kind == "dropout":
                self._toggle_dropout()
            else:
                current = self.runs[0].config.train.optimizer
                following = OPTIMIZERS[(OPTIMIZERS.index(current) + 1) % len(OPTIMIZERS)]
                self._each_set("train.optimizer", lambda cfg: following)
            # Paused, the screen would show the old learning rate until the next step.
            self._snapshots = [run.snapshot() for run in self.runs]
        elif kind == "reset":
            self._reset()
        self._publish()

    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        self._hold_reason = ""

    def _each_set(self, key: str, value_of: Callable[[RunConfig], Any]) -> None:
        for run in self.runs:
            try:
                run.set(key, value_of(run.config))
            except ConfigError as err:
                self._post(Notice(f"{run.name}: {err}", "error"))
                return

    def _toggle_dropout(self) -> None:
        if all(len(run.config.model.layers) == 0 for run in self.runs):
            self._post(Notice("dropout needs a hidden layer", "warning"))
            return
        if any(run.config.model.dropout > 0 for run in self.runs):
            for i, run in enumerate(self.runs):
                self._saved_dropout[i] = run.config.model.dropout
                run.set("model.dropout", 0.0)
        else:
            for i, run in enumerate(self.runs):
                run.set("model.dropout", self._saved_dropout.get(i) or DEFAULT_DROPOUT)

    def _reset(self) -> None:
        """Every run back to its initial weights at step 0; the script starts over."""
        for run in self.runs:
            run.reset()
        self._snapshots = [run.snapshot() for run in self.runs]
        self._timelines = [WeightTimeline().add(0, s.weight_hist, 0) for s in self._snapshots]
        self._next_event = [0] * len(self.runs)
        self._final_outcomes.clear()
        self._speed = 0.0
        self._fire_due_events()

    # ------------------------------------------------------------------ publishing

    def _state(self) -> tuple[str, str]:
        snaps = self._snapshots
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
        run, snap = self.runs[index], self._snapshots[index]
        if not snap.finished or not self.scenario.expectations:
            return Outcome(snapshot=snap, config=run.config)
        if index not in self._final_outcomes:
            self._final_outcomes[index] = Outcome.from_run(run, snap)
        return self._final_outcomes[index]

    def _publish(self) -> None:
        state, detail = self._state()
        progress = Progress(
            names=tuple(run.name for run in self.runs),
            labels=tuple(v.label for v in self.scenario.variants),
            snapshots=tuple(self._snapshots),
            configs=tuple(run.config for run in self.runs),
            outcomes=tuple(self._outcome(i) for i in range(len(self.runs))),
            weight_timelines=tuple(self._timelines),
            state=state, detail=detail,
            steps_per_second=self._speed if state == "running" else 0.0,
            chunk_steps=self._chunk,
        )
        with self._slot.lock:
            self._slot.latest = progress
            notify = not self._slot.pending
            self._slot.pending = True
        if notify:
            self._post(ProgressReady())


def _get(cfg: RunConfig, key: str) -> Any:
    table, _, name = key.partition(".")
    return getattr(getattr(cfg, table), name)

"""The training thread behind the dashboard: the thread, its request queue and publishing.

``Trainer.loop`` runs inside a Textual thread worker. What runs is a ``Session`` (``core``: the
runs of the learner's experiment and every change to them); when steps run is a ``Playback``
(``core.pacing``: pause, pace, one step, full speed); what the panes get is built by a
``FrameBuilder``. The trainer carries them on its thread: it steps the runs through the one
driver (``core.driver``), which decides where chunks end and fires the scripted events exactly
as ``nnsim run`` does, sleeping on its request queue between frames so a slow pace costs almost
no CPU and a key is handled at once. Frames travel through a one-slot mailbox: the worker posts
a small ``FrameReady`` only when the app has taken the previous frame, so a slow screen never
makes a queue grow and never blocks training.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import singledispatchmethod
from typing import Any, Callable

from textual.message import Message

from ..core import warmup
from ..core.narration import told
from ..core.pacing import ChunkClock, Playback
from ..core.scenario import Scenario
from ..core.session import Note, Session
from . import requests as ask
from .frame import Frame, FrameBuilder
from .messages import FrameReady, Narration, Notice, RateFound, TraceReady, TrainerMessage

IDLE_POLL_SECONDS = 0.1     # how often an idle worker wakes to check it was cancelled
SPEED_WINDOW_SECONDS = 1.0  # the steps/s shown is measured over this much wall time
YOURS = ("Now this is your experiment: the lesson's narration and checks were written for its "
         "own setup and stop here (the Lesson pane lists your changes; b goes back)")
LESSONS_AGAIN = "The lesson again, as it loaded: its narration and checks speak for these runs"


@dataclass
class _Slot:
    """The one-frame mailbox between the worker and the app."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latest: Frame | None = None
    pending: bool = False


class Trainer:
    """Carries one session on the training thread; every method except ``send`` and ``take``
    runs on the worker.

    ``lesson`` is the lesson as it loaded, ``scenario`` what the runs start from (the lesson
    with ``--set``). ``pace``: steps per second (``None``: as fast as the kernels go).
    ``open_ended``: keep training past ``train.steps`` (the playground). ``stop_at``: pause when
    every run reaches this step (fixed screenshots and tests). ``hold_on_narration``: pause
    after each event that says something (``--replay``). ``chunk_steps`` fixes the chunk size
    (screens that must be the same on every machine).
    """

    def __init__(self, scenario: Scenario, *, lesson: Scenario | None = None,
                 pace: float | None = None, open_ended: bool = False,
                 stop_at: int | None = None, hold_on_narration: bool = False,
                 start_paused: bool = False, chunk_steps: int | None = None) -> None:
        self.scenario = scenario                # what the session starts from
        self.lesson = lesson or scenario
        self.open_ended = open_ended
        self.fixed_chunk = chunk_steps
        self.requests: queue.SimpleQueue[ask.Request] = queue.SimpleQueue()
        self.playback = Playback(pace, paused=start_paused, stop_at=stop_at,
                                 hold_on_narration=hold_on_narration)
        self.clock = ChunkClock()
        self.frames = FrameBuilder()
        self.session: Session | None = None     # made on the thread: building runs loads Numba
        self._slot = _Slot()
        self._recent: deque[tuple[float, int]] = deque()    # (time, steps taken) for the speed
        self._steps_taken = 0
        self._trained = False       # no round done yet: the kernels may still be compiling
        self._post_message: Callable[[Message], Any] = lambda message: None
        self._traced: tuple[Any, int] | None = None     # (Run, step) of the last trace

    # ------------------------------------------------------------------ called from the UI thread

    def send(self, request: ask.Request) -> None:
        self.requests.put(request)

    def take(self) -> Frame | None:
        """The newest frame (or None); lets the worker post the next one."""
        with self._slot.lock:
            frame, self._slot.latest = self._slot.latest, None
            self._slot.pending = False
        return frame

    # ------------------------------------------------------------------ the worker

    @property
    def runs(self) -> list:
        return self.session.runs if self.session is not None else []

    def loop(self, is_cancelled: Callable[[], bool], post: Callable[[Message], Any]) -> None:
        """Train until cancelled. ``post`` is the app's thread-safe ``post_message``."""
        self._post_message = post
        self.open()
        if is_cancelled():
            return
        self._fire_due_events()
        self._publish()
        pace = self.playback.pace
        pace.restart(time.monotonic())
        while not is_cancelled():
            self._drain()
            if self.playback.paused or not self._trainable():
                self._wait_for_request(IDLE_POLL_SECONDS)
                if self.frames.valley_due(self.session):    # the landscape of the last steps
                    self._publish()
                continue
            now = time.monotonic()
            due = pace.due(now)
            if due is None:
                self._round(self.fixed_chunk or self.clock.steps)
                continue
            batch = self.playback.frame_steps()
            if due < batch:
                self._wait_for_request(min(IDLE_POLL_SECONDS, pace.wait(now, batch - due)))
                continue
            self._round(min(due, self.fixed_chunk or max(batch, self.clock.steps)))

    def open(self) -> None:
        """The session's runs, built (and the kernels loaded, or compiled on a first start by
        helper processes, ``core.warmup``)."""
        self.session = Session(self.lesson, self.scenario, open_ended=self.open_ended)
        self._started(new_runs=True)

    def _wait_for_request(self, timeout: float) -> None:
        try:
            request = self.requests.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            return
        self._answer(request)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                request = self.requests.get_nowait()
            except queue.Empty:
                return
            self._answer(request)

    def _answer(self, request: ask.Request) -> None:
        was_lesson = self.session.is_lesson
        if self.handle(request):
            self._publish()
        if was_lesson != self.session.is_lesson:    # said once, wherever the learner is looking
            self._post(Notice(YOURS if was_lesson else LESSONS_AGAIN))

    def _post(self, message: TrainerMessage) -> None:
        message.trainer = self
        self._post_message(message)

    def _tell(self, notes: list[Note]) -> None:
        for note in notes:
            self._post(Notice(note.text, note.severity))

    def _started(self, *, new_runs: bool) -> None:
        """The runs are at step 0 (``new_runs``: other runs, perhaps of other data)."""
        if new_runs:
            self.frames.start(self.session)
            self._tell(self.session.notes)
        else:
            self.frames.restart(self.session)
        self._recent.clear()
        self.playback.pace.restart(time.monotonic())

    # ------------------------------------------------------------------ stepping

    def _trainable(self) -> bool:
        return any(run.active for run in self.runs)

    def _round(self, n_steps: int, adapt: bool = True, peek: bool = False) -> None:
        """Advance every active run by up to ``n_steps``, all to the nearest of their next stops
        (an event for one variant holds the others there too, so they stay in step); ``peek``
        measures each run at the step it reached (see ``Run.peek``)."""
        stop_at = self.playback.stop_at
        n_steps = min([n_steps] + [run.next_stop(stop_at) - run.step
                                   for run in self.runs if run.active])
        started = time.perf_counter()
        advanced = 0
        for index, run in enumerate(self.runs):
            if not run.active:
                continue
            before = run.step
            run.advance(n_steps, stop_at)
            if peek:        # a step by hand: measure it now, not only at the next check
                run.peek()
            self.frames.record(self.session, index)
            advanced = max(advanced, run.step - before)
        self.playback.pace.took(advanced)
        first = not self._trained
        if first:               # that round loaded (or compiled) the kernels: no burst to repay it
            self._trained = True
            self.playback.pace.restart(time.monotonic())
            self._recent.clear()
        self._steps_taken += advanced
        if adapt:
            self.clock.observe(advanced, time.perf_counter() - started)
        self._fire_due_events()
        self.playback.reached([run.step for run in self.runs if run.active])
        self._publish()
        if first and warmup.first_start():
            # The network pane's kernel (unless the pane, on screen, has asked already) and
            # what the step-through and the landscape pane use, compiled by one helper once the
            # first trained frame is out, so that the first step's helpers had both cores
            # (``warmup.ensure`` waits for them; on a later start that lacks them, starts one).
            warmup.start(("pictures", "later"))

    def _fire_due_events(self) -> None:
        """The script's due events; their lines are told only while the runs are the lesson's
        (written for its setup, they would describe runs that are not on screen)."""
        speaks = self.session.is_lesson
        for fired in self.session.fire_due():
            say = told(fired.event.say, fired.step, self.session.histories()) if speaks else ""
            if not say and not fired.event.set:
                continue
            # held for space only if there is something to go on to
            hold = bool(say) and self._trainable() and self.playback.narrated()
            self._post(Narration(fired.step, fired.event.variant, say, fired.changes, hold))

    # ------------------------------------------------------------------ requests: one handler each

    @singledispatchmethod
    def handle(self, request: ask.Request) -> bool:
        """Answer ``request``; whether a frame should follow at once."""
        raise TypeError(f"no handler for {request!r}")

    @handle.register
    def _(self, request: ask.TogglePause) -> bool:
        self.playback.toggle(time.monotonic())
        return True

    @handle.register
    def _(self, request: ask.Resume) -> bool:
        self.playback.resume(time.monotonic())
        return True

    @handle.register
    def _(self, request: ask.Step) -> bool:
        self.playback.pause(time.monotonic())
        if self._trainable():
            self._round(max(1, request.steps), adapt=False, peek=True)     # it publishes
            return False
        return True

    @handle.register
    def _(self, request: ask.ScalePace) -> bool:
        self.playback.scale(request.factor, time.monotonic(), self._speed())
        return True

    @handle.register
    def _(self, request: ask.ToggleFullSpeed) -> bool:
        self.playback.toggle_full_speed(time.monotonic())
        return True

    @handle.register
    def _(self, request: ask.ScaleSetting) -> bool:
        self._tell(self.session.scale(request.key, request.factor))
        return True

    @handle.register
    def _(self, request: ask.ToggleDropout) -> bool:
        self._tell(self.session.toggle_dropout())
        return True

    @handle.register
    def _(self, request: ask.NextOptimizer) -> bool:
        self._tell(self.session.next_optimizer())
        return True

    @handle.register
    def _(self, request: ask.Configure) -> bool:
        runs = self.session.runs
        self._tell(self.session.configure(request.changes))
        if self.session.runs is not runs:       # a change that defines new runs
            self._restarted()
        return True

    @handle.register
    def _(self, request: ask.ConfigureRun) -> bool:
        self._tell(self.session.set_in_run(min(request.run, len(self.session.runs) - 1),
                                           request.changes))
        return True

    @handle.register
    def _(self, request: ask.BackToLesson) -> bool:
        self._tell(self.session.back_to_lesson())
        self._restarted()
        return True

    @handle.register
    def _(self, request: ask.Reset) -> bool:
        self.session.reset()
        self._started(new_runs=False)
        self._fire_due_events()
        return True

    @handle.register
    def _(self, request: ask.RestoreSettings) -> bool:
        self.session.restore()
        self._started(new_runs=False)
        self._fire_due_events()
        return True

    def _restarted(self) -> None:
        self._started(new_runs=True)
        self._fire_due_events()

    @handle.register
    def _(self, request: ask.Trace) -> bool:
        """Pause, then trace the run's next step for the step-through (the run unchanged)."""
        from ..core.landscape import DASHBOARD_WORK, step_line
        from ..core.trace import trace_step

        self.playback.pause(time.monotonic())
        run = self.runs[min(request.run, len(self.runs) - 1)]
        if not run.active:
            self._post(TraceReady(None, f"{run.name} has {run.snapshot.state}: no step to take"))
            return False
        trace = trace_step(run.run)
        self._traced = (run.run, trace.step)
        self._post(TraceReady(trace, line=step_line(run.run, work=DASHBOARD_WORK)))
        return False

    @handle.register
    def _(self, request: ask.TakeTraced) -> bool:
        """Take the traced step, as ``n`` takes a step, if the traced run is still where it was
        traced (not reset, replaced or moved on)."""
        run, step = self._traced or (None, -1)
        if not any(scripted.run is run for scripted in self.runs) or run.step != step:
            self._post(Notice("the run moved on since this step was traced: not taken", "warning"))
            return True
        self._traced = None
        self._round(1, adapt=False, peek=True)
        return False

    @handle.register
    def _(self, request: ask.ShowLandscape) -> bool:
        """A frame follows either way: with the valley now watched, or without the one last
        measured (a paused dashboard publishes no other, and would keep it)."""
        self.frames.landscape_view = request.view
        return True

    @handle.register
    def _(self, request: ask.FindRate) -> bool:
        """The range test on copies of the run's state: the run, paused or not, is untouched."""
        from ..core.lr_find import range_test

        run = self.runs[min(request.run, len(self.runs) - 1)].run
        if run.diverged:        # the weights where it blew up: no rate trains from there
            self._post(RateFound(None, f"{run.name} diverged at step {run.diverged_step}: r "
                                       "starts it again, v picks another run"))
        else:
            self._post(RateFound(range_test(run)))
        return False

    @handle.register
    def _(self, request: ask.Watch) -> bool:
        self.frames.watched = request.run
        return True

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
            if self.playback.paused:
                return "paused", self.playback.reason or detail
            return ("running" if self._trained else "starting"), detail
        if len(snaps) == 1:
            return snaps[0].state, detail
        if len(diverged) == len(snaps):
            return "diverged", detail
        return "finished", detail

    def _publish(self) -> None:
        state, detail = self._state()
        frame = self.frames.build(
            self.session, state=state, detail=detail,
            steps_per_second=self._speed() if state == "running" else 0.0,
            pace=self.playback.pace.steps_per_second)
        with self._slot.lock:
            self._slot.latest = frame
            notify = not self._slot.pending
            self._slot.pending = True
        if notify:
            self._post(FrameReady())

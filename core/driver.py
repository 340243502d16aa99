"""The one driver: where a run's next chunk ends, which scripted events fire, and when.

The headless runner, ``nnsim check``, the dashboard's worker and the tests all step runs through
``ScriptedRun``, so "what happens at step N" is decided in one place: a chunk ends at the next
event, at ``train.steps`` and at any stop the caller asks for, and the events due there fire
before the next step. ``Run.advance`` already splits its work at checks, so where a chunk ends
never changes a number; it only decides when a scripted change lands, and that is always its
step.

Time is a parameter of the view, not of the math: ``ChunkClock`` sizes chunks to a slice of
wall time so that progress shows often whatever the network's size, and ``Pace`` says how many
steps are due by now when a person is watching. Both change *when* steps run, never *which*.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from .expectations import Outcome
from .pacing import MAX_CHUNK, ChunkClock
from .run import Run
from .scenario import Event, Scenario
from .snapshot import Snapshot



@dataclass(frozen=True)
class Fired:
    """A scripted event that fired: what to narrate, and whether this run is the one to tell it."""

    run: str
    step: int
    event: Event
    tell: bool              # an event for every variant is told once, by the first run to reach it

    @property
    def changes(self) -> str:
        return ", ".join(f"{key} = {value}" for key, value in self.event.set)


class Told:
    """The events already narrated, shared by every run of one scenario (runs may be on threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indices: set[int] = set()

    def first(self, event: Event) -> bool:
        if event.variant is not None:
            return True
        with self._lock:
            if event.index in self._indices:
                return False
            self._indices.add(event.index)
            return True

    def clear(self) -> None:
        with self._lock:
            self._indices.clear()


class ScriptedRun:
    """A ``Run`` with its scenario's events: it knows where its next chunk must end.

    ``open_ended`` (the playground): train on past ``train.steps`` once the steps up to it are
    done; the chunk still ends there once, where the expectations are judged.
    """

    def __init__(self, run: Run, scenario: Scenario, told: Told | None = None, *,
                 open_ended: bool = False) -> None:
        self.run = run
        self.open_ended = open_ended
        self.told = told if told is not None else Told()
        self._schedule = scenario.schedule(run.name, run.steps_per_epoch)
        self._next_event = 0
        if any(e.reads_path for e in scenario.expectations) and run.trajectory is None:
            _record_path(run, len(scenario.variants))
        self.snapshot: Snapshot = run.snapshot()

    @classmethod
    def build(cls, scenario: Scenario, told: Told | None = None, *,
              open_ended: bool = False) -> list["ScriptedRun"]:
        """One scripted run per variant of ``scenario``, sharing one ``Told`` (and the memory
        budget: they are all held at once)."""
        told = told if told is not None else Told()
        alongside = len(scenario.variants)
        return [cls(Run(v.config, name=v.name, base_dir=scenario.base_dir, alongside=alongside),
                    scenario, told,
                    open_ended=open_ended) for v in scenario.variants]

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def step(self) -> int:
        return self.run.step

    @property
    def active(self) -> bool:
        """There are steps left to take: not diverged or stopped, and not at the end (unless
        open-ended)."""
        run = self.run
        if run.diverged or run.stopped_early:
            return False
        return self.open_ended or run.step < run.config.train.steps

    def next_stop(self, stop_at: int | None = None) -> int:
        """The step the next chunk must end at: the next event, ``train.steps`` (once), or
        ``stop_at``, whichever comes first; far ahead when nothing stops it."""
        stops = [self._schedule[self._next_event][0]] if self._next_event < len(self._schedule) else []
        end = self.run.config.train.steps
        if self.run.step < end:
            stops.append(end)
        if stop_at is not None and stop_at > self.run.step:
            stops.append(stop_at)
        return min(stops, default=MAX_CHUNK + self.run.step)

    def fire_due(self) -> list[Fired]:
        """Apply every event due at the current step, in file order; what to narrate."""
        fired = []
        while (self._next_event < len(self._schedule)
               and self._schedule[self._next_event][0] <= self.run.step):
            step, event = self._schedule[self._next_event]
            self._next_event += 1
            for key, value in event.set:
                self.run.set(key, value)
            fired.append(Fired(self.run.name, step, event, self.told.first(event)))
        return fired

    def advance(self, max_steps: int, stop_at: int | None = None) -> Snapshot:
        """Up to ``max_steps`` steps, ending at the next stop at the latest."""
        n = max(1, min(max_steps, self.next_stop(stop_at) - self.run.step))
        self.snapshot = self.run.advance(n, past_end=self.open_ended)
        return self.snapshot

    def peek(self) -> Snapshot:
        """A snapshot measured at this very step (``Run.peek``), between checks."""
        self.snapshot = self.run.peek()
        return self.snapshot

    def refresh(self) -> Snapshot:
        """A new snapshot without stepping (after a setting changed), measured at this very
        step again if the one shown was (a learner stepping by hand): a rate changed while
        paused at step 48 must not show step 40's check as step 48's."""
        shown = self.snapshot
        self.snapshot = (self.run.peek() if shown.step == shown.measured_step == self.run.step
                         else self.run.snapshot())
        return self.snapshot

    def reset(self) -> None:
        """Back to step 0 and the start of the script (settings changed since are kept)."""
        self.run.reset()
        self._next_event = 0
        self.snapshot = self.run.snapshot()


def _record_path(run: Run, alongside: int) -> None:
    """``run`` keeps its weights at each check (an expectation measures its path), as the
    dashboard's runs do when the memory estimate allows (``budget.trajectory_rows``)."""
    from .budget import available_bytes, trajectory_rows

    rows = trajectory_rows(run.layout.n_params, available_bytes(), alongside)
    if rows:
        run.record_trajectory(rows)


class Cancelled(Exception):
    """The user interrupted the runs."""


def play(scripted: ScriptedRun, *, tell: Callable[[Fired], None] = lambda fired: None,
         progress: Callable[[Run], None] = lambda run: None,
         cancel: threading.Event | None = None) -> Outcome:
    """Play a scripted run to its end as fast as it goes (``nnsim run``, ``nnsim check``, tests):
    every due event fired and told, ``progress`` after each chunk; the outcome, judged once."""
    clock = ChunkClock()
    for fired in scripted.fire_due():
        tell(fired)
    while scripted.active:
        if cancel is not None and cancel.is_set():
            raise Cancelled
        started, before = time.perf_counter(), scripted.step
        scripted.advance(clock.steps)
        clock.observe(scripted.step - before, time.perf_counter() - started)
        for fired in scripted.fire_due():
            tell(fired)
        progress(scripted.run)
    # An event may have ended the run (train.steps set to its step) after the last snapshot.
    return Outcome.from_run(scripted.run, scripted.refresh())

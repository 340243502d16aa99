"""What the panes draw: one immutable ``Frame`` per moment, built by the training thread.

Everything in a frame is a copy the training thread will never touch again (snapshots,
settings, expectation results, the data points of the plane), so the UI thread reads it
without locks and a pane never sees a run, a live dataset or the expectation checker.
``FrameBuilder`` makes them from a session, keeping what spans frames (the weights' timeline,
each ended run's verdict, the network pane's unit maps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core import warmup
from ..core.config import RunConfig
from ..core.data.cleaning import CleaningReport
from ..core.experiment import Experiment
from ..core.expectations import Outcome, Result
from ..core.session import PastRun, Session
from ..core.snapshot import Pictures, Snapshot, UnitMaps, frozen

if TYPE_CHECKING:       # core.landscape loads the kernels (Numba): not before the first frame
    from ..core.landscape import Valley

TIMELINE_ROWS = 64          # moments of the weight histograms kept per run
LANDSCAPE_SHARE = 0.05      # of the training thread's time the landscape may take while shown
LANDSCAPE_SECONDS = 0.5     # and it is measured again at most this often


@dataclass(frozen=True)
class WeightTimeline:
    """Evenly spaced moments of one run's weight histograms, oldest first (step 0 kept first)."""

    steps: tuple[int, ...] = ()
    hists: tuple[np.ndarray, ...] = ()       # each (n_layers, n_bins)

    def wants(self, step: int, spacing: int) -> bool:
        """Whether a moment at ``step`` is kept: ``spacing`` steps have passed since the last."""
        return not self.steps or step >= self.steps[-1] + spacing

    def add(self, step: int, hist: np.ndarray, spacing: int) -> "WeightTimeline":
        """This timeline with ``hist`` appended if it ``wants`` it; when it is full, every
        other moment goes, so a run of any length fits in constant memory."""
        if not self.wants(step, spacing):
            return self
        steps, hists = self.steps + (step,), self.hists + (hist,)
        if len(steps) > TIMELINE_ROWS:
            steps, hists = steps[::2], hists[::2]
        return WeightTimeline(steps, hists)

    @property
    def spacing(self) -> int:
        """Steps between kept moments: doubles each time the timeline is thinned."""
        return self.steps[1] - self.steps[0] if len(self.steps) > 1 else 0


@dataclass(frozen=True, eq=False)
class PlanePoints:
    """The raw 2-D points a run trains and validates on, for drawing over its boundary."""

    task: str                   # binary | multiclass | regression
    train: np.ndarray           # (n_train, 2)
    train_labels: np.ndarray    # (n_train,) class index or target value
    val: np.ndarray             # (n_val, 2)
    val_labels: np.ndarray      # (n_val,)

    @classmethod
    def of(cls, dataset) -> "PlanePoints | None":
        plane = dataset.plane
        if plane is None:
            return None
        return cls(dataset.task, frozen(plane.points_train), frozen(plane.labels_train),
                   frozen(plane.points_val), frozen(plane.labels_val))


@dataclass(frozen=True)
class Frame:
    """Everything the panes draw, for one moment."""

    names: tuple[str, ...]
    labels: tuple[str, ...]
    snapshots: tuple[Snapshot, ...]
    pictures: tuple[Pictures, ...]      # per run: its weights' histograms and boundary now
    configs: tuple[RunConfig, ...]      # current settings (after keys and events)
    results: tuple[Result, ...]         # the lesson's expectations, judged on this frame (none
                                        # once the runs are not the lesson's)
    weight_timelines: tuple[WeightTimeline, ...]
    points: tuple[PlanePoints | None, ...]
    state: str                          # starting | running | paused | finished | diverged ...
    detail: str                         # a short reason, e.g. "diverged at step 12"
    steps_per_second: float             # measured
    pace: float | None                  # steps per second asked for; None: as fast as it goes
    steps_per_epoch: tuple[int, ...]
    cleaning: tuple[CleaningReport | None, ...] = ()   # per run: what data cleaning found and did
    units: tuple[UnitMaps | None, ...] = ()     # what the units compute, for the run the
                                                # network pane shows (None for the others)
    past: tuple[PastRun, ...] = ()      # oldest first
    experiment: Experiment | None = None    # what the runs are, as a scenario file states it
    valley: Valley | None = None        # the landscape pane's numbers, while it is on screen

    @property
    def step(self) -> int:
        return max(s.step for s in self.snapshots)

    @property
    def epoch(self) -> int:
        return max(s.epoch for s in self.snapshots)


class FrameBuilder:
    """Frames of one session's runs. Every method runs on the training thread."""

    def __init__(self) -> None:
        self.watched: int | None = None     # the run whose units the network pane shows (None:
                                            # hidden, or not yet told)
        self._timelines: list[WeightTimeline] = []
        self._points: tuple[PlanePoints | None, ...] = ()
        self._final_outcomes: dict[int, Outcome] = {}
        self._units: dict[int, tuple[Snapshot, UnitMaps]] = {}  # run index: (snapshot, its maps)
        self._pictures: dict[int, tuple[Snapshot, Pictures]] = {}     # the same, its pictures
        # The landscape pane's (run, (grid rows, cols)) while it is on screen, else None; the
        # last valley measured with what it was measured for, and when it may be measured again.
        self.landscape_view: tuple[int, tuple[int, int]] | None = None
        self._valley: tuple[tuple, Valley] | None = None
        self._valley_due = 0.0

    def start(self, session: Session) -> None:
        """The session's runs are new (other data, perhaps): forget the old ones."""
        self._points = tuple(PlanePoints.of(run.run.dataset) for run in session.runs)
        self._units.clear()
        self.restart(session)
        self._record_paths(session)

    def restart(self, session: Session) -> None:
        """The runs are back at step 0."""
        self._pictures.clear()
        self._valley = None
        self._timelines = [WeightTimeline().add(0, self._pictures_of(session, i).weight_hist, 0)
                           for i in range(len(session.runs))]
        self._final_outcomes.clear()

    def record(self, session: Session, index: int) -> None:
        """Run ``index`` took steps: its weights' timeline may keep a moment (made only when
        it does)."""
        run, timeline = session.runs[index], self._timelines[index]
        spacing = max(run.run.config.train.eval_every, timeline.spacing)
        if timeline.wants(run.step, spacing):
            hist = self._pictures_of(session, index).weight_hist
            self._timelines[index] = timeline.add(run.step, hist, spacing)

    def build(self, session: Session, *, state: str, detail: str, steps_per_second: float,
              pace: float | None) -> Frame:
        runs = session.runs
        experiment = session.experiment
        results: tuple[Result, ...] = ()
        if experiment.is_lesson:        # the checks were written for the lesson's runs only
            outcomes = {run.name: self._outcome(session, i) for i, run in enumerate(runs)}
            results = tuple(e.check(outcomes) for e in session.scenario.expectations)
        return Frame(
            names=tuple(run.name for run in runs),
            labels=tuple(experiment.label(v) for v in session.scenario.variants),
            snapshots=tuple(run.snapshot for run in runs),
            pictures=tuple(self._pictures_of(session, i) for i in range(len(runs))),
            configs=tuple(run.run.config for run in runs),
            results=results,
            weight_timelines=tuple(self._timelines),
            points=self._points,
            state=state, detail=detail,
            steps_per_second=steps_per_second,
            pace=pace,
            steps_per_epoch=tuple(run.run.steps_per_epoch for run in runs),
            cleaning=tuple(run.run.dataset.cleaning for run in runs),
            units=tuple(self._unit_maps(session, i) for i in range(len(runs))),
            past=tuple(session.past),
            experiment=experiment,
            valley=self._valley_of(session),
        )

    def _outcome(self, session: Session, index: int) -> Outcome:
        """A running run is observed through its snapshot; an ended one once, with test metrics.

        The playground trains on past ``train.steps``, but its expectations keep the verdict
        of that step, as ``nnsim run`` gives it."""
        run = session.runs[index]
        if not run.snapshot.finished or not session.scenario.expectations:
            # A check of the path is measured on the path so far (its landing only at the end).
            reads_path = any(e.reads_path for e in session.scenario.expectations)
            path = run.run.trajectory.weights if reads_path and run.run.trajectory else None
            return Outcome(snapshot=run.snapshot, config=run.run.config, path=path)
        if index not in self._final_outcomes:
            self._final_outcomes[index] = Outcome.from_run(run.run, run.snapshot)
        return self._final_outcomes[index]

    def _pictures_of(self, session: Session, index: int) -> Pictures:
        """Run ``index``'s ``Pictures``, made once per snapshot: a frame, not every chunk, pays
        for them (and a headless run never does)."""
        run = session.runs[index]
        kept = self._pictures.get(index)
        if kept is None or kept[0] is not run.snapshot:
            kept = self._pictures[index] = (run.snapshot, run.run.pictures())
        return kept[1]

    def _unit_maps(self, session: Session, index: int) -> UnitMaps | None:
        """Run ``index``'s ``UnitMaps`` if the network pane shows that run, else None; computed
        once per snapshot, on the decision boundary's grid (the output unit's map is the
        boundary's plane, and the zoom has its detail). One call is under a ms, but a lesson of
        30 variants would pay it 30 times a round (benchmarks/bench_tui.py). On a first start
        the pane says it is drawing until a helper has compiled its kernel: training does not
        wait for it."""
        if index != self.watched or not warmup.ready("pictures"):
            return None
        run = session.runs[index]
        kept = self._units.get(index)
        if kept is None or kept[0] is not run.snapshot:
            kept = self._units[index] = (run.snapshot, run.run.unit_maps(run.run.boundary_shape))
        return kept[1]

    @staticmethod
    def _record_paths(session: Session) -> None:
        """Every new run keeps its weights at each check, the path the landscape pane draws,
        when the memory estimate allows (``budget.trajectory_rows``): bounded, a few MiB at
        most, and a copy of the weights per check costs nothing beside the check itself."""
        from ..core.budget import available_bytes, trajectory_rows

        available = available_bytes()
        for scripted in session.runs:
            rows = trajectory_rows(scripted.run.layout.n_params, available, len(session.runs))
            if rows:
                scripted.run.record_trajectory(rows)

    def _valley_key(self, session: Session) -> tuple | None:
        if self.landscape_view is None:
            return None
        index, shape = self.landscape_view
        return (min(index, len(session.runs) - 1), shape,
                tuple((run.step, run.run.config.train.lr) for run in session.runs))

    def valley_due(self, session: Session) -> bool:
        """The valley on screen is not the runs' now, and may be measured again (a paused
        dashboard publishes a frame for it)."""
        key = self._valley_key(session)
        return key is not None and (self._valley is None or self._valley[0] != key) \
            and time.monotonic() >= self._valley_due

    def _valley_of(self, session: Session) -> Valley | None:
        """The landscape pane's valley, only while it is on screen; measured again when the runs
        moved, at most every ``LANDSCAPE_SECONDS`` and within ``LANDSCAPE_SHARE`` of the thread's
        time (a grid of a thousand points is a thousand passes over the training split):
        between two measurements the pane shows the last one, which says its step."""
        key = self._valley_key(session)
        if key is None:
            return None
        kept = self._valley
        if kept is not None and (kept[0] == key or (kept[0][:2] == key[:2]
                                                    and time.monotonic() < self._valley_due)):
            return kept[1]      # another run or grid is measured at once
        from ..core.landscape import valley

        started = time.perf_counter()
        measured = valley([run.run for run in session.runs], key[0], key[1])
        cost = time.perf_counter() - started
        self._valley = (key, measured)
        self._valley_due = time.monotonic() + max(LANDSCAPE_SECONDS, cost / LANDSCAPE_SHARE)
        return measured

"""What the panes draw: one immutable ``Frame`` per moment, built by the training thread.

Everything in a frame is a copy the training thread will never touch again (snapshots,
settings, expectation results, the data points of the plane), so the UI thread reads it
without locks and a pane never sees a run, a live dataset or the expectation checker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.config import RunConfig
from ..core.data.cleaning import CleaningReport
from ..core.experiment import Experiment
from ..core.expectations import Result
from ..core.snapshot import History, Snapshot, UnitMaps, frozen

TIMELINE_ROWS = 64          # moments of the weight histograms kept per run


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


@dataclass(frozen=True, eq=False)
class PastRun:
    """The runs a change replaced, kept to compare with (the loss pane draws them faded)."""

    change: str                         # what the change was, e.g. "layers 8,8 → 16,16"
    histories: tuple[History, ...]      # one per variant
    steps_per_epoch: tuple[int, ...]


@dataclass(frozen=True)
class Frame:
    """Everything the panes draw, for one moment."""

    names: tuple[str, ...]
    labels: tuple[str, ...]
    snapshots: tuple[Snapshot, ...]
    configs: tuple[RunConfig, ...]      # current settings (after keys and events)
    results: tuple[Result, ...]         # the scenario's expectations, judged on this frame
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

    @property
    def step(self) -> int:
        return max(s.step for s in self.snapshots)

    @property
    def epoch(self) -> int:
        return max(s.epoch for s in self.snapshots)

"""What the status line says, against the frame it is given: plain Python, no dashboard.

Frames are made of real runs' snapshots, stopped where a schedule, reduce-on-plateau or a
changed setting has moved the rate away from the configured one, so a line that shows the
configured rate instead of the one the next step takes cannot pass.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from nnsim.core import Run
from nnsim.tui.frame import Frame, WeightTimeline
from nnsim.tui.panes.base import View
from nnsim.tui.panes.status import status_text

DATA = {"data": {"kind": "xor", "n_points": 60, "noise": 0.4}, "model": {"layers": [8]}}
SCHEDULED = {
    "step": {"lr": 0.5, "schedule": "step", "schedule_step": 10, "schedule_gamma": 0.5},
    "cosine": {"lr": 0.5, "schedule": "cosine", "steps": 100},
    "plateau": {"optimizer": "sgd", "lr": 2.0, "batch_size": 0, "eval_every": 3,
                "plateau_patience": 2, "plateau_factor": 0.5},
}


def run_of(name: str, trained: int, **train) -> Run:
    """A run of ``DATA`` with these training settings, ``trained`` steps in."""
    run = Run({**DATA, "train": train}, name=name)
    run.advance(trained)
    return run


def frame_of(runs: list[Run], *, state: str = "paused", pace: float | None = None,
             steps_per_second: float = 0.0) -> Frame:
    return Frame(
        names=tuple(run.name for run in runs), labels=tuple(run.name for run in runs),
        snapshots=tuple(run.snapshot() for run in runs), pictures=tuple(run.pictures() for run in runs),
        configs=tuple(run.config for run in runs),
        results=(), weight_timelines=tuple(WeightTimeline() for _ in runs),
        points=tuple(None for _ in runs), state=state, detail="",
        steps_per_second=steps_per_second, pace=pace,
        steps_per_epoch=tuple(run.steps_per_epoch for run in runs))


def field(line: str, name: str) -> str:
    """The value the line gives after ``name`` (``lr``, ``step``, ``epoch``…)."""
    found = re.search(rf"(?:^|\s){name} (\S+)", line)
    assert found, f"no {name!r} in {line!r}"
    return found.group(1)


def said(frame: Frame, variant: int = 0, **kwargs) -> str:
    return status_text(frame, View(variant=variant), "lesson", **kwargs).plain


@pytest.mark.parametrize("schedule", SCHEDULED)
@pytest.mark.parametrize("trained", [1, 9, 10, 11, 24, 47, 60, 99])
def test_the_line_shows_the_rate_the_next_step_takes_not_the_configured_one(schedule, trained):
    frame = frame_of([run_of(schedule, trained, **SCHEDULED[schedule])])
    rate = frame.snapshots[0].lr
    assert float(field(said(frame), "lr")) == pytest.approx(rate, rel=5e-3)       # 3 digits shown


def test_the_rates_chosen_here_do_move_away_from_the_configured_ones():
    """The test above discriminates only where the rate has moved: it has, for each schedule."""
    for schedule, train in SCHEDULED.items():
        run = run_of(schedule, 60, **train)
        assert run.snapshot().lr < 0.9 * run.config.train.lr, schedule


def test_a_rate_set_during_the_run_is_the_one_shown_scheduled():
    run = run_of("step", 25, **SCHEDULED["step"])
    run.set("train.lr", 0.3)
    line = said(frame_of([run]))
    assert float(field(line, "lr")) == pytest.approx(0.3 * 0.5 ** 2, rel=5e-3)    # step 25: ×γ²


def test_each_field_is_the_shown_runs_own():
    runs = [run_of("adam", 30, optimizer="adam", lr=0.01),
            run_of("sgd", 45, optimizer="sgd", lr=0.4, batch_size=7, schedule="cosine"),
            Run({**DATA, "model": {"layers": [8], "dropout": 0.2},
                 "train": {"optimizer": "momentum", "lr": 0.05}}, name="drop")]
    frame = frame_of(runs)
    for variant, run in enumerate(runs):
        line = said(frame, variant)
        snap = frame.snapshots[variant]
        assert field(line, "step").startswith(f"{snap.step:,}")
        assert field(line, "epoch") == f"{snap.epoch:,}"
        assert float(field(line, "lr")) == pytest.approx(snap.lr, rel=5e-3)
        assert f"  {run.config.train.optimizer}" in line
        assert f"{run.name} {variant + 1}/3" in line
        assert ("dropout" in line) == bool(run.config.model.dropout)
    assert float(field(said(frame, 2), "dropout")) == 0.2


def test_the_speed_is_the_pace_asked_or_the_one_measured_while_running():
    run = run_of("base", 10, lr=0.1, batch_size=0)          # the full batch: a step an epoch
    assert run.steps_per_epoch == 1
    paused = frame_of([run], pace=4.0, steps_per_second=0.0)
    assert field(said(paused), "pace") == "4/s" and "(4 ep/s)" in said(paused)
    running = frame_of([run], state="running", pace=40.0, steps_per_second=36.0)
    assert field(said(running), "pace") == "36/s" and "(36 ep/s)" in said(running)
    assert field(said(running, show_speed=False), "pace") == "40/s"   # screenshots: the pace asked
    flat_out = frame_of([run], state="running", steps_per_second=8000.0)
    assert field(said(flat_out), "speed") == "8,000/s" and "(8,000 ep/s)" in said(flat_out)
    assert field(said(flat_out, show_speed=False), "speed") == "–"


def test_a_narrow_line_drops_whole_fields_and_keeps_the_step_and_the_rate():
    """At 80 columns an ended run's line ran past the edge and was cut mid-field ("step 7
    (ended; others at"), the rate and optimizer gone: the least needed fields give way first."""
    runs = [run_of("too-high", 7, lr=2.0, steps=7), run_of("good", 30, lr=0.1)]
    frame = dataclasses.replace(frame_of(runs, state="running", pace=100.0),
                                detail="too-high finished at step 7")
    whole = said(frame)
    assert len(whole) > 80 and "epoch" in whole and "lesson" in whole
    line = said(frame, width=80)
    assert len(line) <= 80 and line.endswith("too-high 1/2  step 7 (ended; others at 30)"), line
    wider = said(frame, width=100)
    assert len(wider) <= 100 and "lr 2" in wider and "adam" in wider, wider
    assert "epoch" not in wider and "lesson" not in wider, wider
    assert said(frame, width=len(whole)) == whole

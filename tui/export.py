"""`e`: the metrics on screen as CSV, written by the headless runner's own ``metrics.csv`` writer."""

from __future__ import annotations

from pathlib import Path

from ..core.scenario import Scenario
from .worker import Progress


def export_metrics(scenario: Scenario, progress: Progress, path: Path) -> Path:
    """One row per history row per variant, the columns of ``nnsim run --out``; returns the path."""
    from ..headless import VariantRun, metrics_csv, write_atomically

    runs = [VariantRun(scenario.variant(outcome.name), outcome, 0.0) for outcome in progress.outcomes]
    return write_atomically(path.parent, path.name, metrics_csv(runs))

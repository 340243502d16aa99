"""What a narration line says of the runs on screen.

A lesson's ``say`` may quote the run being watched: ``{run.VARIANT.METRIC}`` (or with a format,
``{run.dirty.train_loss:,.0f}``) is that run's METRIC at the check where the line is told: the
check at the event's step, or the latest before it. The validation's figures
(``{validation.…}``) say what is typical over a thousand seeds; these say what happened here,
so a line never tells a learner "typically 4,388,742" over a run that shows 20,939.

Formats are Python's, plus ``~N``: N significant figures, with thousands separators
(``{run.dirty.train_loss:~2}`` gives 4,400,000), for a number whose spread over seeds makes
more digits noise.
"""

from __future__ import annotations

import math
import re
from typing import Mapping

import numpy as np

from .expectations import HISTORY_METRICS, figure_text, layer_metric, logged_values
from .snapshot import History

RUN_FIGURE = re.compile(r"\{run\.([^{}.:]+)\.([^{}:]+)(?::([^{}]*))?\}")
ROUNDED = re.compile(r"~([1-9])\Z")


class NarrationError(ValueError):
    """A ``{run.…}`` placeholder that cannot be filled: an unknown run or metric, a bad format."""


def shown(value: float, spec: str | None) -> str:
    """``value`` in ``spec`` (Python's, or ``~N`` significant figures); 3 significant figures
    without one; n/a for a figure not measured, ∞ for a diverged loss."""
    if math.isnan(value) or math.isinf(value) or spec is None:
        return figure_text(value)
    rounded = ROUNDED.match(spec)
    if rounded:
        value = float(f"{value:.{rounded.group(1)}g}")
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"
    return format(value, spec)


def check_figures(text: str, runs) -> None:
    """Raise ``NarrationError`` for a placeholder of ``text`` that names no run of ``runs``, no
    metric logged at a check, or a format a number cannot take."""
    for match in RUN_FIGURE.finditer(text):
        run, metric, spec = match.groups()
        if run not in runs:
            raise NarrationError(f"{match.group(0)}: no run named {run!r}; runs: {', '.join(runs)}")
        if metric not in HISTORY_METRICS and not layer_metric(metric):
            raise NarrationError(f"{match.group(0)}: expected a metric logged at each check "
                                 f"({', '.join(HISTORY_METRICS)}, grad_norm_N, update_ratio_N)")
        try:
            shown(1.0, spec)
        except ValueError as err:
            raise NarrationError(f"{match.group(0)}: bad format {spec!r}: {err}") from None


def told(text: str, step: int, histories: Mapping[str, History]) -> str:
    """``text`` with every ``{run.…}`` figure filled from its run's check at ``step`` (the
    latest at or before it; n/a before the run's first check or past a layer it lacks)."""
    def figure(match: re.Match) -> str:
        run, metric, spec = match.groups()
        history = histories[run]
        index = int(np.searchsorted(np.asarray(history.step), step, side="right")) - 1
        if index < 0:
            return figure_text(math.nan)
        try:
            value = float(logged_values(history, metric)[index])
        except IndexError:
            return figure_text(math.nan)
        return shown(value, spec)

    return RUN_FIGURE.sub(figure, text)

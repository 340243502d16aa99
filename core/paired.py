"""The kind ``paired``: pairs of runs compared at the same step, or at the same fit.

Two runs on the same data, differing in one setting (the optimizer), read at the same step can
differ in what they learned only because one has learned more of its training set by then: a
run that fits slowly looks better on new points for a while, as if stopped early. ``paired``
reads a logged metric of both runs of each pair either at one logged step (equal time) or,
with ``fit``, each at the first check where its own training loss is at or below ``fit``
(equal fit: each at its own step), and bounds the mean over the pairs of the first run's value
minus the second's; given both, it bounds how that mean difference changes from equal time to
equal fit: how much of a difference seen at a step was only a difference in fit. Several pairs
(several data sets) make the claim about the optimizers, not about one draw of the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .config import ConfigError, shown
from .expectations import (HISTORY_METRICS, _REQUIRED, Measured, _Bounds, _logged_step, _num,
                           first_step_reaching, history_values, kind, unknown_variant,
                           value_at_step)


def reading(outcome, metric: str, *, step: int | None = None,
            fit: float | None = None) -> tuple[int, float] | None:
    """``(step, value)`` of ``metric`` at logged ``step``, or at the first check whose training
    loss is at or below ``fit``; None while the run has not logged it (or never reached it)."""
    if fit is not None:
        step = first_step_reaching(outcome, "train_loss", fit)
        if step is None:
            return None
    value = value_at_step(outcome, metric, step)
    return None if value is None else (step, value)


@kind("paired")
@dataclass(frozen=True, kw_only=True)
class Paired(_Bounds):
    """Over `pairs` of variants [a, b] (runs on the same data that differ in one setting), each run's `metric` (one logged at every check) is read at logged step `step` (equal time), or, with `fit`, at the first check where that run's own train_loss is at or below `fit` (equal fit, each run at its own step; a run that never gets there is not measured). The mean over the pairs of a's value minus b's is < `below`, > `above` or within `near` ± `tolerance`; given both `step` and `fit`, the bounds apply to the change of that mean difference from equal time to equal fit (the difference at `fit` minus the difference at `step`)."""

    pairs: tuple[tuple[str, ...], ...] = _REQUIRED
    metric: str = _REQUIRED
    step: int | None = None
    fit: float | None = None

    def runs(self):
        return tuple(name for pair in self.pairs for name in pair)

    def validate(self, configs):
        if not self.pairs or any(len(pair) != 2 for pair in self.pairs):
            raise ConfigError("pairs", 'expected a list of pairs, e.g. [["sgd-1", "adam-1"], '
                                       '["sgd-2", "adam-2"]]')
        for name in self.runs():
            if name not in configs:
                raise ConfigError("pairs", unknown_variant(name, configs))
        if self.metric not in HISTORY_METRICS:
            raise ConfigError("metric", f"expected one of {', '.join(HISTORY_METRICS)} (a metric "
                                        f"logged at every check), got {self.metric!r}")
        if self.step is None and self.fit is None:
            raise ConfigError("step", "expected 'step' (equal time), 'fit' (equal fit: a training "
                                      "loss each run reaches) or both (the change between them)")
        if self.step is not None:
            _logged_step(self.step, configs, self.runs())
        if self.fit is not None and not self.fit > 0:
            raise ConfigError("fit", f"expected a training loss > 0, got {shown(self.fit)}")
        self.validate_bounds()

    def readings(self, outcomes, **when) -> tuple[list, list] | Measured:
        """Each pair's two ``(step, value)`` readings, or, while one is missing, why."""
        read = {name: reading(outcomes[name], self.metric, **when) for name in self.runs()}
        missing = [name for name, got in read.items() if got is None]
        if not missing:
            return [read[a] for a, _ in self.pairs], [read[b] for _, b in self.pairs]
        ended = [name for name in missing if outcomes[name].snapshot.finished]
        if ended:
            name = ended[0]
            if "fit" in when:
                lowest = float(min(history_values(outcomes[name], "train_loss"), default=math.nan))
                said = f"{name} never reached train_loss {_num(self.fit)} (lowest {_num(lowest)})"
            else:
                said = f"{name} did not log step {self.step}"
            return Measured(None, said, [("difference", math.nan)], settled=True)
        where = f"at step {self.step}" if "step" in when else f"at train_loss <= {_num(self.fit)}"
        return Measured(None, f"{len(read) - len(missing)} of {len(read)} runs read {where}, "
                              f"{missing[0]} not yet", so_far="")

    def measure(self, outcomes):
        at_fit = at_step = None
        if self.fit is not None:        # first: while runs train, the fits come before the step
            at_fit = self.readings(outcomes, fit=self.fit)
            if isinstance(at_fit, Measured):
                return at_fit
        if self.step is not None:
            at_step = self.readings(outcomes, step=self.step)
            if isinstance(at_step, Measured):
                return at_step
        firsts, seconds = at_fit or at_step
        value = sum(v for _, v in firsts) / len(firsts)
        other = sum(v for _, v in seconds) / len(seconds)
        difference = _mean_difference(firsts, seconds)
        figures = [("value", value), ("other", other), ("difference", difference)]
        details = tuple(f"{a} {self.metric} {_num(ra[1])} at step {ra[0]}, {b} {_num(rb[1])} at "
                        f"step {rb[0]}: {_num(ra[1] - rb[1])}"
                        for (a, b), ra, rb in zip(self.pairs, firsts, seconds))
        head = f"mean of {len(self.pairs)} pairs"
        if at_fit is None:
            message = (f"{head} at step {self.step}: {self.metric} {_num(value)} vs {_num(other)}, "
                       f"difference {_num(difference)}")
            return replace(self.judge(difference, message, figures, logged=True), details=details)
        step = sum(s for s, _ in firsts) / len(firsts)
        other_step = sum(s for s, _ in seconds) / len(seconds)
        figures += [("step", step), ("other_step", other_step)]
        reached = (f"at train_loss <= {_num(self.fit)} (reached at step {step:.0f} vs "
                   f"{other_step:.0f} on average)")
        if at_step is None:
            message = (f"{head} {reached}: {self.metric} {_num(value)} vs {_num(other)}, "
                       f"difference {_num(difference)}")
            return replace(self.judge(difference, message, figures, logged=True), details=details)
        before = _mean_difference(*at_step)
        change = difference - before
        figures += [("at_step", before), ("change", change)]
        message = (f"{head}: {self.metric} difference {_num(before)} at step {self.step}, "
                   f"{_num(difference)} {reached}: change {_num(change)}")
        return replace(self.judge(change, message, figures, logged=True), details=details)


def _mean_difference(firsts, seconds) -> float:
    return sum(a - b for (_, a), (_, b) in zip(firsts, seconds)) / len(firsts)

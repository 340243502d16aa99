"""The kind ``pick``: a choice made by one score, judged by another.

Tuning is a choice among runs by a score, and the score a run was chosen by flatters it: among
many runs the best on a split is partly the best and partly the luckiest on those few points.
``pick`` makes the choice in each group of runs (runs trained on the same data, differing in
one setting), then reads how much better the chosen run's reported score (``metric``) is than
its real one (``truth``): a split the choice never read, best a fresh sample of the data's own
generator (``data.fresh_points``). With ``than_by`` it sets that against the same reading for
the runs another score chooses (the honest way: choose by validation, report test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import ClassVar

from .config import ConfigError
from .expectations import (METRICS, SCORED_ONCE, _REQUIRED, Measured, _Bounds, _classified,
                           _lower_is_better, _num, final_value, kind, unknown_variant)

SCORES = tuple(m for m in METRICS if m.endswith(("_loss", "_acc")))


def chosen(scores: list[float], lower_is_better: bool) -> int:
    """The index of the best score (the first of equals); a score not measured is never best."""
    def badness(value: float) -> float:
        if math.isnan(value):
            return math.inf
        return value if lower_is_better else -value
    return min(range(len(scores)), key=lambda i: badness(scores[i]))


def flattery(reported: float, truth: float, metric: str) -> float:
    """How much better the reported score is than the truth: truth - reported for a loss,
    reported - truth for an accuracy (a fraction: 0.05 is five points in a hundred)."""
    return truth - reported if _lower_is_better(metric) else reported - truth


@kind("pick")
@dataclass(frozen=True, kw_only=True)
class Pick(_Bounds):
    """In each of `groups` (lists of variants that share their data), the run with the best `by` is chosen (lowest loss, highest accuracy; the first of equals). Its flattery is how much better its `metric` is than its `truth` (accuracy: `metric` - `truth`; loss: `truth` - `metric`). The mean flattery over the groups, or with `than_by` how far it exceeds the mean flattery of the runs `than_by` chooses, is < `below`, > `above` or within `near` ± `tolerance`."""

    groups: tuple[tuple[str, ...], ...] = _REQUIRED
    by: str = _REQUIRED
    metric: str = _REQUIRED
    truth: str = _REQUIRED
    than_by: str = ""
    metric_keys: ClassVar[tuple[str, ...]] = ("by", "truth", "than_by")   # scores of the runs

    def runs(self):
        return tuple(name for group in self.groups for name in group)

    def rules(self) -> tuple[str, ...]:
        return (self.by, self.than_by) if self.than_by else (self.by,)

    def validate(self, configs):
        if not self.groups or any(len(group) < 2 for group in self.groups):
            raise ConfigError("groups", 'expected a list of groups of at least two variants to '
                                        'choose from, e.g. [["a-1", "b-1"], ["a-2", "b-2"]]')
        for name in self.runs():
            if name not in configs:
                raise ConfigError("groups", unknown_variant(name, configs))
        for key in ("by", "metric", "truth", "than_by"):
            score = getattr(self, key)
            if key == "than_by" and not score:
                continue
            if score not in SCORES:
                raise ConfigError(key, f"expected a score of the run at its end, one of "
                                       f"{', '.join(SCORES)}, got {score!r}")
            _classified(key, score, self.runs(), configs)
        if _lower_is_better(self.metric) != _lower_is_better(self.truth):
            raise ConfigError("truth", f"expected the same measure as metric {self.metric!r} "
                                       f"(a loss beside a loss, an accuracy beside an accuracy), "
                                       f"got {self.truth!r}")
        self.validate_bounds()

    def choices(self, outcomes, by: str) -> list[tuple[str, float, float]]:
        """Per group: the run ``by`` chooses, its reported score and its truth."""
        picks = []
        for group in self.groups:
            name = group[chosen([final_value(outcomes[n], by) for n in group], _lower_is_better(by))]
            picks.append((name, final_value(outcomes[name], self.metric),
                          final_value(outcomes[name], self.truth)))
        return picks

    def measure(self, outcomes):
        scored_once = [s for s in dict.fromkeys((self.metric, self.truth, *self.rules()))
                       if s.startswith(SCORED_ONCE)]
        if any((outcomes[name].test if score.startswith("test_") else outcomes[name].fresh) is None
               for group in self.groups for name in group for score in scored_once):
            return Measured(None, f"the choices are made when the runs end ({', '.join(scored_once)} "
                                  "are scored once, at the end)", so_far="")
        figures, said, details, means = [], [], [], []
        for rule, prefix in zip(self.rules(), ("", "other_")):
            picks = self.choices(outcomes, rule)
            mean = sum(flattery(r, t, self.metric) for _, r, t in picks) / len(picks)
            reported = sum(r for _, r, _ in picks) / len(picks)
            truth = sum(t for _, _, t in picks) / len(picks)
            means.append(mean)
            figures += [(prefix + "reported", reported), (prefix + "truth", truth),
                        (prefix + "flattery", mean)]
            said.append(f"chosen by {rule}, {self.metric} {_num(reported)} vs {self.truth} "
                        f"{_num(truth)}: flattered by {_num(mean)}")
            details += [f"group {number}: {rule} chose {name}: {self.metric} {_num(r)}, "
                        f"{self.truth} {_num(t)}" for number, (name, r, t) in enumerate(picks, start=1)]
        judged = means[0] - means[1] if self.than_by else means[0]
        if self.than_by:
            figures.append(("excess", judged))
            said.append(f"excess {_num(judged)}")
        message = f"mean of {len(self.groups)} groups: " + "; ".join(said)
        return replace(self.judge(judged, message, figures), details=tuple(details))

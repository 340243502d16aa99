"""What a lesson promises will happen, and the check that it did.

Each ``[[expect]]`` table of a scenario becomes one ``Expectation``; ``check`` reads the runs'
``Outcome`` (a ``Snapshot`` with its history, plus the test metrics and the weights once a run has
ended) and returns a ``Result``: pass, fail, or not decided yet while a run is still going, with
one line that gives the measured numbers. The checker never trains: it observes.
"""

from __future__ import annotations

import math
import operator
import re
import types
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Mapping, Union, get_args, get_origin, get_type_hints

import numpy as np

from .bends import unit_bends
from .config import ConfigError, RunConfig, coerce, did_you_mean, shown, unknown_key_error
from .data.dataset import task_before_loading
from .data.synthetic import KINDS as PLANE_KINDS
from .layers import layer_names
from .snapshot import Snapshot

HISTORY_METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")
METRICS = HISTORY_METRICS + ("test_loss", "test_acc", "fresh_loss", "fresh_acc", "batch_noise")
SCORED_ONCE = ("test_", "fresh_")    # metrics of a split scored once, at the end
_LAYER_METRIC = re.compile(r"(update_ratio|grad_norm)_(-?\d+)\Z")   # per layer: update_ratio_0, grad_norm_-1


@dataclass(frozen=True)
class Outcome:
    """What the checker sees of one run: its latest snapshot, and at the end test metrics and weights."""

    snapshot: Snapshot
    config: RunConfig
    test: tuple[float, float] | None = None        # (loss, accuracy) on the test split, at the end (if any)
    weights: tuple[np.ndarray, ...] | None = None  # each layer's W, at the end (for ``sparse``)
    fresh: tuple[float, float] | None = None       # (loss, accuracy) on data.fresh_points new points, at the end
    bends: tuple[np.ndarray, ...] | None = None    # each layer's units' bends, at the end (2-D data)
    path: np.ndarray | None = None      # (n, P) the weights at the kept checks, when recorded
    landing: float | None = None        # at the end: t of the lowest loss along the next step

    @classmethod
    def from_run(cls, run, snapshot: Snapshot | None = None) -> "Outcome":
        """Observe ``run``; once it has finished, evaluate the test split and copy the weights,
        and, if it recorded its path (``Run.record_trajectory``), the path and where along its
        next step the loss is lowest (``landscape.step_line``)."""
        snapshot = snapshot if snapshot is not None else run.snapshot()
        if not snapshot.finished:
            return cls(snapshot=snapshot, config=run.config)
        weights = tuple(np.array(w, copy=True) for w, _ in run.get_params())
        test = tuple(run.evaluate("test")) if len(run.dataset.y_test) else None   # split = [.., .., 0]
        points = run.config.data.fresh_points
        fresh = run.evaluate_fresh(points) if points else None
        bends = unit_bends(run)      # core.bends: how far each unit's map is from straight
        path = landing = None
        if run.trajectory is not None:
            from .landscape import path_points, step_line     # loads the kernels, as run has

            path = path_points(run)[1]
            if np.isfinite(run.params).all():
                landing = step_line(run).lowest
        return cls(snapshot=snapshot, config=run.config, test=test, fresh=fresh, weights=weights,
                   bends=bends, path=path, landing=landing)

    @property
    def name(self) -> str:
        return self.snapshot.name


@dataclass(frozen=True)
class Result:
    kind: str
    passed: bool | None        # None: not decided yet (a run it depends on is still going)
    message: str               # one line with the measured numbers
    because: str = ""
    details: tuple[str, ...] = ()
    figures: tuple[tuple[str, float], ...] = ()   # the measured numbers it compared, by name
    id: str = ""               # the expectation's id (its ``id`` key, else its 1-based position)

    @property
    def status(self) -> str:
        return {True: "pass", False: "FAIL", None: "pending"}[self.passed]


@dataclass(frozen=True)
class Measured:
    """What a kind measured in the runs as they stand, and its verdict if they ended now.

    Every kind returns one; ``Expectation.check`` alone turns it into a ``Result``: open while
    a run it reads is still going (unless ``settled``), decided once they have all ended.
    """

    passed: bool | None        # None: nothing could be measured (a NaN, a step not logged)
    message: str               # one line with the measured numbers
    figures: tuple = ()        # (name, value): the numbers it compared
    details: tuple = ()
    settled: bool = False      # the rest of the runs cannot change it (a logged check, a divergence)
    so_far: str = " so far"    # how an open message ends ("" where its words already say "yet")


def figure_text(x: float) -> str:
    """A measured number in three significant figures; n/a when nothing was measured."""
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.3g}"


def _num(x: float) -> str:
    """A loss or another figure of a run: an infinite loss is a diverged run."""
    return "inf (diverged)" if x == math.inf else figure_text(x)


def _times(ratio: float) -> str:
    """A ratio of two figures: infinite when the second is 0, which says nothing of divergence."""
    return figure_text(ratio)


def _lower_is_better(metric: str) -> bool:
    return metric.endswith("loss")


def layer_metric(metric: str) -> tuple[str, int] | None:
    """``("update_ratio", 0)`` for ``update_ratio_0``; None for a metric that is not per layer."""
    match = _LAYER_METRIC.match(metric)
    return (match.group(1), int(match.group(2))) if match else None


def _layer_values(source, metric: str):
    name, layer = layer_metric(metric)
    return np.asarray(source.update_ratios if name == "update_ratio" else source.grad_norms)[..., layer]


def logged_values(history, metric: str) -> np.ndarray:
    """A logged metric at every kept check of a run's history, oldest first."""
    if layer_metric(metric):
        return _layer_values(history, metric)
    return np.asarray(getattr(history, metric))


def history_values(outcome: Outcome, metric: str) -> np.ndarray:
    return logged_values(outcome.snapshot.history, metric)


def final_value(outcome: Outcome, metric: str) -> float:
    """A metric at the end (or now); a diverged run's NaN loss counts as infinitely bad.

    ``batch_noise`` is the spread of the training batches' losses within each check, averaged
    over the whole run: how noisy the steps were, whatever the loss they ended at.
    """
    if metric == "batch_noise":
        spreads = outcome.snapshot.history.batch_loss_std
        finite = spreads[np.isfinite(spreads)]
        return float(finite.mean()) if len(finite) else math.nan
    if layer_metric(metric):
        return float(_layer_values(outcome.snapshot, metric))
    if metric.startswith(SCORED_ONCE):
        scored = outcome.test if metric.startswith("test_") else outcome.fresh
        if scored is None:
            return math.nan
        value = scored[0] if metric.endswith("_loss") else scored[1]
    else:
        value = getattr(outcome.snapshot, metric)
    if _lower_is_better(metric) and (math.isnan(value) or outcome.snapshot.diverged):
        return math.inf
    return float(value)


def value_at_step(outcome: Outcome, metric: str, step: int) -> float | None:
    """A logged metric at check ``step`` (None: the run has not logged it, or it was thinned out);
    a diverged loss counts as infinitely bad."""
    steps = np.asarray(outcome.snapshot.history.step)
    index = np.flatnonzero(steps == step)
    if not len(index):
        return None
    value = float(history_values(outcome, metric)[index[0]])
    return math.inf if _lower_is_better(metric) and math.isnan(value) else value


def first_step_reaching(outcome: Outcome, metric: str, threshold: float) -> int | None:
    """The first logged step where ``metric`` is at or past ``threshold`` (None: never so far)."""
    history = outcome.snapshot.history
    values = history_values(outcome, metric)
    with np.errstate(invalid="ignore"):
        hit = values <= threshold if _lower_is_better(metric) else values >= threshold
    index = np.flatnonzero(hit)
    return int(history.step[index[0]]) if len(index) else None


class _Required:
    """The default of a key that every table of its kind must give."""

    def __repr__(self) -> str:
        return "required"


_REQUIRED: Any = _Required()


@dataclass(frozen=True, kw_only=True)
class Expectation:
    """Keys common to every kind: ``kind``, an optional ``id``, an optional ``because``, and
    ``control``: the settings that remove the effect the expectation states. Run with them, the
    lesson must fail it (the suite's negative controls): a check that passes either way proves
    nothing. Written ``control = { "train.optimizer" = "sgd" }``; the scenario parser checks it."""

    kind: ClassVar[str] = ""
    reads_path: ClassVar[bool] = False     # its runs record their paths (``Outcome.path``)
    id: str = ""
    because: str = ""
    control: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def keys(cls) -> list[tuple[str, bool, Any]]:
        """``(key, required, default)`` of this kind, in the order they are documented."""
        own = [f for f in fields(cls) if f.name not in COMMON_KEYS]
        return ([(f.name, f.default is _REQUIRED, f.default) for f in own]
                + [(key, False, "") for key in COMMON_KEYS])

    def runs(self) -> tuple[str, ...]:
        """The variants this expectation reads."""
        return tuple(getattr(self, k) for k in ("variant", "than", "faster_than")
                     if getattr(self, k, None))

    def validate(self, configs: Mapping[str, RunConfig]) -> None:
        """Checks that need the scenario's runs; raise ``ConfigError(key, message)``."""

    def measure(self, outcomes: Mapping[str, Outcome]) -> Measured:
        raise NotImplementedError

    def ended(self, outcomes: Mapping[str, Outcome]) -> bool:
        """Every run this expectation reads has finished."""
        return all(outcomes[name].snapshot.finished for name in self.runs())

    def check(self, outcomes: Mapping[str, Outcome]) -> Result:
        measured = self.measure(outcomes)
        details = tuple(measured.details)
        if not measured.settled and not self.ended(outcomes):
            return Result(self.kind, None, measured.message + measured.so_far, self.because,
                          details, (), self.id)
        passed, message = measured.passed, measured.message
        if passed is None:
            passed, message = False, message + ": not measured"
        figures = tuple((name, float(value)) for name, value in measured.figures)
        return Result(self.kind, passed, message, self.because, details, figures, self.id)


COMMON_KEYS = ("id", "because", "control")


KINDS: dict[str, type[Expectation]] = {}


def kind(name: str):
    def register(cls):
        cls.kind = name
        KINDS[name] = cls
        return cls
    return register


@kind("diverges")
@dataclass(frozen=True, kw_only=True)
class Diverges(Expectation):
    """The variant's loss blows up (NaN/Inf or past `train.divergence_factor`), before step `before_step` unless it is 0."""

    variant: str = ""
    before_step: int = 0

    def measure(self, outcomes):
        snap = outcomes[self.variant].snapshot
        if snap.diverged:
            ok = not self.before_step or snap.diverged_step < self.before_step
            needed = f", needed before step {self.before_step}" if self.before_step else ""
            return Measured(ok, f"{self.variant} diverged at step {snap.diverged_step}{needed}",
                            [("diverged_step", snap.diverged_step)], settled=True)
        return Measured(False, _not_diverged(self.variant, snap, self.ended(outcomes)),
                        [("diverged_step", math.inf)])


def _not_diverged(variant: str, snap: Snapshot, ended: bool) -> str:
    if not ended:
        return f"{variant} has not diverged"
    return f"{variant} did not diverge in {snap.step} steps (final train_loss {_num(snap.train_loss)})"


@kind("no_divergence")
@dataclass(frozen=True, kw_only=True)
class NoDivergence(Expectation):
    """The variant trains to its end without diverging."""

    variant: str = ""

    def measure(self, outcomes):
        snap = outcomes[self.variant].snapshot
        if snap.diverged:
            return Measured(False, f"{self.variant} diverged at step {snap.diverged_step}",
                            [("diverged_step", snap.diverged_step)], settled=True)
        return Measured(True, _not_diverged(self.variant, snap, self.ended(outcomes)),
                        [("diverged_step", math.inf)])


@dataclass(frozen=True, kw_only=True)
class _Final(Expectation):
    metric: str = _REQUIRED
    variant: str = ""
    threshold: float | None = None
    than: str = ""
    factor: float = 1.0
    relation: ClassVar[str]          # how the final value must compare with its bound: "<" or ">="

    def validate(self, configs):
        if (self.threshold is None) == (not self.than):
            raise ConfigError("than", "expected exactly one of 'than' (another variant) or 'threshold'")
        if self.factor != 1.0 and not self.than:
            raise ConfigError("factor", "only applies with 'than'")
        if self.factor <= 0:
            raise ConfigError("factor", f"expected a number > 0, got {self.factor!r}")

    def measure(self, outcomes):
        value = final_value(outcomes[self.variant], self.metric)
        relation = self.relation
        figures = [("value", value)]
        if self.than:
            other = final_value(outcomes[self.than], self.metric)
            bound = self.factor * other
            ratio = _ratio(value, other)
            figures += [("other", other), ("ratio", ratio)]
            message = (f"{self.variant} final {self.metric} {_num(value)} vs {self.than} "
                       f"{_num(other)}: {_times(ratio)}x (needed {relation} {_num(self.factor)}x)")
        else:
            bound = self.threshold
            message = (f"{self.variant} final {self.metric} {_num(value)} "
                       f"(needed {relation} {_num(bound)})")
        if math.isnan(value) or math.isnan(bound):
            return Measured(None, message, figures)
        return Measured(RELATIONS[relation](value, bound), message, figures)


@kind("final_below")
@dataclass(frozen=True, kw_only=True)
class FinalBelow(_Final):
    """The variant's final `metric` is < `threshold`, or < `factor` × the final `metric` of variant `than`."""

    relation: ClassVar[str] = "<"


@kind("final_above")
@dataclass(frozen=True, kw_only=True)
class FinalAbove(_Final):
    """The variant's final `metric` is >= `threshold`, or >= `factor` × the final `metric` of variant `than`."""

    relation: ClassVar[str] = ">="


RELATIONS = {"<": operator.lt, ">=": operator.ge}


def _history_metric(metric: str) -> None:
    if metric not in HISTORY_METRICS:
        raise ConfigError("metric", f"expected one of {', '.join(HISTORY_METRICS)} "
                                    f"(a metric logged during the run), got {metric!r}")


@kind("reaches")
@dataclass(frozen=True, kw_only=True)
class Reaches(Expectation):
    """The variant's `metric` reaches `threshold` (losses: at or below, accuracies: at or above) at a logged step, within `within` steps unless it is 0; with `faster_than`, the other variant needs >= `ratio` × as many steps (never reaching counts as infinitely slow)."""

    metric: str = _REQUIRED
    threshold: float = _REQUIRED
    variant: str = ""
    within: int = 0
    faster_than: str = ""
    ratio: float = 1.0

    def validate(self, configs):
        _history_metric(self.metric)
        if self.within < 0:
            raise ConfigError("within", f"expected a number of steps >= 0 (0: no limit), got {shown(self.within)}")
        if self.ratio != 1.0 and not self.faster_than:
            raise ConfigError("ratio", "only applies with 'faster_than'")
        if self.ratio <= 0:
            raise ConfigError("ratio", f"expected a number > 0, got {self.ratio!r}")

    def measure(self, outcomes):
        own = first_step_reaching(outcomes[self.variant], self.metric, self.threshold)
        in_time = own is not None and (not self.within or own <= self.within)
        target = f"{self.metric} {_num(self.threshold)}"
        if not self.faster_than:
            limit = f" (needed within {self.within} steps)" if self.within else ""
            message = f"{self._reached(outcomes, self.variant, own, target)}{limit}"
            out_of_time = self.within and outcomes[self.variant].snapshot.step > self.within
            figures = [("step", own if own is not None else math.inf)]
            return Measured(bool(in_time), message, figures, settled=bool(in_time or out_of_time),
                            so_far="")
        other = first_step_reaching(outcomes[self.faster_than], self.metric, self.threshold)
        if own is not None and other is not None:
            ratio = other / max(own, 1)
            speed = f": {_times(ratio)}x fewer steps"
        else:
            ratio = math.inf if own is not None else 0.0
            speed = ""
        message = (f"{self._reached(outcomes, self.variant, own, target)}, "
                   f"{self._reached(outcomes, self.faster_than, other, 'it')}{speed} "
                   f"(needed {_num(self.ratio)}x" + (f", within {self.within} steps)" if self.within else ")"))
        figures = [("step", own if own is not None else math.inf),
                   ("other_step", other if other is not None else math.inf), ("ratio", ratio)]
        # Decided before both runs end: the other run has gone `ratio` times as far without
        # getting there. Whenever it arrives now, the final ratio can only be larger.
        other_so_far = outcomes[self.faster_than].snapshot.step
        outrun = in_time and other is None and other_so_far >= self.ratio * max(own, 1)
        return Measured(in_time and ratio >= self.ratio, message, figures, settled=outrun, so_far="")

    @staticmethod
    def _reached(outcomes, variant: str, step: int | None, target: str) -> str:
        if step is not None:
            return f"{variant} reached {target} at step {step}"
        if outcomes[variant].snapshot.finished:
            return f"{variant} never reached {target}"
        return f"{variant} has not reached {target} yet"


@dataclass(frozen=True, kw_only=True)
class _FinalToMinimum(Expectation):
    """The variant's final validation loss against its own minimum over the run."""

    variant: str = ""
    factor: float = 1.5
    turns_up: ClassVar[bool]

    def validate(self, configs):
        if self.factor < 1:
            raise ConfigError("factor", f"expected a number >= 1, got {self.factor!r}")

    def measure(self, outcomes):
        history = outcomes[self.variant].snapshot.history
        val_loss = np.asarray(history.val_loss)
        if len(val_loss) == 0 or np.isnan(val_loss).all():
            return Measured(None, f"{self.variant} has no finite validation loss")
        best = int(np.nanargmin(val_loss))
        final, minimum = float(val_loss[-1]), float(val_loss[best])
        ratio = final / minimum if minimum > 0 else math.inf
        relation = ">=" if self.turns_up else "<"
        message = (f"{self.variant} val_loss fell to {_num(minimum)} at step {int(history.step[best])}"
                   f", ended at {_num(final)} at step {int(history.step[-1])}: {_times(ratio)}x its "
                   f"minimum (needed {relation} {_num(self.factor)}x)")
        if self.turns_up:
            passed = best < len(val_loss) - 1 and ratio >= self.factor
        else:
            passed = ratio < self.factor
        figures = [("minimum", minimum), ("final", final), ("ratio", ratio),
                   ("best_step", int(history.step[best]))]
        return Measured(passed, message, figures)


@kind("overfits")
@dataclass(frozen=True, kw_only=True)
class Overfits(_FinalToMinimum):
    """The variant's validation loss turns upward: its final value is >= `factor` × its minimum, reached strictly before the end."""

    turns_up: ClassVar[bool] = True


@kind("levels_off")
@dataclass(frozen=True, kw_only=True)
class LevelsOff(_FinalToMinimum):
    """The variant's validation loss does not turn upward much: its final value is < `factor` × its minimum over the run."""

    turns_up: ClassVar[bool] = False


@kind("early_stop")
@dataclass(frozen=True, kw_only=True)
class EarlyStop(Expectation):
    """Early stopping ends the variant (needs `train.early_stopping` > 0), before epoch `before_epoch` unless it is 0."""

    variant: str = ""
    before_epoch: int = 0

    def validate(self, configs):
        if configs[self.variant].train.early_stopping == 0:
            raise ConfigError("variant", f"{self.variant!r} has train.early_stopping = 0 (off)")

    def measure(self, outcomes):
        snap = outcomes[self.variant].snapshot
        needed = f" (needed before epoch {self.before_epoch})" if self.before_epoch else ""
        if not snap.stopped_early:
            message = (f"{self.variant} did not stop early: ran to step {snap.step}, epoch "
                       f"{snap.epoch}{needed}" if self.ended(outcomes)
                       else f"{self.variant} has not stopped early")
            return Measured(False, message, [("step", math.inf), ("epoch", math.inf)])
        best = f", best at step {snap.best_step}" if snap.best_step is not None else ""
        passed = not self.before_epoch or snap.epoch < self.before_epoch
        return Measured(passed, f"{self.variant} stopped early at step {snap.step} "
                                f"(epoch {snap.epoch}){best}{needed}",
                        [("step", snap.step), ("epoch", snap.epoch)], settled=True)


@kind("sparse")
@dataclass(frozen=True, kw_only=True)
class Sparse(Expectation):
    """At least `fraction` (or, with `at_most` instead, at most that fraction) of the variant's weights (biases excluded) have |w| < `tol` at the end."""

    variant: str = ""
    fraction: float | None = None
    at_most: float | None = None
    tol: float = 1e-3

    def validate(self, configs):
        if (self.fraction is None) == (self.at_most is None):
            raise ConfigError("fraction", "expected exactly one of 'fraction' (at least) or 'at_most'")
        key, bound = ("fraction", self.fraction) if self.at_most is None else ("at_most", self.at_most)
        if not 0 <= bound <= 1 or (key == "fraction" and bound == 0):
            low = "(0" if key == "fraction" else "[0"
            raise ConfigError(key, f"expected a fraction in {low}, 1], got {bound!r}")
        if self.tol <= 0:
            raise ConfigError("tol", f"expected a number > 0, got {self.tol!r}")

    def measure(self, outcomes):
        weights = outcomes[self.variant].weights
        if weights is None:
            return Measured(None, f"{self.variant}'s weights are read when it ends", so_far="")
        flat = np.concatenate([np.ravel(w) for w in weights])
        near_zero = float(np.mean(np.abs(flat) < self.tol))
        if self.at_most is None:
            passed, needed = near_zero >= self.fraction, f">= {self.fraction:.0%}"
        else:
            passed, needed = near_zero <= self.at_most, f"<= {self.at_most:.0%}"
        return Measured(passed, f"{self.variant}: {near_zero:.1%} of {flat.size} weights have "
                                f"|w| < {_num(self.tol)} (needed {needed})", [("fraction", near_zero)])


@kind("race")
@dataclass(frozen=True, kw_only=True)
class Race(Expectation):
    """Over `pairs` of variants [a, b]: the fraction of pairs in which a reaches `metric` `threshold` first (strictly: a tie is no win) and in <= 1/`ratio` of b's steps (`ratio` >= 1; b never reaching counts as infinitely slow) is >= `at_least`. Pairs where both reach it at the same step by the first check after training starts are ties no optimizer decides: they count as "no", or with `exclude_first_check_ties` leave the count."""

    pairs: tuple[tuple[str, ...], ...] = _REQUIRED
    metric: str = _REQUIRED
    threshold: float = _REQUIRED
    ratio: float = 2.0
    at_least: float = _REQUIRED
    exclude_first_check_ties: bool = False

    def runs(self):
        return tuple(name for pair in self.pairs for name in pair)

    def validate(self, configs):
        _history_metric(self.metric)
        if not self.pairs or any(len(pair) != 2 for pair in self.pairs):
            raise ConfigError("pairs", 'expected a list of pairs, e.g. [["adam-1", "sgd-1"]]')
        for name in self.runs():
            if name not in configs:
                raise ConfigError("pairs", unknown_variant(name, configs))
        if not 0 <= self.at_least <= 1:
            raise ConfigError("at_least", f"expected a fraction in [0, 1], got {self.at_least!r}")
        if self.ratio < 1:
            raise ConfigError("ratio", f"expected a number >= 1 (a race is won by getting there "
                                       f"first), got {self.ratio!r}")

    def measure(self, outcomes):
        wins, ties, details = 0, 0, []
        for first, second in self.pairs:
            a = first_step_reaching(outcomes[first], self.metric, self.threshold)
            b = first_step_reaching(outcomes[second], self.metric, self.threshold)
            tied = a is not None and a == b and a <= _first_check(outcomes[first])
            win = a is not None and (b is None or (b > a and b >= self.ratio * max(a, 1)))
            ties += tied
            lr_a, lr_b = outcomes[first].config.train.lr, outcomes[second].config.train.lr
            if tied and self.exclude_first_check_ties:
                verdict = "tied at the first check, left out"
            else:
                wins += win
                verdict = ("yes" if win else "no") + (" (tied at the first check)" if tied else "")
            details.append(f"{first} (lr {_num(lr_a)}) {a if a is not None else 'never'} steps, "
                           f"{second} (lr {_num(lr_b)}) {b if b is not None else 'never'}: {verdict}")
        counted = len(self.pairs) - (ties if self.exclude_first_check_ties else 0)
        share = wins / counted if counted else math.nan
        tie_note = ""
        if ties:
            tie_note = (f", {ties} tied at the first check " +
                        ("left out" if self.exclude_first_check_ties else "counted as no"))
        within = f" in <= 1/{_num(self.ratio)} of the second's steps" if self.ratio > 1 else ""
        message = (f"the first of a pair reached {self.metric} {_num(self.threshold)} before the "
                   f"second{within} in {wins} of {counted} pairs "
                   f"({_share(share)}; needed >= {self.at_least:.0%}){tie_note}")
        return Measured(share >= self.at_least, message, [("share", share), ("ties", ties)], details)


def _first_check(outcome: Outcome) -> int:
    """The first logged step after training began (its first check; 0 before one is logged)."""
    trained = outcome.snapshot.history.step[outcome.snapshot.history.step > 0]
    return int(trained[0]) if len(trained) else 0


def _share(share: float) -> str:
    return "n/a" if math.isnan(share) else f"{share:.0%}"


@dataclass(frozen=True, kw_only=True)
class _Bounds(Expectation):
    """A measured quantity against `below`, `above` (either or both) or `near` ± `tolerance`."""

    below: float | None = None
    above: float | None = None
    near: float | None = None
    tolerance: float | None = None

    def validate_bounds(self) -> None:
        if self.near is None:
            if self.below is None and self.above is None:
                raise ConfigError("below", "expected 'below', 'above' (or both), or 'near' with 'tolerance'")
            if self.tolerance is not None:
                raise ConfigError("tolerance", "only applies with 'near'")
            if None not in (self.below, self.above) and self.above >= self.below:
                raise ConfigError("above", f"expected above < below, got above = {self.above!r}, "
                                           f"below = {self.below!r}")
        else:
            if self.below is not None or self.above is not None:
                raise ConfigError("near", "expected either 'near' or 'below'/'above', not both")
            if self.tolerance is None or self.tolerance < 0:
                raise ConfigError("tolerance", f"expected a number >= 0 with 'near', got {self.tolerance!r}")

    def within_bounds(self, value: float) -> bool:
        if self.near is not None:
            return abs(value - self.near) <= self.tolerance
        return ((self.below is None or value < self.below)
                and (self.above is None or value > self.above))

    def needed(self) -> str:
        if self.near is not None:
            return f"{_num(self.near)} ± {_num(self.tolerance)}"
        return " and ".join(f"{word} {_num(bound)}" for word, bound in ((">", self.above), ("<", self.below))
                            if bound is not None)

    def judge(self, value: float | None, message: str, figures, *, logged=False) -> Measured:
        """``logged``: ``value`` is from a check already made, so it is decided now, mid-run."""
        message += f" (needed {self.needed()})"
        if value is None or math.isnan(value):
            return Measured(None, message, figures)
        return Measured(self.within_bounds(value), message, figures, settled=logged)


def _step_metric(metric: str) -> None:
    if metric not in HISTORY_METRICS and not layer_metric(metric):
        raise ConfigError("metric", f"expected one of {', '.join(HISTORY_METRICS)} or a per-layer "
                                    f"update_ratio_N / grad_norm_N (a metric logged at each check), "
                                    f"got {metric!r}")


def _checks(config: RunConfig) -> int:
    """The checks a run makes: at step 0, every train.eval_every steps, and at its end."""
    steps, every = config.train.steps, config.train.eval_every
    return 1 + steps // every + (steps % every > 0)


def _logged_step(step: int, configs, runs) -> None:
    for name in runs:
        train = configs[name].train
        if step < 0 or step > train.steps or step % train.eval_every:
            raise ConfigError("step", f"expected a logged step of {name!r}: 0 to {train.steps} in "
                                      f"steps of train.eval_every ({train.eval_every}), got {step!r}")


@kind("at_step")
@dataclass(frozen=True, kw_only=True)
class AtStep(_Bounds):
    """The variant's `metric` at logged step `step` (0: before any training) is < `below`, > `above` or within `near` ± `tolerance`; with `than`, the same bounds apply to its ratio to the other variant's `metric` at that step."""

    metric: str = _REQUIRED
    step: int = _REQUIRED
    variant: str = ""
    than: str = ""

    def validate(self, configs):
        _step_metric(self.metric)
        _logged_step(self.step, configs, self.runs())
        self.validate_bounds()

    def measure(self, outcomes):
        value = value_at_step(outcomes[self.variant], self.metric, self.step)
        shown = _num(value) if value is not None else "not logged"
        if not self.than:
            return self.judge(value, f"{self.variant} {self.metric} at step {self.step} "
                                               f"{shown}", [("value", _or_nan(value))], logged=True)
        other = value_at_step(outcomes[self.than], self.metric, self.step)
        ratio = _ratio(value, other) if None not in (value, other) else None
        message = (f"{self.variant} {self.metric} at step {self.step} {shown} vs {self.than} "
                   f"{_num(other) if other is not None else 'not logged'}: "
                   f"{_times(ratio) if ratio is not None else 'n/a'}x")
        figures = [("value", _or_nan(value)), ("other", _or_nan(other)), ("ratio", _or_nan(ratio))]
        return self.judge(ratio, message, figures, logged=True)


@kind("grad_ratio")
@dataclass(frozen=True, kw_only=True)
class GradRatio(_Bounds):
    """The gradient norm of layer `layers[0]` divided by that of layer `layers[1]` (0 = first hidden layer, -1 = output layer), each averaged over the last `last` checks, is < `below`, > `above` or within `near` ± `tolerance`."""

    variant: str = ""
    layers: tuple[int, ...] = (0, -1)
    last: int = 1

    def validate(self, configs):
        self.validate_bounds()
        n_layers = len(configs[self.variant].model.layers) + 1
        if len(self.layers) != 2 or not all(-n_layers <= i < n_layers for i in self.layers):
            raise ConfigError("layers", f"expected two layer indexes in [{-n_layers}, {n_layers - 1}]"
                                        f" ({self.variant!r} has {n_layers} layers), got {list(self.layers)}")
        checks = _checks(configs[self.variant]) - 1         # the one at step 0 has no gradient
        if not 1 <= self.last <= checks:
            raise ConfigError("last", f"expected from 1 to {checks} checks (what {self.variant!r} "
                                      f"makes after step 0), got {shown(self.last)}")

    def measure(self, outcomes):
        history = outcomes[self.variant].snapshot.history
        norms = np.asarray(history.grad_norms)
        if len(norms) and history.step[0] == 0:
            norms = norms[1:]           # the check at step 0 comes before any gradient
        norms = norms[-self.last:]
        if len(norms) < self.last:      # a run just started: "n/a / n/a = n/a" said nothing
            return Measured(None, f"{self.variant}'s gradient norms: {len(norms)} of the "
                                  f"{self.last} checks it averages so far", so_far="")
        first, second = self.layers
        top, bottom = float(np.mean(norms[:, first])), float(np.mean(norms[:, second]))
        ratio = _ratio(top, bottom)
        over = f"mean of the last {len(norms)} checks" if self.last > 1 else "at the last check"
        names = layer_names(norms.shape[1])
        return self.judge(ratio, f"{self.variant} gradient norm {names[first]} / {names[second]} = "
                                 f"{_num(top)} / {_num(bottom)} = {_times(ratio)}, {over}",
                          [("ratio", ratio)])


@kind("relate")
@dataclass(frozen=True, kw_only=True)
class Relate(_Bounds):
    """The ratio `metric` / `to` of one variant (two metrics of the same run, e.g. val_loss / train_loss), at the end or at logged step `step` if given, is < `below`, > `above` or within `near` ± `tolerance`."""

    metric: str = _REQUIRED
    to: str = _REQUIRED
    variant: str = ""
    step: int | None = None

    def validate(self, configs):
        if self.step is not None:
            _step_metric(self.metric)
            _step_metric(self.to)
            _logged_step(self.step, configs, self.runs())
        self.validate_bounds()

    def measure(self, outcomes):
        outcome = outcomes[self.variant]
        if self.step is None:
            value, to, when = final_value(outcome, self.metric), final_value(outcome, self.to), "final"
        else:
            value = value_at_step(outcome, self.metric, self.step)
            to = value_at_step(outcome, self.to, self.step)
            when = f"at step {self.step}"
        ratio = _ratio(value, to) if None not in (value, to) else None
        message = (f"{self.variant} {when} {self.metric} / {self.to} = {_num(_or_nan(value))} / "
                   f"{_num(_or_nan(to))} = {_times(_or_nan(ratio))}")
        return self.judge(ratio, message,
                          [("value", _or_nan(value)), ("to", _or_nan(to)), ("ratio", _or_nan(ratio))],
                          logged=self.step is not None)


PATH_MEASURES = ("turns", "winding", "climbs", "landing")


def path_measure(outcome: Outcome, measure: str) -> float:
    """One of ``PATH_MEASURES`` of a run (``core.paths``; ``landing`` from ``Outcome.landing``);
    NaN when it was not measured (no path recorded, weights no longer numbers)."""
    from . import paths

    if measure == "climbs":
        return paths.climbs(outcome.snapshot.history.train_loss)
    if measure == "landing":
        return _or_nan(outcome.landing)
    if outcome.path is None:
        return math.nan
    return paths.turns(outcome.path) if measure == "turns" else paths.winding(outcome.path)


@kind("path")
@dataclass(frozen=True, kw_only=True)
class PathQuantity(_Bounds):
    """Of the variant's path through weight space over its checks (the valley pane draws it), `quantity`: `turns`, the share of moves from one check to the next that turn back on the move before (over 90°); `winding`, the path's length over the straight line from its start to its end; `climbs`, the share of checks whose training loss is above the previous check's; `landing`, at the end, where along its next step the training loss is lowest, in step lengths (< 1: the step overshoots that point, > 1: it stops short). It is < `below`, > `above` or within `near` ± `tolerance`; with `than`, the bounds apply to its ratio to the other variant's."""

    quantity: str = _REQUIRED
    variant: str = ""
    than: str = ""
    reads_path: ClassVar[bool] = True

    def validate(self, configs):
        one_of("quantity", self.quantity, PATH_MEASURES)
        self.validate_bounds()

    def measure(self, outcomes):
        if self.quantity == "landing":      # a step taken aside once a run ends, not before
            going = [name for name in self.runs() if not outcomes[name].snapshot.finished]
            if going:
                return Measured(None, f"{going[0]}'s landing is measured when it ends",
                                so_far="")
        value = path_measure(outcomes[self.variant], self.quantity)
        if not self.than:
            return self.judge(value, f"{self.variant}'s path: {self.quantity} {_num(value)}",
                              [("value", value)])
        other = path_measure(outcomes[self.than], self.quantity)
        ratio = _ratio(value, other)
        return self.judge(ratio, f"{self.variant}'s path: {self.quantity} {_num(value)} vs "
                                 f"{self.than} {_num(other)}: {_times(ratio)}x",
                          [("value", value), ("other", other), ("ratio", ratio)])


def one_of(key: str, value: str, choices) -> None:
    """Refuse ``value`` of ``key`` unless it is one of ``choices``, naming the nearest."""
    if value not in choices:
        raise ConfigError(key, f"expected one of {', '.join(choices)}, got {value!r}"
                               f"{did_you_mean(value, choices)}")


BEND_STATISTICS = {"median": np.median, "max": np.max, "min": np.min}


@kind("bend")
@dataclass(frozen=True, kw_only=True)
class Bend(_Bounds):
    """At the end, how far the maps of layer `layer`'s units (0 = first hidden layer, -1 = output layer) over the data plane are from parallel straight lines: each unit's bend is 0 when its level sets are parallel straight lines (every first-layer unit's are, on the inputs x1, x2), 1 when they turn through every direction equally (circles about a centre); see core/bends.py. The `statistic` (`median`, `max` or `min`) of the bends of the layer's units that change over the plane is < `below`, > `above` or within `near` ± `tolerance`. 2-D data only."""

    layer: int = _REQUIRED
    variant: str = ""
    statistic: str = "median"

    def validate(self, configs):
        one_of("statistic", self.statistic, BEND_STATISTICS)
        config = configs[self.variant]
        if config.data.kind not in PLANE_KINDS:
            raise ConfigError("variant", f"{self.variant!r} learns data.kind = {config.data.kind!r}, "
                                         f"which has no plane to map its units over (bend needs 2-D data)")
        n_layers = len(config.model.layers) + 1
        if not -n_layers <= self.layer < n_layers:
            raise ConfigError("layer", f"expected a layer in [{-n_layers}, {n_layers - 1}] "
                                       f"({self.variant!r} has {n_layers} layers), got {shown(self.layer)}")
        self.validate_bounds()

    def measure(self, outcomes):
        bends = outcomes[self.variant].bends
        if bends is None:
            return Measured(None, f"{self.variant}'s unit maps are measured when it ends", so_far="")
        units = bends[self.layer]
        changing = units[~np.isnan(units)]
        name = layer_names(len(bends))[self.layer]
        if not len(changing):
            return self.judge(math.nan, f"{self.variant} {name}: no unit's map changes over the plane",
                              [("value", math.nan)])
        value = float(BEND_STATISTICS[self.statistic](changing))
        maps = f"{len(changing)} units' maps" if len(changing) > 1 else "its 1 unit's map"
        return self.judge(value, f"{self.variant} {name}: {self.statistic} bend of {maps} "
                                 f"{_num(value)}", [("value", value)])


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _ratio(value: float, other: float) -> float:
    """``value / other``; dividing by 0 gives inf (NaN for 0 / 0), inf / inf is NaN."""
    if other == 0:
        return math.inf if value > 0 else math.nan
    if math.isinf(value) and math.isinf(other):
        return math.nan
    return value / other


def unknown_variant(name, configs) -> str:
    hint = did_you_mean(str(name), configs)
    return f"no variant named {name!r}{hint}; variants: {', '.join(configs)}"


def _unwrap_optional(tp):
    if get_origin(tp) in (Union, types.UnionType):
        return next(a for a in get_args(tp) if a is not type(None))
    return tp


def parse_expectation(table: dict, configs: Mapping[str, RunConfig]) -> Expectation:
    """One ``[[expect]]`` table, checked against the scenario's runs (``name -> RunConfig``).

    Raises ``ConfigError`` whose key is relative to the table (``variant``, ``metric``, ...).
    """
    if "kind" not in table:
        raise ConfigError("kind", f"missing; expected one of {', '.join(KINDS)}")
    name = table["kind"]
    if not isinstance(name, str) or name not in KINDS:
        hint = did_you_mean(str(name), KINDS)
        raise ConfigError("kind", f"expected one of {', '.join(KINDS)}, got {name!r}{hint}")
    cls = KINDS[name]
    hints = get_type_hints(cls)
    valid = [key for key, _, _ in cls.keys()]
    values = {}
    for key, value in table.items():
        if key == "kind":
            continue
        if key not in valid:
            raise unknown_key_error(key, ["kind"] + valid)
        values[key] = coerce(key, _unwrap_optional(hints[key]), value)
    for key, required, _ in cls.keys():
        if required and key not in values:
            raise ConfigError(key, f"missing; the kind {name!r} needs {key!r}")
    for key in ("metric", "to"):
        if key in values:
            _known_metric(key, values[key])
    if "variant" in valid and not values.get("variant"):
        if len(configs) != 1:
            raise ConfigError("variant", f"missing; expected one of {', '.join(configs)}")
        values["variant"] = next(iter(configs))
    expectation = cls(**values)
    for key in ("variant", "than", "faster_than"):
        ref = getattr(expectation, key, "")
        if ref and ref not in configs:
            raise ConfigError(key, unknown_variant(ref, configs))
    for key in ("metric", "to", *getattr(expectation, "metric_keys", ())):
        _scored(key, getattr(expectation, key, ""), expectation.runs(), configs)
    for key in ("metric", "to"):
        if layer_metric(getattr(expectation, key, "")):
            _layer_in_range(key, getattr(expectation, key), expectation.runs(), configs)
        if getattr(expectation, key, "").endswith("_acc"):
            _classified(key, getattr(expectation, key), expectation.runs(), configs)
    for key in ("before_step", "before_epoch"):
        if getattr(expectation, key, 0) < 0:
            raise ConfigError(key, f"expected an integer >= 0 (0: any time), got {shown(getattr(expectation, key))}")
    expectation.validate(configs)
    return expectation


def _known_metric(key: str, metric: str) -> None:
    if metric in METRICS or layer_metric(metric):
        return
    hint = did_you_mean(metric, METRICS)
    raise ConfigError(key, f"expected one of {', '.join(METRICS)} or a per-layer metric "
                           f"update_ratio_N / grad_norm_N (N: 0 = first hidden layer, -1 = output "
                           f"layer), got {metric!r}{hint}")


def _scored(key: str, metric: str, runs, configs) -> None:
    """A test metric needs a test split; a fresh metric a fresh sample (``data.fresh_points``)."""
    for name in (n for n in runs if n in configs and metric.startswith(SCORED_ONCE)):
        data = configs[name].data     # (an unknown variant is the kind's own check to report)
        if metric.startswith("test_") and data.split[2] == 0:
            raise ConfigError(key, f"{metric} needs a test split, and {name!r} has data.split = "
                                   f"{list(data.split)}")
        if metric.startswith("fresh_") and data.fresh_points == 0:
            raise ConfigError(key, f"{metric} needs a fresh sample, and {name!r} has "
                                   f"data.fresh_points = 0")


def _layer_in_range(key: str, metric: str, runs, configs) -> None:
    _, layer = layer_metric(metric)
    for name in runs:
        n_layers = len(configs[name].model.layers) + 1
        if not -n_layers <= layer < n_layers:
            raise ConfigError(key, f"{metric}: expected a layer in [{-n_layers}, {n_layers - 1}] "
                                   f"({name!r} has {n_layers} layers)")


def _classified(key: str, metric: str, runs, configs) -> None:
    """An accuracy needs class labels: refuse it on a run whose data is known to be a regression."""
    for name in (n for n in runs if n in configs):    # an unknown variant: the kind's own check
        data = configs[name].data
        if task_before_loading(data) == "regression":
            raise ConfigError(key, f"{metric}: an accuracy needs class labels, and {name!r} learns "
                                   f"a regression (data.kind = {data.kind!r}); use a loss instead")


def check_all(expectations, outcomes: Mapping[str, Outcome]) -> list[Result]:
    """Every expectation of a scenario against the runs' outcomes (``name -> Outcome``)."""
    return [e.check(outcomes) for e in expectations]


from . import picks  # noqa: E402,F401  (registers the kind 'pick'; it builds on the kinds above)
from . import paired  # noqa: E402,F401  (registers the kind 'paired')

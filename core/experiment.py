"""The experiment a dashboard session has made of a lesson, how it differs, and it as a file.

The dashboard's controls change a scenario as a person tries things: a change a run accepts
(``LIVE_KEYS``) applies at the next step, any other change starts the runs again from step 0.
``Experiment`` is what it has come to: the scenario with each run's settings at step 0, and the
live changes made since, each at the step it was made, beside the lesson as it loaded.
``Experiment.changes`` says how the two differ; from the first change the lesson's words (its
narration, its checks) were written for another setup and no longer speak for the runs.
``scenario_toml`` writes the experiment as a scenario file (only what differs from the
defaults, the script's changes and the live changes as events), so ``nnsim run`` replays the
very steps the dashboard took; a changed lesson is written as the learner's, not the lesson's.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import KEYS, LIVE_KEYS, TABLES, RunConfig, get_value
from .scenario import BASE_RUN, DEFAULT_SECONDS, Scenario, Variant, toml_value

EXPERIMENT_STEM = "nnsim-experiment"
# A lesson's claims were validated on many seeds (scenarios/README.md): on another seed it is
# still the lesson, and its checks still speak.
NEUTRAL_KEYS = frozenset({"train.seed"})
# A setting as a person names it; any other is its key's last part.
NAMES = {"data.kind": "data set", "data.n_points": "points", "data.path": "data file",
         "data.bad_fraction": "bad records", "model.layers": "hidden layers",
         "model.init": "initial weights", "model.residual": "skip connections",
         "model.output_bias": "output bias", "train.lr": "learning rate",
         "train.batch_size": "batch size", "train.weight_decay": "weight decay",
         "train.clip_norm": "gradient clipping", "train.steps": "steps",
         "train.l1": "L1", "train.l2": "L2"}


@dataclass(frozen=True)
class Edit:
    """A live change made during a run: from ``step`` on, ``variant``'s ``key`` is ``value``
    (it was ``before``, the lesson's value or its script's at that step)."""

    step: int
    variant: str
    key: str
    value: Any
    before: Any
    ended: bool = False         # made after the run had ended: it trains with it only if restarted


@dataclass(frozen=True)
class Change:
    """One way an experiment differs from its lesson: ``key`` was ``before`` in the lesson and
    is ``after`` now, in ``variant``'s run (None: in every run), from ``step`` on (0: the runs
    started with it). ``after`` equal to ``before`` is a change made and taken back mid-run:
    the run still took steps the lesson never took."""

    key: str
    variant: str | None
    before: Any
    after: Any
    step: int
    ended: bool = False         # made after the run had ended (``Edit.ended``)

    def __str__(self) -> str:
        who = f"{self.variant}: " if self.variant else ""
        what = (f"{setting_name(self.key)} {_value(self.key, self.before)} → "
                f"{_value(self.key, self.after)}")
        if self.step:
            what += f" at step {self.step}"
        if self.ended:
            what += ", after it ended (for a restart)"
        if self.before == self.after:
            what += " (changed, then set back)"
        return who + what


@dataclass(frozen=True)
class Experiment:
    scenario: Scenario          # its variants' configs are the runs' settings at step 0
    edits: tuple[Edit, ...]
    lesson: Scenario            # as it loaded: what the experiment is compared with

    @functools.cached_property  # asked of every frame and every lesson-pane draw
    def changes(self) -> tuple[Change, ...]:
        """How the runs differ from the lesson's: each setting once, from the first step it
        differed, what it was then (the lesson's value, or its script's at that step) against
        what it is now; the same change in every run said once."""
        lesson = {variant.name: variant.config for variant in self.lesson.variants}
        found: dict[tuple[str, str], Change] = {}
        for variant in self.scenario.variants:
            reference = lesson.get(variant.name, self.lesson.variants[0].config)
            for key in KEYS:
                before, after = get_value(reference, key), get_value(variant.config, key)
                if before != after:
                    found[key, variant.name] = Change(key, variant.name, before, after, 0)
        for edit in self.edits:
            first = found.get((edit.key, edit.variant))
            found[edit.key, edit.variant] = (
                Change(edit.key, edit.variant, edit.before, edit.value, edit.step, edit.ended)
                if first is None
                else dataclasses.replace(first, after=edit.value, ended=first.ended and edit.ended))
        return _said_once(tuple(found.values()), [v.name for v in self.scenario.variants])

    @property
    def is_lesson(self) -> bool:
        """The runs are the lesson's (on any seed): its narration and checks speak for them."""
        return all(change.key in NEUTRAL_KEYS for change in self.changes)

    def label(self, variant: Variant) -> str:
        """``variant``'s label, with what its run has now where that differs from the lesson
        (``plain SGD, lr 0.1 → optimizer adamw``): the lesson wrote the label for its own
        settings, and after a change it would name a run that is not on screen. A change made
        after the run ended is left out: the run on screen never trained with it."""
        now = ", ".join(f"{setting_name(c.key)} {_value(c.key, c.after)}" for c in self.changes
                        if c.variant in (None, variant.name) and c.before != c.after
                        and c.key not in NEUTRAL_KEYS and not c.ended)
        return f"{variant.label} → {now}" if now else variant.label

    def describe(self) -> str:
        """The changes in one line, e.g. ``data set spiral → circle; learning rate 0.02 → 0.04
        at step 120``."""
        return "; ".join(str(change) for change in self.changes)


def setting_name(key: str) -> str:
    return NAMES.get(key, key.rsplit(".", 1)[-1].replace("_", " "))


def _value(key: str, value) -> str:
    """A data file by its name (its folder is long, and on a served session the server's own)."""
    return (Path(value).name or "none") if key == "data.path" else _shown(value)


def _said_once(changes: tuple[Change, ...], variants: list[str]) -> tuple[Change, ...]:
    """A change every run made alike, as one change of every run."""
    out: list[Change] = []
    for change in changes:
        alike = [c for c in changes if (c.key, c.before, c.after, c.step, c.ended)
                 == (change.key, change.before, change.after, change.step, change.ended)]
        if len(variants) > 1 and len(alike) < len(variants):
            out.append(change)
        elif change is alike[0]:
            out.append(dataclasses.replace(change, variant=None))
    return tuple(out)


def split_changes(changes) -> tuple[tuple, tuple]:
    """``(key, value)`` pairs as (those a running run accepts, those that define a new run)."""
    live = tuple((k, v) for k, v in changes if k in LIVE_KEYS)
    return live, tuple((k, v) for k, v in changes if k not in LIVE_KEYS)


def _shown(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_shown(v) for v in value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_change(before: RunConfig, after: RunConfig) -> str:
    """What differs between two settings, short, e.g. ``hidden layers 8,8 → 16,16``."""
    parts = [f"{setting_name(name)} {_value(name, get_value(before, name))} → "
             f"{_value(name, get_value(after, name))}"
             for name in KEYS if get_value(before, name) != get_value(after, name)]
    return "; ".join(parts) or "the same settings"


def restarted(scenario: Scenario, configs: tuple[RunConfig, ...]) -> Scenario:
    """``scenario`` with its runs starting from ``configs`` (one per variant, in order); the
    base follows the first run, so a single run's file states its settings as the base."""
    variants = tuple(dataclasses.replace(v, config=cfg) for v, cfg in zip(scenario.variants, configs))
    base = configs[0]
    if len(variants) > 1:       # a variant's own keys stay its own: the base keeps the rest
        base = _without(configs[0], scenario.variants[0].overrides, scenario.base)
    return dataclasses.replace(scenario, base=base, variants=variants)


def _without(cfg: RunConfig, overrides: dict, base: RunConfig) -> RunConfig:
    """``cfg`` with the keys a variant states (``overrides``) taken from ``base`` instead."""
    for table, values in overrides.items():
        kept = {name: getattr(getattr(base, table), name) for name in values}
        cfg = dataclasses.replace(cfg, **{table: dataclasses.replace(getattr(cfg, table), **kept)})
    return cfg


def _differences(cfg: RunConfig, reference: RunConfig, skip=()) -> dict[str, dict]:
    tables: dict[str, dict] = {}
    for name in KEYS:
        if name in skip:
            continue
        value = get_value(cfg, name)
        if value != get_value(reference, name):
            table, _, key = name.partition(".")
            tables.setdefault(table, {})[key] = value
    return tables


def _text(value: str) -> str:
    """A multi-line TOML string when it has several lines, else a basic one."""
    if "\n" in value and '"""' not in value and "\\" not in value:
        return f'"""\n{value}\n"""'
    return toml_value(value)


def _event(at_step: int | None, at_epoch: int | None, variant: str | None, changes, say: str) -> list[str]:
    lines = ["", "[[event]]", f"at_step = {at_step}" if at_step is not None else f"at_epoch = {at_epoch}"]
    if variant is not None:
        lines.append(f"variant = {toml_value(variant)}")
    if changes:
        lines.append("set = { " + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in changes) + " }")
    if say:
        lines.append(f"say = {toml_value(say)}")
    return lines


def scenario_toml(experiment: Experiment) -> str:
    """The experiment as a scenario file that ``nnsim run`` trains step for step as the dashboard
    did. The lesson's expectations are left out: they judged the lesson's own settings. A lesson
    the learner changed is written as theirs: titled so, its changes as the summary, the lesson
    named in a comment, and none of its words (text, narration) that described another setup."""
    scenario = experiment.scenario
    single = len(scenario.variants) == 1 and scenario.variants[0].name == BASE_RUN
    base = scenario.variants[0].config if single else scenario.base
    steps = max([base.train.steps] + [edit.step for edit in experiment.edits])
    lesson = experiment.lesson
    if experiment.is_lesson:
        lines = [f"title = {toml_value(scenario.title)}"]
        if scenario.summary:
            lines.append(f"summary = {toml_value(scenario.summary)}")
        lines.append(f"lesson = {_text(f'Made in the dashboard from {scenario.name}. ' + scenario.lesson)}")
    else:
        changes = experiment.describe()
        title = " ".join(lesson.title.split())     # a comment is one line
        lines = [f"# Made in the nnsim dashboard from the lesson \"{title}\" "
                 f"({lesson.name}), then changed.",
                 "# The lesson's text, narration and checks were written for its own setup: "
                 "they are left out.",
                 f"title = {toml_value(f'My experiment, from {lesson.title}')}",
                 f"summary = {toml_value(changes)}",
                 f"lesson = {_text(f'Changed from the lesson {lesson.title}: {changes}.')}"]
    if scenario.seconds != DEFAULT_SECONDS:
        lines += ["", "[view]", f"seconds = {toml_value(scenario.seconds)}"]
    written = _differences(base, RunConfig())
    if steps != base.train.steps:       # a change made past the end: the file trains that far
        written.setdefault("train", {})["steps"] = steps
    for table in TABLES:
        if table in written:
            lines += ["", f"[{table}]"] + [f"{k} = {toml_value(v)}" for k, v in written[table].items()]
    if not single:
        seed = scenario.base.train.seed
        for variant in scenario.variants:
            lines += ["", "[[variant]]", f"name = {toml_value(variant.name)}"]
            if variant.label != variant.name:
                lines.append(f"label = {toml_value(variant.label)}")
            if variant.config.train.seed != seed:
                lines.append(f"seed_offset = {variant.config.train.seed - seed}")
            for table, values in _differences(variant.config, base, skip={"train.seed"}).items():
                lines.append(f"{table} = {{ " + ", ".join(f"{k} = {toml_value(v)}"
                                                          for k, v in values.items()) + " }")
    for event in scenario.events:
        say = event.say if experiment.is_lesson else ""
        if event.set or say:
            lines += _event(event.at_step, event.at_epoch, event.variant, event.set, say)
    for edit in experiment.edits:
        lines += _event(edit.step, None, None if single else edit.variant, ((edit.key, edit.value),), "")
    return "\n".join(lines) + "\n"


def free_path(folder: Path, stem: str = EXPERIMENT_STEM) -> Path:
    """``folder/stem.toml``, or the first ``stem-2.toml``, ``stem-3.toml``, … not yet taken."""
    path, n = folder / f"{stem}.toml", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.toml"
    return path


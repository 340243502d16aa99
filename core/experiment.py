"""The experiment a dashboard session has made of a scenario, and that experiment as a file.

The dashboard's controls change a scenario as a person tries things: a change a run accepts
(``LIVE_KEYS``) applies at the next step, any other change starts the runs again from step 0.
``Experiment`` is what it has come to: the scenario with each run's settings at step 0, and the
live changes made since, each at the step it was made. ``scenario_toml`` writes that as a
scenario file (only what differs from the defaults, the lesson's text and events, and the live
changes as events), so ``nnsim run`` replays the very steps the dashboard took.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import KEYS, LIVE_KEYS, TABLES, RunConfig, get_value
from .scenario import BASE_RUN, DEFAULT_SECONDS, Scenario, toml_value

EXPERIMENT_STEM = "nnsim-experiment"


@dataclass(frozen=True)
class Edit:
    """A live change made during a run: from ``step`` on, ``variant``'s ``key`` is ``value``."""

    step: int
    variant: str
    key: str
    value: Any


@dataclass(frozen=True)
class Experiment:
    scenario: Scenario          # its variants' configs are the runs' settings at step 0
    edits: tuple[Edit, ...] = ()


def split_changes(changes) -> tuple[tuple, tuple]:
    """``(key, value)`` pairs as (those a running run accepts, those that define a new run)."""
    live = tuple((k, v) for k, v in changes if k in LIVE_KEYS)
    return live, tuple((k, v) for k, v in changes if k not in LIVE_KEYS)


def _shown(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_shown(v) for v in value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def describe_change(before: RunConfig, after: RunConfig) -> str:
    """What differs between two settings, short, e.g. ``layers 8,8 → 16,16``; a data file by
    its name (its folder is long, and on a served session the server's own)."""
    def shown(cfg: RunConfig, name: str) -> str:
        value = get_value(cfg, name)
        return (Path(value).name or "none") if name == "data.path" else _shown(value)

    parts = [f"{name.rsplit('.', 1)[-1]} {shown(before, name)} → {shown(after, name)}"
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
    did. The lesson's expectations are left out: they judged the lesson's own settings."""
    scenario = experiment.scenario
    single = len(scenario.variants) == 1 and scenario.variants[0].name == BASE_RUN
    base = scenario.variants[0].config if single else scenario.base
    steps = max([base.train.steps] + [edit.step for edit in experiment.edits])
    lines = [f"title = {toml_value(scenario.title)}"]
    if scenario.summary:
        lines.append(f"summary = {toml_value(scenario.summary)}")
    lines.append(f"lesson = {_text(f'Made in the dashboard from {scenario.name}. ' + scenario.lesson)}")
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
        lines += _event(event.at_step, event.at_epoch, event.variant, event.set, event.say)
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


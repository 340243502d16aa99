"""Text for ``nnsim list`` and ``nnsim show``: what a lesson is, before anything runs."""

from __future__ import annotations

import textwrap
from dataclasses import fields

from .core.config import TABLES, RunConfig, config_to_dict
from .core.data.synthetic import MULTI_CLASS
from .core.expectations import Expectation
from .core.layers import layer_names
from .core.scenario import expectation_keys
from .core.scenario import Scenario, builtin_names, load_scenario, toml_value


def list_lessons() -> str:
    """One built-in lesson a line: its name, then its one-line summary."""
    names = builtin_names()
    if not names:
        return "(no built-in lessons installed)"
    width = max(len(n) for n in names)
    lines = []
    for name in names:
        scenario = load_scenario(name)
        lines.append(f"{name:<{width}}  {scenario.summary or scenario.title}".rstrip())
    return "\n".join(lines)


def describe_config(cfg: RunConfig) -> list[str]:
    """Every key as TOML; a key that differs from the default says the default beside it."""
    defaults, values = config_to_dict(RunConfig()), config_to_dict(cfg)
    lines = []
    for table in TABLES:
        lines.append(f"[{table}]")
        for key, value in values[table].items():
            note = ("" if value == defaults[table][key]
                    else f"   # default {toml_value(defaults[table][key])}")
            if table == "data" and key == "classes" and cfg.data.kind not in MULTI_CLASS:
                note = f"   # not read: only {' and '.join(MULTI_CLASS)} have a number of classes"
            lines.append(f"{key} = {toml_value(value)}{note}")
        lines.append("")
    return lines


def describe_overrides(overrides: dict) -> str:
    changes = [f"{table}.{key} = {toml_value(value)}"
               for table, values in overrides.items() for key, value in values.items()]
    return ", ".join(changes) or "(the base configuration)"


def describe_expectation(expectation: Expectation) -> str:
    """``ID kind: key = value, ...`` for the keys given (defaults left out); the id is what
    ``nnsim check`` reports it by and lesson texts quote its figures by."""
    return f"{expectation.id} {expectation.kind}: {expectation_keys(expectation)}"


def show(scenario: Scenario) -> str:
    lines = [f"{scenario.name}: {scenario.title}", f"file: {scenario.path}"]
    if scenario.summary:
        lines.append(scenario.summary)
    if scenario.lesson:
        lines.append("")
        for paragraph in scenario.lesson.split("\n\n"):
            lines += textwrap.wrap(" ".join(paragraph.split()), width=88) + [""]
        lines.pop()
    lines += ["", "Configuration (every key; a key the lesson changes shows its default):", ""]
    lines += describe_config(scenario.base)
    lines.append("Runs:")
    width = max(len(v.name) for v in scenario.variants)
    for v in scenario.variants:
        label = f" ({v.label})" if v.label != v.name else ""
        offset = f", seed + {v.seed_offset}" if v.seed_offset else ""
        lines.append(f"  {v.name:<{width}}  {describe_overrides(v.overrides)}{offset}{label}")
    lines += ["", "Events:"]
    lines += [f"  {e.describe()}" for e in scenario.events] or ["  (none)"]
    lines += ["", "Expectations:"]
    configs = {variant.name: variant.config for variant in scenario.variants}
    for e in scenario.expectations:
        lines.append(f"  {describe_expectation(e)}")
        if e.kind == "grad_ratio":          # a file counts layers; a person reads their names
            names = layer_names(len(configs[e.variant].model.layers) + 1)
            lines.append(f"      layers: {names[e.layers[0]]} / {names[e.layers[1]]}")
        if e.because:
            lines.append(f"      because: {e.because}")
    if not scenario.expectations:
        lines.append("  (none)")
    return "\n".join(lines)

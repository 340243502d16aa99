"""What a validation run measured: the lesson's settings and the definition of each expectation,
recorded beside its pass rates, and what has changed in the lesson since.

A lesson's text quotes its validation (``{validation.…}``), so the lesson must still be the
experiment that was validated. ``nnsim check --summary`` records, per lesson, ``settings``: the
resolved configuration of every run (``train.seed`` aside: the check sets it per seed) with its
``seed_offset``, and every event that changes a setting; and, per expectation, ``definition``:
its ``[[expect]]`` table as the TOML file gives it, ``because`` and ``control`` aside. Neither
is the experiment: a narration-only event or a ``because`` is prose, and a ``control`` only
names the settings of a different experiment (the negative control, run by the tests); either
may change without a new validation (a test keeps narration from changing numbers). ``changes_since_validation`` names every difference.
"""

from __future__ import annotations

import json
from typing import Any

from .config import KEYS, config_to_dict
from .scenario import Scenario, _read_toml

UNRECORDED = ("train.seed",)       # set per seed by the check itself
NOT_MEASURED = ("because", "control")   # an expectation's explanation, its negative control


def _plain(value: Any) -> Any:
    """As JSON gives it back (tuples as lists), so a recorded form compares equal to a fresh one."""
    return json.loads(json.dumps(value, allow_nan=False))


def settings_form(scenario: Scenario) -> dict:
    """``{"runs": {name: {"seed_offset": n, "data.kind": ..., ...}}, "events": [{"at_step": n,
    "variant": name (left out: every run), "set": {key: value}}]}``: what decides the numbers of every run."""
    runs = {}
    for variant in scenario.variants:
        flat = {f"{table}.{key}": value for table, values in config_to_dict(variant.config).items()
                for key, value in values.items() if f"{table}.{key}" not in UNRECORDED}
        runs[variant.name] = {"seed_offset": variant.seed_offset, **flat}
    events = [{("at_step" if e.at_step is not None else "at_epoch"):
               (e.at_step if e.at_step is not None else e.at_epoch),
               **({"variant": e.variant} if e.variant is not None else {}), "set": dict(e.set)}
              for e in scenario.events if e.set]
    return _plain({"runs": runs, "events": events})


def expectation_tables(scenario: Scenario) -> dict[str, dict]:
    """Each ``[[expect]]`` table of the scenario's file as parsed, by id (its position when it
    has none), ``because`` and ``control`` left out."""
    doc = _read_toml(scenario.path.read_text(encoding="utf-8"), scenario.path)
    return _plain({str(table.get("id", i)): {k: v for k, v in table.items() if k not in NOT_MEASURED}
                   for i, table in enumerate(doc.get("expect", []), start=1)})


def recorded_form(scenario: Scenario) -> dict:
    """What a validation summary records of ``scenario``: ``{"settings", "expectations"}``."""
    return {"settings": settings_form(scenario), "expectations": expectation_tables(scenario)}


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _table_changes(where: str, validated: dict, now: dict) -> list[str]:
    return [f"{where}: {key}: validated {_shown(validated[key]) if key in validated else '(absent)'}, "
            f"now {_shown(now[key]) if key in now else '(absent)'}"
            for key in sorted(set(validated) | set(now), key=str)
            if validated.get(key, KeyError) != now.get(key, KeyError)]


def changes_since_validation(summary: dict, scenario: Scenario) -> list[str]:
    """One line per difference between the lesson as validated (``summary``: its entry in a
    validation summary) and ``scenario`` as it stands: an expectation added, removed or with a
    key changed, a run's setting or an event changed. A setting absent from the record (a key
    added to nnsim since) counts as unchanged only at its default."""
    lines = []
    validated_expectations = summary.get("expectations", {})
    now = expectation_tables(scenario)
    for id_ in sorted(set(validated_expectations) | set(now)):
        if id_ not in now:
            lines.append(f"expectation {id_!r}: validated, now removed")
        elif id_ not in validated_expectations:
            lines.append(f"expectation {id_!r}: added since the validation")
        elif "definition" not in validated_expectations[id_]:
            lines.append(f"expectation {id_!r}: its definition was not recorded by the validation")
        else:
            lines += _table_changes(f"expectation {id_!r}", validated_expectations[id_]["definition"],
                                    now[id_])
    if "settings" not in summary:
        return lines + ["settings: not recorded by the validation"]
    validated, current = summary["settings"], settings_form(scenario)
    for run in sorted(set(validated["runs"]) | set(current["runs"])):
        if run not in current["runs"]:
            lines.append(f"run {run!r}: validated, now removed")
        elif run not in validated["runs"]:
            lines.append(f"run {run!r}: added since the validation")
        else:
            old = validated["runs"][run]
            new = {key: value for key, value in current["runs"][run].items()
                   if key in old or key not in KEYS or value != _plain(KEYS[key].default)}
            lines += _table_changes(f"run {run!r}", old, new)
    if validated["events"] != current["events"]:
        lines.append(f"events that set a value: validated {_shown(validated['events'])}, "
                     f"now {_shown(current['events'])}")
    return lines

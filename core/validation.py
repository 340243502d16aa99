"""Lessons checked over many seeds: pass rates, the spread of what was measured, and the lesson
texts' numbers taken from it.

``Tally`` gathers every seed's ``Result``s (``nnsim check``) into a summary: per scenario and
expectation, how many seeds passed and the median, 5th and 95th percentile of each figure the
expectation compared. ``scenarios/validation.json`` is such a summary, and a lesson's text quotes
it by placeholder, ``{validation.ID.FIGURE.STAT}``, so a text can only say what was measured.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

from .expectations import Result, figure_text
from .narration import shown

STATS = ("median", "p5", "p95")
QUANTILES = {"median": 0.5, "p5": 0.05, "p95": 0.95}
FORMAT = 1
MAX_SUMMARY_BYTES = 64 * 2**20    # every lesson over 1,000 seeds takes 36 kB
ASKS_WIDTH = 72         # what an expectation asks, cut to fit 80 columns on the console
PLACEHOLDER = re.compile(r"\{validation\.([^{}:]*)(?::([^{}]*))?\}")


class Seeds(Sequence[int]):
    """Seeds in increasing order, each once, held as ranges and never listed: ``0-999999999999``
    is two numbers, and ``0-99999,0-99999`` merges into one range without a set of 100,000.
    Iterating yields them one by one, so ``nnsim check`` can start the first run at once."""

    def __init__(self, ranges: Iterable[tuple[int, int]]):
        """``ranges``: inclusive ``(low, high)`` pairs, in any order, overlapping or not."""
        merged: list[tuple[int, int]] = []
        for low, high in sorted(ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        self.ranges = tuple(merged)
        self._ends = list(accumulate(high - low + 1 for low, high in merged))   # seeds up to each range

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def __getitem__(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        which = bisect_right(self._ends, index)
        before = self._ends[which - 1] if which else 0
        return self.ranges[which][0] + index - before

    def __iter__(self) -> Iterator[int]:
        for low, high in self.ranges:
            yield from range(low, high + 1)

    def __str__(self) -> str:
        return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in self.ranges)


def seed_ranges(seeds: Iterable[int]) -> str:
    """``0-9,12``: the seeds as ``nnsim check --seeds`` reads them."""
    return str(seeds if isinstance(seeds, Seeds) else Seeds((seed, seed) for seed in seeds))


def distribution(values: Iterable[float]) -> dict:
    """Median and 5th/95th percentiles (nearest rank: a real measured value, so "never" = inf
    sorts last and stays inf), over the values that were measured (NaN: not measured)."""
    array = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    doc: dict = {"measured": int(len(array)), "infinite": int(np.isinf(array).sum())}
    for stat, q in QUANTILES.items():
        doc[stat] = float(np.quantile(array, q, method="inverted_cdf")) if len(array) else math.nan
    return doc


class Tally:
    """Results of each scenario over seeds, as ``nnsim check`` gathers them."""

    def __init__(self) -> None:
        self.seeds: dict[str, list[int]] = defaultdict(list)
        self.kinds: dict[str, dict[str, str]] = defaultdict(dict)
        self.asks: dict[str, dict[str, str]] = defaultdict(dict)
        self.passed: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.figures: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list)))
        self.recorded: dict[str, dict] = {}

    def define(self, scenario: str, recorded: Mapping) -> None:
        """What the scenario is (``provenance.recorded_form``): its ``settings`` and each
        expectation's ``definition``, written into the summary beside what was measured."""
        self.recorded[scenario] = dict(recorded)

    def add(self, scenario: str, seed: int, results: Iterable[Result],
            asks: Mapping[str, str] | None = None) -> None:
        """One seed's results; ``asks``: what each expectation (by id) asks, in its own keys."""
        self.seeds[scenario].append(seed)
        self.asks[scenario].update(asks or {})
        for r in results:
            self.kinds[scenario][r.id] = r.kind
            self.passed[scenario][r.id] += bool(r.passed)
            for name, value in r.figures:
                self.figures[scenario][r.id][name].append(value)

    def summary(self) -> dict:
        """``{"format": 1, "scenarios": {name: {"seeds", "runs", "expectations": {id: {"kind",
        "asks", "passed", "runs", "pass_rate", "figures": {name: {"median", "p5", "p95", "measured",
        "infinite"}}, "definition"}}, "settings"}}}``; ``definition`` and ``settings`` as ``define``
        gave them, for the scenarios it was given."""
        scenarios = {}
        for name, seeds in self.seeds.items():
            runs = len(seeds)
            recorded = self.recorded.get(name, {})
            expectations = {}
            for id_, kind in self.kinds[name].items():
                passed = self.passed[name][id_]
                expectations[id_] = {
                    "kind": kind, "asks": self.asks[name].get(id_, ""), "passed": passed, "runs": runs, "pass_rate": passed / runs,
                    "figures": {figure: distribution(values)
                                for figure, values in self.figures[name][id_].items()}}
                if id_ in recorded.get("expectations", {}):
                    expectations[id_]["definition"] = recorded["expectations"][id_]
            scenarios[name] = {"seeds": seed_ranges(seeds), "runs": runs, "expectations": expectations}
            if "settings" in recorded:
                scenarios[name]["settings"] = recorded["settings"]
        return {"format": FORMAT, "scenarios": scenarios}


def merged(old: dict | None, new: dict) -> dict:
    """``new``'s scenarios replace the same scenarios of ``old``; the others stay, in name order."""
    scenarios = dict((old or {}).get("scenarios", {}))
    scenarios.update(new["scenarios"])
    return {"format": FORMAT, "scenarios": dict(sorted(scenarios.items()))}


def to_json(summary: dict) -> str:
    """JSON with infinities as the strings "inf"/"-inf" and NaN as null."""
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, float) and not math.isfinite(value):
            return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return value
    return json.dumps(plain(summary), indent=1, allow_nan=False) + "\n"


# ----------------------------------------------------------------------------- the console table

def format_summary(summary: dict) -> str:
    """Per scenario and expectation: the pass rate, then one line per figure it compared."""
    lines = ["pass rate per expectation; its figures' median, 5th and 95th percentile"]
    for name, scenario in summary["scenarios"].items():
        lines.append(f"{name}, seeds {scenario['seeds']} ({scenario['runs']} runs):")
        for id_, e in scenario["expectations"].items():
            lines.append(f"  {id_} {e['kind']}: {e['passed']} of {e['runs']} pass "
                         f"({e['pass_rate']:.1%})")
            if e.get("asks"):
                asks = e["asks"]
                lines.append("      " + (asks if len(asks) <= ASKS_WIDTH else asks[:ASKS_WIDTH - 1] + "…"))
            for figure, d in e["figures"].items():
                notes = [f"{d['measured']} measured"] if d["measured"] < e["runs"] else []
                notes += [f"∞ on {d['infinite']}"] if d["infinite"] else []
                lines.append(f"      {figure:<10} {figure_text(d['median']):>8}   5%: "
                             f"{figure_text(d['p5']):>8}   95%: {figure_text(d['p95']):>8}"
                             + (f"   ({', '.join(notes)})" if notes else ""))
    return "\n".join(lines)


def markdown_section(name: str, scenario: dict) -> str:
    """One lesson's section of ``scenarios/VALIDATION.md``: its seed block, then per expectation
    the seeds it held on and each figure's median and 5th/95th percentile (as placeholders show
    them), from the lesson's entry in a summary."""
    lines = [f"## {name}", "", f"Seeds {scenario['seeds']} ({scenario['runs']} runs).", "",
             "| expectation | kind | held on | figure | median | 5th pct | 95th pct |",
             "|---|---|---|---|---|---|---|"]
    for id_, e in scenario["expectations"].items():
        lead = f"| `{id_}` | {e['kind']} | {e['passed']} / {e['runs']} ({e['pass_rate']:.1%}) |"
        if not e["figures"]:
            lines.append(f"{lead}  |  |  |  |")
        for figure, d in e["figures"].items():
            lines.append(f"{lead} {figure} | " + " | ".join(_show(d[stat], None, figure)
                                                            for stat in STATS) + " |")
            lead = "|  |  |  |"
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- placeholders

class PlaceholderError(Exception):
    """A lesson quotes a figure the validation summary does not have: ``(placeholder, why)``."""

    def __init__(self, placeholder: str, why: str):
        super().__init__(f"{placeholder}: {why}")
        self.placeholder, self.why = placeholder, why


class SummaryError(ValueError):
    """A file that is not a validation summary: where in it, and what was expected there."""


def read_summary(path: Path) -> dict:
    """A validation summary written by ``nnsim check --summary``; "inf" strings back to floats.
    Its structure is checked whole, so a file that is JSON but not a summary is refused when
    read (``SummaryError``), not found out by a KeyError after an hour of checks."""
    def numbers(value):
        if isinstance(value, dict):
            return {k: numbers(v) for k, v in value.items()}
        if value in ("inf", "-inf"):
            return float(value)
        return math.nan if value is None else value
    with path.open("rb") as file:
        data = file.read(MAX_SUMMARY_BYTES + 1)     # bounded: whatever the path turns out to be
    if len(data) > MAX_SUMMARY_BYTES:
        raise SummaryError(f"the file: expected at most {MAX_SUMMARY_BYTES // 2**20} MiB")
    try:
        summary = numbers(json.loads(data.decode("utf-8")))
    except RecursionError:
        raise SummaryError("nested too deeply to be a summary") from None
    check_summary(summary)
    return summary


def check_summary(summary) -> None:
    """Raise ``SummaryError`` unless ``summary`` has the structure ``Tally.summary`` gives."""
    def need(ok: bool, where: str, expected: str) -> None:
        if not ok:
            raise SummaryError(f"{where}: expected {expected}")

    def table(value, where: str) -> dict:
        need(isinstance(value, dict), where, "an object")
        return value

    def count(value, where: str) -> None:
        need(isinstance(value, int) and not isinstance(value, bool) and value >= 0, where,
             "a whole number >= 0")

    def number(value, where: str) -> None:
        need(isinstance(value, (int, float)) and not isinstance(value, bool), where, "a number")

    need(table(summary, "the file").get("format") == FORMAT, "format", f"{FORMAT}")
    for name, scenario in table(summary.get("scenarios"), "scenarios").items():
        where = f"scenarios.{name}"
        table(scenario, where)
        need(isinstance(scenario.get("seeds"), str), f"{where}.seeds", "seeds such as \"0-9\"")
        count(scenario.get("runs"), f"{where}.runs")
        table(scenario.get("settings", {}), f"{where}.settings")
        for id_, expectation in table(scenario.get("expectations"), f"{where}.expectations").items():
            at = f"{where}.expectations.{id_}"
            table(expectation, at)
            need(isinstance(expectation.get("kind"), str), f"{at}.kind", "a string")
            need(isinstance(expectation.get("asks", ""), str), f"{at}.asks", "a string")
            for key in ("passed", "runs"):
                count(expectation.get(key), f"{at}.{key}")
            number(expectation.get("pass_rate"), f"{at}.pass_rate")
            table(expectation.get("definition", {}), f"{at}.definition")
            for figure, stats in table(expectation.get("figures"), f"{at}.figures").items():
                table(stats, f"{at}.figures.{figure}")
                for stat in STATS:
                    number(stats.get(stat), f"{at}.figures.{figure}.{stat}")
                for stat in ("measured", "infinite"):
                    count(stats.get(stat), f"{at}.figures.{figure}.{stat}")


def fill(text: str, scenario: str, summary_path: Path, load=read_summary) -> str:
    """``text`` with each ``{validation.…}`` placeholder replaced by its figure from the summary
    at ``summary_path`` for ``scenario``. Raises ``PlaceholderError`` for a figure it lacks.

    ``{validation.seeds}``, ``{validation.runs}``: the seed block and its size;
    ``{validation.ID.pass_rate}`` (also ``.passed``, ``.runs``): expectation ``ID``'s outcome;
    ``{validation.ID.FIGURE.STAT}``: STAT (median, p5, p95, measured, infinite) of a figure.
    A Python format spec may follow a colon: ``{validation.2.ratio.median:.1f}``,
    ``{validation.2.pass_rate:.1%}``; without one, numbers show 3 significant digits.
    """
    if not PLACEHOLDER.search(text):
        return text
    if not summary_path.is_file():
        first = PLACEHOLDER.search(text).group(0)
        raise PlaceholderError(first, f"no validation summary {summary_path} (write it with "
                                      f"`nnsim check ... --seeds A-B --summary {summary_path}`)")
    try:
        summary = load(summary_path)
    except (OSError, UnicodeDecodeError, ValueError) as err:    # SummaryError, bad JSON
        raise PlaceholderError(PLACEHOLDER.search(text).group(0),
                               f"cannot read {summary_path} as a validation summary ({err})") from None

    def figure(match: re.Match) -> str:
        placeholder, path, spec = match.group(0), match.group(1).split("."), match.group(2)
        keys = {1: path, 2: ["expectations", *path],
                3: ["expectations", path[0], "figures", *path[1:]]}.get(len(path))
        if keys is None:
            raise PlaceholderError(placeholder, "expected {validation.ID.FIGURE.STAT}, "
                                                "{validation.ID.pass_rate} or {validation.seeds}")
        node = summary.get("scenarios", {}).get(scenario)
        if node is None:
            raise PlaceholderError(placeholder, f"{summary_path} has no scenario {scenario!r}")
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                known = ", ".join(node) if isinstance(node, dict) else "nothing further"
                raise PlaceholderError(placeholder, f"{summary_path} has no {key!r} there for "
                                                    f"{scenario} (it has: {known})")
            node = node[key]
        if isinstance(node, dict):
            raise PlaceholderError(placeholder, f"names a group, not a number (it has: {', '.join(node)})")
        return _show(node, spec, placeholder)

    return PLACEHOLDER.sub(figure, text)


def _show(value, spec: str | None, placeholder: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isinf(value):
        return figure_text(value)
    if spec is None:
        whole = isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e6)
        return str(int(value)) if whole else figure_text(value)
    try:
        return shown(float(value), spec)
    except ValueError as err:
        raise PlaceholderError(placeholder, f"bad format {spec!r}: {err}") from None

"""``nnsim sweep``: a scenario over a grid of settings and a block of seeds.

Each ``--set KEY=VALUES`` is an axis: a list ``0.01,0.1,1``, a linear range ``A:B:N`` (N values
from A to B) or a log range ``A:B:logN`` (N values spaced evenly in log10, each rounded to 4
significant digits). The grid is every combination of the axes' values; each grid point runs at
every seed, on the executor (``executor.py``). The report: a table per grid point of the chosen
final metric's median and 5th-95th percentile across seeds (and how many runs diverged), and for
a one-key sweep a plot of it against the value. ``--out DIR`` writes ``sweep.csv`` (one row per
run: the grid values, variant, seed, final metrics, steps, diverged) and ``sweep.json`` (the
table), each atomically; ``nnsim run SCENARIO --set KEY=VALUE ... --seed N`` of a row gives
that row's numbers bit for bit.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, TextIO

from .core.config import shown
from .core.scenario import ScenarioError, parse_override, parse_scenario, resolve, toml_value
from .core.validation import Seeds, distribution
from .executor import Done, Executor, Job, Progress, job_source

METRICS = ("val_loss", "train_loss", "val_acc", "train_acc", "test_loss", "test_acc")
SWEEP_FILES = ("sweep.csv", "sweep.json")
MAX_VALUES = 1000           # values on one axis
MAX_POINTS = 1000           # grid points (each is checked before anything runs)
LOG_DIGITS = 4              # a log range's values, rounded to this many significant digits
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"\s*({_NUMBER})\s*:\s*({_NUMBER})\s*:\s*(log)?\s*(\d+)\s*\Z")


@dataclass(frozen=True)
class Axis:
    key: str
    values: tuple[Any, ...]
    log: bool = False          # a log range, or positive values spaced by a constant ratio

    def settings(self) -> list[str]:
        return [f"{self.key}={toml_value(v)}" for v in self.values]


def _refuse(key: str, message: str) -> ScenarioError:
    return ScenarioError("--set", key, message)


def split_values(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and quotes: ``[8,8],[16]`` is two values."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def parse_axis(text: str) -> Axis:
    """``KEY=V1,V2,...``, ``KEY=A:B:N`` or ``KEY=A:B:logN``; a value refused in one line naming
    the key (``ScenarioError``), as ``--set`` of ``nnsim run`` refuses it."""
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise _refuse(text, "expected KEY=V1,V2,..., KEY=A:B:N or KEY=A:B:logN, e.g. train.lr=1e-4:10:log11")
    match = _RANGE.match(spec)
    if match:
        return _range_axis(key, match)
    values = [parse_override(f"{key}={raw}")[1] for raw in split_values(spec)]
    if len(values) > MAX_VALUES:
        raise _refuse(key, f"expected at most {MAX_VALUES} values, got {len(values)}")
    texts = [toml_value(value) for value in values]
    for i, text in enumerate(texts):
        if text in texts[:i]:
            raise _refuse(key, f"the value {text} is listed twice")
    return Axis(key, tuple(values), log=_log_spaced(values))


def _range_axis(key: str, match: re.Match) -> Axis:
    low_text, high_text, log, count_text = match.groups()
    low, high = (parse_override(f"{key}={t}")[1] for t in (low_text, high_text))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise _refuse(key, f"expected numbers around the colons, got {shown(match.string)}")
    count = int(count_text)
    if not 2 <= count <= MAX_VALUES:
        raise _refuse(key, f"expected from 2 to {MAX_VALUES} values in a range, got {count}")
    if low == high:
        raise _refuse(key, f"expected a range's two ends to differ, got {low_text} twice")
    if log:
        if low <= 0 or high <= 0:
            raise _refuse(key, f"expected a log range between positive numbers, got {low_text} and {high_text}")
        ratio = math.log10(high / low) / (count - 1)
        values = [float(f"{low * 10 ** (ratio * i):.{LOG_DIGITS}g}") for i in range(count)]
        values[0], values[-1] = float(low), float(high)
        if len(set(values)) < count:
            raise _refuse(key, f"{count} values from {low_text} to {high_text} repeat once rounded "
                               f"to {LOG_DIGITS} significant digits; ask for fewer")
    elif isinstance(low, int) and isinstance(high, int) and (high - low) % (count - 1) == 0:
        values = [low + (high - low) // (count - 1) * i for i in range(count)]
    else:
        values = [float(f"{low + (high - low) * i / (count - 1):.12g}") for i in range(count)]
    for value in values:            # each value checked as --set would check it
        parse_override(f"{key}={toml_value(value)}")
    return Axis(key, tuple(values), log=bool(log) or _log_spaced(values))


def _log_spaced(values: Sequence) -> bool:
    """Positive numbers a constant ratio apart (not a constant step), a decade or more in all."""
    if len(values) < 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                  for v in values):
        return False
    ordered = sorted(values)
    if ordered[-1] / ordered[0] < 10:
        return False
    ratios = [math.log(b / a) for a, b in zip(ordered, ordered[1:])]
    return max(ratios) - min(ratios) <= 0.05 * max(ratios)


@dataclass(frozen=True)
class Point:
    """One combination of the axes' values: ``(key, value)`` pairs in axis order."""

    values: tuple[tuple[str, Any], ...]

    def settings(self) -> tuple[str, ...]:
        return tuple(f"{key}={toml_value(value)}" for key, value in self.values)


def grid(axes: Sequence[Axis]) -> list[Point]:
    keys = [axis.key for axis in axes]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise _refuse(key, "expected each key once; give all its values in one --set")
    points = [Point(tuple(zip(keys, combination)))
              for combination in itertools.product(*(axis.values for axis in axes))]
    if len(points) > MAX_POINTS:
        raise _refuse(" x ".join(keys), f"expected at most {MAX_POINTS} grid points, got {len(points)}")
    return points


# ----------------------------------------------------------------------------- the sweep

@dataclass(frozen=True)
class RunRow:
    """One run's final numbers (a row of sweep.csv)."""

    point: int               # index into the grid
    seed: int
    numbers: dict            # core.report.summary_rows' row for the run


class Sweep:
    """A scenario, its grid and seeds, checked before anything runs: every grid point is
    parsed as ``nnsim run --set`` would parse it, so a bad combination is one line, exit 2."""

    def __init__(self, scenario: str, axes: Sequence[Axis], seeds: Seeds, *,
                 variants: Sequence[str] = (), metric: str = "val_loss"):
        self.name = scenario
        self.axes = tuple(axes)
        self.points = grid(self.axes)
        self.seeds = seeds
        self.metric = metric
        self.text, self.path, self.builtin = job_source(scenario)
        parsed = [self._parse(point.values, seeds[0]) for point in self.points]    # each checked
        first = parsed[0]
        known = [v.name for v in first.variants]
        for name in variants:
            if name not in known:
                raise ScenarioError(str(resolve(scenario)), "--variant",
                                    f"no variant {name!r}; the variants are {', '.join(known)}")
        self.scenario = first
        self.variants = tuple(variants) or tuple(known)

    def _parse(self, values, seed: int):
        return parse_scenario(self.text, path=resolve(self.name), seed=seed, overrides=values,
                              fill_figures=False)

    def jobs(self, threads: int = 1):
        """Every grid point at every seed, in that order; ``threads``: per job, for its variants."""
        for point in self.points:
            for seed in self.seeds:
                yield Job(self.name, self.text, self.path, self.builtin, point.settings(), seed,
                          self.variants, threads=threads)

    def __len__(self) -> int:
        return len(self.points) * len(self.seeds)

    def run(self, executor: Executor, progress: Progress) -> tuple[list[RunRow], list[str], float]:
        """Every run's row, in grid, seed and variant order whatever order they finished in;
        the failures, one line each; and the seconds the jobs took, added up."""
        done: dict[int, Done] = {}
        try:
            for index, result in executor.play(self.jobs(executor.threads_per_job(len(self)))):
                done[index] = result
                progress.add(bool(result.error))
        finally:
            progress.clear()
        rows, failures = [], []
        for index in sorted(done):
            point, seed = divmod(index, len(self.seeds))
            seed = self.seeds[seed]
            if done[index].error:
                failures.append(f"{self._describe(point)} seed {seed}: {done[index].error}")
            rows += [RunRow(point, seed, numbers) for numbers in done[index].runs]
        return rows, failures, sum(d.seconds for d in done.values())

    def _describe(self, point: int) -> str:
        return " ".join(self.points[point].settings())


# ----------------------------------------------------------------------------- reports

def _number(value) -> str:
    if value is None:
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def sweep_csv(sweep: Sweep, rows: Sequence[RunRow]) -> str:
    """One row per run: the grid values (as --set takes them), variant, seed, final metrics,
    steps, diverged (its step, empty if it did not)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([axis.key for axis in sweep.axes] + ["variant", "seed", *METRICS, "steps",
                                                         "diverged", "diverged_step"])
    for row in rows:
        n = row.numbers
        writer.writerow([toml_value(v) for _, v in sweep.points[row.point].values]
                        + [n["variant"], row.seed] + [_number(n[m]) for m in METRICS]
                        + [n["step"], "true" if n["diverged_step"] is not None else "false",
                           _number(n["diverged_step"])])
    return out.getvalue()


def point_summaries(sweep: Sweep, rows: Sequence[RunRow]) -> list[dict]:
    """Per grid point and variant: its runs, how many diverged, and each metric's median and
    5th/95th percentile across seeds (nearest rank; NaN, not measured, left out)."""
    groups: dict[tuple[int, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row.point, row.numbers["variant"]), []).append(row.numbers)
    summaries = []
    for point_index, point in enumerate(sweep.points):
        for variant in sweep.variants:
            runs = groups.get((point_index, variant), [])
            summaries.append({
                "set": {key: value for key, value in point.values}, "variant": variant,
                "runs": len(runs), "diverged": sum(r["diverged_step"] is not None for r in runs),
                "metrics": {m: distribution(r[m] for r in runs) for m in METRICS}})
    return summaries


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def sweep_json(sweep: Sweep, summaries: list[dict], failures: list[str]) -> str:
    doc = {"scenario": sweep.scenario.name, "title": sweep.scenario.title, "metric": sweep.metric,
           "seeds": str(sweep.seeds), "variants": list(sweep.variants),
           "set": {axis.key: list(axis.values) for axis in sweep.axes},
           "runs": len(sweep) * len(sweep.variants), "failed": failures, "points": summaries}
    return json.dumps(_plain(doc), indent=1, allow_nan=False) + "\n"


def sweep_table(sweep: Sweep, summaries: list[dict]) -> str:
    from .headless import _cell, format_table

    several = len(sweep.variants) > 1
    headers = ([axis.key for axis in sweep.axes] + (["variant"] if several else [])
               + ["runs", f"{sweep.metric} median", "5%", "95%", "diverged"])
    rows = []
    for s in summaries:
        d = s["metrics"][sweep.metric]
        rows.append([toml_value(v) for v in s["set"].values()] + ([s["variant"]] if several else [])
                    + [str(s["runs"]), _cell(d["median"]), _cell(d["p5"]), _cell(d["p95"]),
                       str(s["diverged"])])
    return format_table(headers, rows)


def sweep_plot(sweep: Sweep, summaries: list[dict], *, width: int = 80, height: int = 20,
               color: bool = False) -> str:
    """For a one-key sweep of numbers: the metric's median against the value, with its 5% and
    95% lines, one colour per variant; a log x axis for log-spaced values. "" otherwise."""
    axes = [axis for axis in sweep.axes if len(axis.values) > 1]
    if len(axes) != 1 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                 for v in axes[0].values):
        return ""
    import plotext

    axis = axes[0]
    plot = plotext
    plot.clear_figure()
    plot.plotsize(width, height)
    if axis.log:
        plot.xscale("log")
    series = []
    for variant in sweep.variants:
        points = [(s["set"][axis.key], s["metrics"][sweep.metric]) for s in summaries
                  if s["variant"] == variant]
        series.append((variant, [(x, d) for x, d in points
                                 if all(math.isfinite(d[q]) for q in ("median", "p5", "p95"))]))
    ys = [d[q] for _, points in series for _, d in points for q in ("p5", "p95")]
    if ys and min(ys) > 0 and max(ys) / min(ys) >= 1e3:    # a diverged rate dwarfs the U-curve
        plot.yscale("log")
    for variant, points in series:
        if not points:
            continue
        xs = [float(x) for x, _ in points]
        name = f"{variant} " if len(sweep.variants) > 1 else ""
        plot.plot(xs, [d["p95"] for _, d in points], marker="dot", label=f"{name}95%")
        plot.plot(xs, [d["median"] for _, d in points], marker="hd", label=f"{name}median")
        plot.plot(xs, [d["p5"] for _, d in points], marker="dot", label=f"{name}5%")
    plot.title(f"{sweep.metric} against {axis.key} ({len(sweep.seeds)} seeds each)")
    plot.xlabel(axis.key)
    text = plot.build()
    plot.clear_figure()
    return text if color else plotext.uncolorize(text)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def run_sweep(sweep: Sweep, executor: Executor, *, out_dir: Path | None = None,
              out: TextIO | None = None, err: TextIO | None = None, quiet: bool = False) -> int:
    """Play the sweep and report; 0, or 1 if any run failed (a run that diverged did not fail:
    that is an outcome)."""
    from .core.report import write_atomically

    out, err = out or sys.stdout, err or sys.stderr
    n_runs = len(sweep) * len(sweep.variants)
    out.write(f"{sweep.scenario.name}: {n_runs} runs ({_count(len(sweep.points), 'grid point')} x "
              f"{_count(len(sweep.seeds), 'seed')} x {_count(len(sweep.variants), 'variant')}) "
              f"on {executor.where}\n")
    out.flush()
    progress = Progress(err if not quiet else io.StringIO(), len(sweep))
    rows, failures, busy = sweep.run(executor, progress)
    wall = time.monotonic() - progress.started
    summaries = point_summaries(sweep, rows)
    out.write("\n" + sweep_table(sweep, summaries) + "\n")
    plot = sweep_plot(sweep, summaries, color=out.isatty())
    if plot:
        out.write("\n" + plot + "\n")
    if failures:
        out.write(f"\n{len(failures)} failed:\n" + "".join(f"  {line}\n" for line in failures))
    out.write(f"\n{_count(n_runs, 'run')} in {wall:.1f} s (their jobs' own times add up to {busy:.1f} s)\n")
    if out_dir is not None:
        texts = (sweep_csv(sweep, rows), sweep_json(sweep, summaries, failures))
        files = [write_atomically(out_dir, name, text) for name, text in zip(SWEEP_FILES, texts)]
        out.write("wrote " + ", ".join(str(f) for f in files) + "\n")
    return 1 if failures else 0

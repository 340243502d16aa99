"""Headless runs: drive a scenario's runs to their end, play its events, check its expectations.

The runner is an observer like the TUI: it only calls ``Run.advance`` and ``Run.set`` and reads
snapshots. The variants run concurrently on a small thread pool (the kernels release the
GIL); every result is gathered by variant, so nothing printed to a file depends on which
thread finished first.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from .core.config import ConfigError
from .core.expectations import Outcome, Result, check_all
from .core.run import Run
from .core.scenario import Event, Scenario, ScenarioError, Variant

WORKERS = 2                 # this machine has two cores; one run per core
CHUNK_SECONDS = 0.2         # aim for a progress update about this often per run


@dataclass(frozen=True)
class VariantRun:
    """One variant run to its end."""

    variant: Variant
    outcome: Outcome
    seconds: float


class Cancelled(Exception):
    """The user interrupted the runs."""


def drive(run: Run, schedule: list[tuple[int, Event]], *, on_event: Callable[[Run, int, Event], None],
          on_progress: Callable[[Run], None], cancel: threading.Event | None = None):
    """Advance ``run`` to its end, stopping exactly at each event's step to apply it.

    Chunk sizes adapt to the speed of the run (about ``CHUNK_SECONDS`` each) but always end at
    a check or an event, so where they end never depends on timing. Returns the final snapshot.
    """
    pending = list(schedule)
    chunk = run.config.train.eval_every
    snapshot = run.snapshot()
    while True:
        while pending and pending[0][0] <= run.step:
            step, event = pending.pop(0)
            for key, value in event.set:
                run.set(key, value)
            on_event(run, step, event)
        if run.finished:
            return snapshot
        if cancel is not None and cancel.is_set():
            raise Cancelled
        target = pending[0][0] if pending else run.config.train.steps
        started, before = time.perf_counter(), run.step
        snapshot = run.advance(_chunk_end(before, chunk, target, run.config.train.eval_every) - before)
        if run.step == before and not run.finished:
            raise RuntimeError(f"{run.name}: advance made no progress at step {before}")
        elapsed = time.perf_counter() - started
        chunk = max(1, min(4 * chunk, int(chunk * CHUNK_SECONDS / max(elapsed, 1e-4))))
        on_progress(run)


def _chunk_end(step: int, chunk: int, target: int, eval_every: int) -> int:
    """Where the next chunk ends: about ``chunk`` steps on, at a check boundary or ``target``.

    Chunks end where the run measures anyway (every ``eval_every`` steps) or at an event, never
    at a point that depends on how fast this machine is.
    """
    end = step + chunk
    end = max(end - end % eval_every, step - step % eval_every + eval_every)
    return min(end, target)


class Console:
    """Narration and progress on the terminal, from many threads at once.

    Narration goes to ``out``; progress goes to ``err``: on a terminal one line rewritten in
    place, otherwise a plain line each time a run passes a quarter of its steps.
    """

    def __init__(self, out: TextIO, err: TextIO, *, progress: bool):
        self.out, self.err = out, err
        self.progress = progress
        self.live = progress and err.isatty()
        self.lock = threading.Lock()
        self.states: dict[str, str] = {}
        self.quarters: dict[str, int] = {}
        self.last_draw = 0.0
        self.said: set[int] = set()

    def _clear(self) -> None:
        if self.live and self.states:
            self.err.write("\r\033[K")

    def print(self, line: str = "") -> None:
        with self.lock:
            self._clear()
            self.out.write(line + "\n")
            self.out.flush()
            self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.live or not self.states or (not force and now - self.last_draw < 0.1):
            return
        self.last_draw = now
        self.err.write("\r\033[K" + "  ".join(f"{n} {s}" for n, s in self.states.items()))
        self.err.flush()

    def update(self, run: Run) -> None:
        if not self.progress:
            return
        steps = run.config.train.steps
        state = ("diverged" if run.diverged else "stopped early" if run.stopped_early
                 else f"{run.step}/{steps}")
        with self.lock:
            self.states[run.name] = state
            if self.live:
                self._draw(force=run.finished)
                return
            quarter = 4 if run.finished else 4 * run.step // steps
            if quarter > self.quarters.get(run.name, 0):
                self.quarters[run.name] = quarter
                self.err.write(f"  {run.name}: step {run.step} of {steps}"
                               + (f" ({state})" if not state[0].isdigit() else "") + "\n")
                self.err.flush()

    def event(self, run: Run, step: int, event: Event) -> None:
        """Narrate an event once, however many variants it applies to."""
        with self.lock:
            if event.index in self.said and event.variant is None:
                return
            self.said.add(event.index)
        changes = ", ".join(f"{k} = {v}" for k, v in event.set)
        who = event.variant or "all"
        parts = [p for p in (changes, event.say) if p]
        self.print(f"[step {step}, {who}] " + " — ".join(parts))

    def done(self) -> None:
        with self.lock:
            self._clear()
            self.states.clear()
            self.err.flush()


def run_variant(scenario: Scenario, variant: Variant, console: Console | None = None,
                cancel: threading.Event | None = None) -> VariantRun:
    """Build one variant's run, drive it to its end with its events, observe the outcome."""
    started = time.perf_counter()
    try:
        run = Run(variant.config, name=variant.name, base_dir=scenario.base_dir)
    except ConfigError as err:   # the data file, or a loss that does not fit the data's task
        key = err.key if len(scenario.variants) == 1 else f"variant[{variant.name}].{err.key}"
        raise ScenarioError(str(scenario.path), key, err.message) from None
    schedule = scenario.schedule(variant.name, run.steps_per_epoch)
    quiet = (lambda *args: None)
    snapshot = drive(run, schedule, on_event=console.event if console else quiet,
                     on_progress=console.update if console else quiet, cancel=cancel)
    outcome = Outcome.from_run(run, snapshot)
    return VariantRun(variant, outcome, time.perf_counter() - started)


def submit(pool: ThreadPoolExecutor, scenario: Scenario, console: Console | None = None,
           cancel: threading.Event | None = None) -> list[Future]:
    """Start every variant of ``scenario`` on ``pool``; futures in variant order."""
    return [pool.submit(run_variant, scenario, v, console, cancel) for v in scenario.variants]


def gather(futures: list[Future]) -> list[VariantRun]:
    """The results in the order of ``futures``; on an error, the others are cancelled."""
    try:
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise


def check(scenario: Scenario, runs: list[VariantRun]) -> list[Result]:
    return check_all(scenario.expectations, {r.variant.name: r.outcome for r in runs})


# ----------------------------------------------------------------------------- reports

def _cell(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "-"
    return f"{value:.{digits}g}"


def summary_rows(runs: list[VariantRun]) -> list[dict]:
    """Final numbers per variant (the rows of the table and of summary.json)."""
    rows = []
    for r in runs:
        snap, test = r.outcome.snapshot, r.outcome.test or (math.nan, math.nan)
        rows.append({
            "variant": r.variant.name, "label": r.variant.label, "seed": r.variant.config.train.seed,
            "step": snap.step, "epoch": snap.epoch,
            "train_loss": snap.train_loss, "val_loss": snap.val_loss,
            "train_acc": snap.train_acc, "val_acc": snap.val_acc,
            "test_loss": float(test[0]), "test_acc": float(test[1]),
            "diverged_step": snap.diverged_step,
            "stopped_early_step": snap.step if snap.stopped_early else None,
            "best_step": snap.best_step,
        })
    return rows


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned, the rest right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def summary_table(runs: list[VariantRun]) -> str:
    headers = ["variant", "step", "train loss", "val loss", "train acc", "val acc", "test loss",
               "test acc", "diverged at", "stopped early at"]
    keys = ["variant", "step", "train_loss", "val_loss", "train_acc", "val_acc", "test_loss",
            "test_acc", "diverged_step", "stopped_early_step"]
    return format_table(headers, [[row[k] if k == "variant" else _cell(row[k]) for k in keys]
                                  for row in summary_rows(runs)])


def format_results(results: list[Result]) -> str:
    lines = []
    for r in results:
        lines.append(f"  {r.status:<4}  {r.kind}: {r.message}")
        lines += [f"          {d}" for d in r.details]
        if r.because:
            lines.append(f"          because: {r.because}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- files

def metrics_csv(runs: list[VariantRun]) -> str:
    """One row per history row per variant, by variant then step."""
    n_layers = max(len(r.outcome.snapshot.history.grad_norms[0]) if len(r.outcome.snapshot.history)
                   else len(r.variant.config.model.layers) + 1 for r in runs)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    scalars = ("train_loss", "val_loss", "train_acc", "val_acc", "batch_loss", "batch_loss_std",
               "lr")
    writer.writerow(["step", "epoch", "variant", *scalars]
                    + [f"grad_norm_{i}" for i in range(n_layers)])
    for r in runs:
        h = r.outcome.snapshot.history
        for i in range(len(h)):
            norms = [repr(float(g)) for g in h.grad_norms[i]]
            writer.writerow([int(h.step[i]), int(h.epoch[i]), r.variant.name]
                            + [repr(float(getattr(h, k)[i])) for k in scalars]
                            + norms + [""] * (n_layers - len(norms)))
    return out.getvalue()


def _plain(value):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def summary_json(scenario: Scenario, seed: int | None, overrides, runs: list[VariantRun],
                 results: list[Result]) -> str:
    doc = {
        "scenario": scenario.name,
        "title": scenario.title,
        "seed": seed,
        "set": {k: v for k, v in overrides},
        "variants": summary_rows(runs),
        "expectations": [{"kind": r.kind, "passed": r.passed, "message": r.message,
                          "because": r.because, "details": list(r.details)} for r in results],
        "passed": all(r.passed for r in results),
    }
    return json.dumps(_plain(doc), indent=2, allow_nan=False) + "\n"


def write_atomically(folder: Path, name: str, text: str) -> Path:
    """Write ``folder/name`` through a temporary file, so it is never seen half-written."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def run_scenario(scenario: Scenario, *, seed: int | None = None, overrides=(), out_dir: Path | None = None,
                 quiet: bool = False, workers: int = WORKERS, out: TextIO | None = None,
                 err: TextIO | None = None) -> int:
    """``nnsim run``: play a scenario headless and report. Returns the exit status (0 or 1)."""
    console = Console(out or sys.stdout, err or sys.stderr, progress=not quiet)
    n = len(scenario.variants)
    console.print(f"{scenario.name}: {scenario.title}")
    threads = min(workers, n)
    console.print(f"{n} run{'s' if n > 1 else ''} ({', '.join(v.name for v in scenario.variants)}),"
                  f" seed {scenario.base.train.seed}, {threads} thread{'s' if threads > 1 else ''}")
    cancel = threading.Event()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            runs = gather(submit(pool, scenario, console, cancel))
        except BaseException:
            cancel.set()
            raise
        finally:
            console.done()
    wall = time.perf_counter() - started
    results = check(scenario, runs)
    console.print()
    console.print(summary_table(runs))
    if results:
        console.print()
        console.print("expectations:")
        console.print(format_results(results))
    held = sum(bool(r.passed) for r in results)
    console.print()
    console.print(f"{held} of {len(results)} expectations hold. {n} runs in {wall:.1f} s "
                  f"(their own times add up to {sum(r.seconds for r in runs):.1f} s)")
    if out_dir is not None:
        files = [write_atomically(out_dir, "metrics.csv", metrics_csv(runs)),
                 write_atomically(out_dir, "summary.json",
                                  summary_json(scenario, seed, overrides, runs, results))]
        console.print("wrote " + ", ".join(str(f) for f in files))
    return 0 if held == len(results) else 1


def check_scenarios(scenarios: list[list[Scenario]], seeds: list[int], *, workers: int = WORKERS,
                    out: TextIO | None = None, err: TextIO | None = None, progress: bool = True) -> int:
    """``nnsim check``: each scenario (one loaded per seed) run and checked; a pass/fail table.

    All scenario x seed runs share one pool. Returns 0 when every expectation holds, else 1.
    """
    out, err = out or sys.stdout, err or sys.stderr
    cancel = threading.Event()
    started = time.perf_counter()
    failures, cells = [], []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            pending = [[submit(pool, s, cancel=cancel) for s in per_seed] for per_seed in scenarios]
            for per_seed, futures_per_seed in zip(scenarios, pending):
                row = [per_seed[0].name]
                for seed, scenario, futures in zip(seeds, per_seed, futures_per_seed):
                    results = check(scenario, gather(futures))
                    failed = [r for r in results if not r.passed]
                    row.append("FAIL" if failed else "ok")
                    failures += [f"{scenario.name} seed {seed}: {r.kind}: {r.message}"
                                 for r in failed]
                    if progress:
                        err.write(f"  {scenario.name} seed {seed}: "
                                  f"{len(results) - len(failed)}/{len(results)} hold\n")
                        err.flush()
                cells.append(row)
        except BaseException:
            cancel.set()
            raise
    out.write(format_table(["scenario"] + [f"seed {s}" for s in seeds], cells) + "\n")
    if failures:
        out.write("\nfailed:\n" + "".join(f"  {line}\n" for line in failures))
    total = len(scenarios) * len(seeds)
    bad = sum(cell == "FAIL" for row in cells for cell in row[1:])
    out.write(f"\n{total - bad} of {total} scenario x seed checks pass "
              f"({time.perf_counter() - started:.1f} s)\n")
    return 1 if bad else 0

"""Headless runs: play a scenario's runs to their end, narrate, check and report.

The runs are played by the one driver (``core.driver.play``), as the dashboard plays them; this
module adds the console (progress and narration), the thread pool and the reports. The variants
run concurrently, one per core (the kernels release the GIL); every result is gathered by
variant, so nothing printed to a file depends on which thread finished first.
"""

from __future__ import annotations

import io
import math
import os
import sys
import threading
import time
from contextlib import contextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence, TextIO

from .core import narration
from .core.config import ConfigError
from .core.data.cleaning import CleaningReport
from .core.driver import Fired, ScriptedRun, Told, play
from .core.expectations import Outcome, Result, check_all
from .core.provenance import recorded_form
from .core.report import OUT_FILES, metrics_csv, summary_json, summary_rows, write_atomically
from .core.run import Run
from .core.snapshot import History
from .core.scenario import (Scenario, ScenarioError, Variant, expectation_keys, parse_scenario,
                            resolve, toml_value)
from .core.validation import Tally, format_summary, seed_ranges

if TYPE_CHECKING:
    from .executor import Done, Executor


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        return os.cpu_count() or 1


WORKERS = _cores()          # one run per core: the kernels release the GIL


@dataclass(frozen=True)
class VariantRun:
    """One variant run to its end."""

    variant: Variant
    outcome: Outcome
    seconds: float
    cleaning: CleaningReport | None = None     # what the data's cleaning rules found and did


class Console:
    """Narration and progress on the terminal, from many threads at once.

    Narration goes to ``out``; progress goes to ``err``: on a terminal one line rewritten in
    place (cut to the terminal's width, so it never wraps into a flood of stale rows),
    otherwise a plain line each time a run passes a quarter of its steps. ``live_only``:
    the live line alone, showing only the runs still going (``nnsim check``'s many runs).
    """

    def __init__(self, out: TextIO, err: TextIO, *, progress: bool, live_only: bool = False,
                 narrate: bool = True):
        self.out, self.err = out, err
        self.narrate = narrate
        self.told: list[tuple[int, int, str]] = []     # (step, event, line), until the runs end
        self.live = progress and err.isatty()
        self.progress = self.live if live_only else progress
        self.live_only = live_only
        self.lock = threading.Lock()
        self.states: dict[str, str] = {}
        self.quarters: dict[str, int] = {}
        self.last_draw = 0.0
        self.noted: set[str] = set()

    def _clear(self) -> None:
        if self.live and self.states:
            self.err.write("\r\033[K")

    def print(self, line: str = "", *, to_err: bool = False) -> None:
        """A line of narration (or, ``to_err``, of progress) above the live line."""
        stream = self.err if to_err else self.out
        with self.lock:
            self._clear()
            stream.write(line + "\n")
            stream.flush()
            self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.live or not self.states or (not force and now - self.last_draw < 0.1):
            return
        self.last_draw = now
        try:
            width = os.get_terminal_size(self.err.fileno()).columns
        except (OSError, ValueError, AttributeError):
            width = 80
        line = "  ".join(f"{n} {s}" for n, s in self.states.items())
        self.err.write("\r\033[K" + line[:max(width - 1, 1)])
        self.err.flush()

    def update(self, run: Run, who: str | None = None) -> None:
        """Show ``run``'s progress under the name ``who`` (default: the run's name)."""
        if not self.progress:
            return
        who = who or run.name
        steps = run.config.train.steps
        state = ("diverged" if run.diverged else "stopped early" if run.stopped_early
                 else f"{run.step}/{steps}")
        with self.lock:
            self.states[who] = state
            if self.live_only and run.finished:
                del self.states[who]
                self._clear()
            if self.live:
                self._draw(force=run.finished)
                return
            quarter = 4 if run.finished else 4 * run.step // steps
            if quarter > self.quarters.get(who, 0):
                self.quarters[who] = quarter
                self.err.write(f"  {who}: step {run.step} of {steps}"
                               + (f" ({state})" if not state[0].isdigit() else "") + "\n")
                self.err.flush()

    def tell(self, fired: Fired) -> None:
        """Narrate an event once, however many variants it applies to (kept until ``retell``:
        the variants train on threads of their own, one may be at step 1000 while another
        is at 150)."""
        if not fired.tell or not self.narrate:
            return
        with self.lock:
            self.told.append((fired.step, fired.event.index, fired))

    def retell(self, histories: Mapping[str, History]) -> None:
        """The narration, in step order (and file order within a step), its ``{run.…}``
        figures from the runs' ``histories`` at the step each line was told."""
        with self.lock:
            told, self.told = sorted(self.told, key=lambda item: item[:2]), []
        for step, _, fired in told:
            say = narration.told(fired.event.say, step, histories)
            parts = [p for p in (fired.changes, say) if p]
            self.print(f"[step {step}, {fired.event.variant or 'all'}] " + " — ".join(parts))

    def note(self, line: str) -> None:
        """Say a line once, however many runs bring it up (a choice the data loader made)."""
        with self.lock:
            if line in self.noted:
                return
            self.noted.add(line)
        self.print(line)

    def done(self) -> None:
        with self.lock:
            self._clear()
            self.states.clear()
            self.err.flush()


def run_variant(scenario: Scenario, variant: Variant, console: Console | None = None,
                cancel: threading.Event | None = None, told: Told | None = None,
                who: str = "", alongside: int = 1) -> VariantRun:
    """Build one variant's run and play it to its end with its events. ``who`` prefixes the
    run's name in the progress (which scenario and seed, for check); ``alongside`` runs train
    at once and share the memory budget."""
    started = time.perf_counter()
    try:
        run = Run(variant.config, name=variant.name, base_dir=scenario.base_dir,
                  alongside=alongside)
    except ConfigError as err:   # the data file, or a loss that does not fit the data's task
        key = err.key if len(scenario.variants) == 1 else f"variant[{variant.name}].{err.key}"
        raise ScenarioError(str(scenario.path), key, err.message) from None
    for note in run.dataset.notes if console else ():
        console.note(note)
    scripted = ScriptedRun(run, scenario, told)
    if console is None:
        outcome = play(scripted, cancel=cancel)
    else:
        outcome = play(scripted, tell=console.tell, cancel=cancel,
                       progress=lambda r: console.update(r, who + r.name))
    return VariantRun(variant, outcome, time.perf_counter() - started, run.dataset.cleaning)


@contextmanager
def training_pool(workers: int, cancel: threading.Event) -> Iterator[ThreadPoolExecutor]:
    """Threads for the runs. On an error or an interrupt the runs are cancelled and not waited
    for: a run stops at its next chunk, but one still inside Numba's first compile cannot, and
    the user who pressed Ctrl-C should not wait 15 s for it."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        yield pool
    except BaseException:
        cancel.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def submit(pool: ThreadPoolExecutor, alongside: int, scenario: Scenario,
           console: Console | None = None, cancel: threading.Event | None = None,
           who: str = "") -> list[Future]:
    """Start every variant of ``scenario`` on ``pool``, where ``alongside`` runs train at once;
    futures in variant order."""
    told = Told()
    return [pool.submit(run_variant, scenario, v, console, cancel, told, who, alongside)
            for v in scenario.variants]


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
                                  for row in summary_rows(_pairs(runs))])


def cleaning_table(runs: list[VariantRun]) -> str:
    """Per run and rule: records found breaking it, dropped, repaired; then each run's totals
    (a record breaking two rules counts under both, and once in the total)."""
    rows = []
    for r in runs:
        report = r.cleaning
        if report is None:
            continue
        rows += [[r.variant.name, rule, str(found), str(dropped), str(repaired)]
                 for rule, found, dropped, repaired in report.rows()]
        rows.append([r.variant.name, f"all ({report.mode})", str(report.bad_records),
                     str(report.dropped_records), str(report.repaired_records)])
    return format_table(["variant", "rule", "found", "dropped", "repaired"], rows) if rows else ""


def _pairs(runs: list[VariantRun]) -> list[tuple[Variant, Outcome]]:
    return [(r.variant, r.outcome) for r in runs]


def format_results(results: list[Result]) -> str:
    lines = []
    for r in results:
        lines.append(f"  {r.status:<4}  {r.kind}: {r.message}")
        lines += [f"          {d}" for d in r.details]
        if r.because:
            lines.append(f"          because: {r.because}")
    return "\n".join(lines)


def run_scenario(scenario: Scenario, *, seed: int | None = None, overrides=(), out_dir: Path | None = None,
                 quiet: bool = False, workers: int | None = None, out: TextIO | None = None,
                 err: TextIO | None = None) -> int:
    """``nnsim run``: play a scenario headless and report. Returns the exit status (0 or 1)."""
    console = Console(out or sys.stdout, err or sys.stderr, progress=not quiet)
    n = len(scenario.variants)
    console.print(f"{scenario.name}: {scenario.title}")
    workers = workers or WORKERS
    threads = min(workers, n)
    console.print(f"{n} run{'s' if n > 1 else ''} ({', '.join(v.name for v in scenario.variants)}),"
                  f" seed {scenario.base.train.seed}, {threads} thread{'s' if threads > 1 else ''}")
    cancel = threading.Event()
    started = time.perf_counter()
    with training_pool(workers, cancel) as pool:
        try:
            runs = gather(submit(pool, threads, scenario, console, cancel))
        finally:
            console.done()
    wall = time.perf_counter() - started
    console.retell({run.variant.name: run.outcome.snapshot.history for run in runs})
    results = check(scenario, runs)
    console.print()
    console.print(summary_table(runs))
    cleaning = cleaning_table(runs)
    if cleaning:
        console.print()
        console.print("data cleaning (records, over all splits):")
        console.print(cleaning)
    if results:
        console.print()
        console.print("expectations:")
        console.print(format_results(results))
    held = sum(bool(r.passed) for r in results)
    console.print()
    console.print(f"{held} of {len(results)} expectations hold. {n} runs in {wall:.1f} s "
                  f"(their own times add up to {sum(r.seconds for r in runs):.1f} s)")
    if out_dir is not None:
        histories = [(r.variant.name, r.outcome.snapshot.history) for r in runs]
        texts = (metrics_csv(histories), summary_json(scenario, seed, overrides, _pairs(runs), results))
        files = [write_atomically(out_dir, name, text) for name, text in zip(OUT_FILES, texts)]
        console.print("wrote " + ", ".join(str(f) for f in files))
    return 0 if held == len(results) else 1


SEED_COLUMNS = 10      # more seeds than this: a count per scenario instead of a column per seed


FAILED_SEEDS_SHOWN = 12     # over many seeds, the seeds an expectation failed on, then "…"


def failure_lines(failures: dict[tuple[str, str, str], list[tuple[int, str]]], n_seeds: int) -> list[str]:
    """A line per failed check over a few seeds; over many, a line per expectation: the seeds it
    failed on and the first failure's numbers."""
    if n_seeds <= SEED_COLUMNS:
        return [f"{name} seed {seed}: {kind}: {message}"
                for (name, _, kind), seeds in failures.items() for seed, message in seeds]
    lines = []
    for (name, id_, kind), seeds in failures.items():
        listed = ", ".join(str(seed) for seed, _ in seeds[:FAILED_SEEDS_SHOWN])
        more = ", …" if len(seeds) > FAILED_SEEDS_SHOWN else ""
        lines.append(f"{name} {id_} {kind}: {len(seeds)} of {n_seeds} seeds ({listed}{more}); "
                     f"seed {seeds[0][0]}: {seeds[0][1]}")
    return lines


def check_scenarios(names: list[str], seeds: Sequence[int], *, overrides=(),
                    scheduler: str | None = None, workers: int | None = None,
                    executor: "Executor | None" = None,
                    out: TextIO | None = None, err: TextIO | None = None, progress: bool = True,
                    tally: Tally | None = None) -> int:
    """``nnsim check``: each scenario at each seed (with ``overrides``, as ``parse_override``
    gives them) played on ``executor``, by default the Dask cluster at ``scheduler`` or else a
    local pool of ``workers`` processes (opened once the files are read), and checked; a pass/fail table, and over several seeds each expectation's pass rate and the
    spread of its figures. ``tally`` (if given) gathers every result, for a validation summary.

    Every name is read and parsed once up front, so a broken file is reported before anything
    runs; the scenario x seed jobs then go out a few ahead of the results, so ten thousand seeds
    start at once and hold only what is in flight. Returns 0 when every expectation holds, else 1.
    """
    from .executor import ExecutorError, Job, Progress, job_source, open_executor

    out, err = out or sys.stdout, err or sys.stderr
    sources = {name: job_source(name) for name in names}
    first = {name: parse_scenario(text, path=resolve(name), seed=seeds[0], overrides=tuple(overrides),
                                  fill_figures=False) for name, (text, _, _) in sources.items()}
    asks = {name: {e.id: expectation_keys(e) for e in s.expectations} for name, s in first.items()}
    settings = tuple(f"{key}={toml_value(value)}" for key, value in overrides)
    started = time.perf_counter()
    failures: dict[tuple[str, str, str], list[tuple[int, str]]] = {}   # (scenario, id, kind) -> seeds
    cells = {name: [scenario.name] for name, scenario in first.items()}
    tally = tally if tally is not None else Tally()
    for scenario in first.values():
        tally.define(scenario.name, recorded_form(scenario))
    total = len(names) * len(seeds)
    live = Progress(err if progress else io.StringIO(), total, unit="checks")
    finished: dict[int, Done] = {}
    next_index = 0
    with executor or open_executor(scheduler, workers, jobs_hint=total) as engine:
        threads = engine.threads_per_job(total)
        jobs = (Job(name, *sources[name], settings, seed, check=True, threads=threads)
                for name in names for seed in seeds)
        try:
            for index, done in engine.play(jobs):
                finished[index] = done
                live.add(bool(done.error))
                while next_index in finished:       # told in order, whatever order they end in
                    done = finished.pop(next_index)
                    name, seed = names[next_index // len(seeds)], seeds[next_index % len(seeds)]
                    next_index += 1
                    scenario = first[name]
                    if done.error:
                        raise ExecutorError(f"{scenario.name} seed {seed}: {done.error}")
                    results = [Result(**{**r, "details": tuple(r["details"]),
                                         "figures": tuple(map(tuple, r["figures"]))})
                               for r in done.results]
                    tally.add(scenario.name, seed, results, asks[name])
                    failed = [r for r in results if not r.passed]
                    cells[name].append("FAIL" if failed else "ok")
                    for r in failed:
                        failures.setdefault((scenario.name, r.id, r.kind), []).append((seed, r.message))
                    if progress:
                        live.clear()
                        err.write(f"  {scenario.name} seed {seed}: "
                                  f"{len(results) - len(failed)}/{len(results)} hold\n")
                        err.flush()
        finally:
            live.clear()
    bad = sum(cell == "FAIL" for row in cells.values() for cell in row[1:])
    if len(seeds) <= SEED_COLUMNS:
        out.write(format_table(["scenario"] + [f"seed {s}" for s in seeds], list(cells.values())) + "\n")
    else:
        out.write(format_table(["scenario", "seeds", "pass", "fail"], [
            [row[0], seed_ranges(seeds), str(row[1:].count("ok")), str(row[1:].count("FAIL"))]
            for row in cells.values()]) + "\n")
    if failures:
        out.write("\nfailed:\n" + "".join(f"  {line}\n" for line in failure_lines(failures, len(seeds))))
    if len(seeds) > 1:
        out.write("\n" + format_summary(tally.summary()) + "\n")
    out.write(f"\n{total - bad} of {total} scenario x seed checks pass "
              f"({time.perf_counter() - started:.1f} s)\n")
    return 1 if bad else 0

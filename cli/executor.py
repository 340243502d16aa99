"""Where the runs of ``nnsim sweep`` and ``nnsim check`` are played: one executor, two engines.

A ``Job`` is plain data: a scenario's TOML text, the ``--set`` strings, a seed, the variants to
play and whether to judge the expectations. ``play_job`` (in a worker process) parses it, plays
the runs with the one driver and returns plain data: each run's final numbers and, for a check,
the expectation results. Nothing Python-specific crosses a process or a network, so a job gives
the same bits on this machine's pool and on any cluster worker with the same installation and
CPU (``core/jit.py`` says what bit-reproducible means).

Two engines take jobs and hand back ``(index, Done)`` in the order they finish:

- ``LocalPool``: worker processes on this machine (``--jobs N``, default one per core); one
  that dies ends the command (one line, nothing written): no retries here;
- ``DaskCluster``: a Dask distributed scheduler (``--scheduler tcp://HOST:8786``; the
  ``cluster`` extra). Dask does the distributing: retries, a worker that dies (its jobs go to
  another), cancelling.

Either way a worker process sets ``OPENBLAS_NUM_THREADS=1`` before NumPy loads (one run, one
core: parallelism comes from the runs) and warms its kernels once. Leaving the ``with`` block by
an exception (Ctrl-C included) cancels every job still out and stops the local workers.
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator

# One BLAS thread per worker process: the runs are the parallelism, and a pool of processes
# each starting a BLAS thread per core would fight over the cores. Dask's nanny sets the same
# three variables for its workers (distributed.nanny.pre-spawn-environ).
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CONNECT_SECONDS = 5         # how long --scheduler waits for a scheduler that does not answer
RETRIES = 2                 # a job whose worker raised is tried this many more times (Dask)
CLUSTER_HINT = "pip install 'nnsim[cluster]'"


class ExecutorError(Exception):
    """The executor cannot start or cannot go on: one line for the user (exit 2)."""


@dataclass(frozen=True)
class Job:
    """One scenario at one seed, as plain data."""

    scenario: str                  # the name given on the command line (a built-in or a path)
    text: str                      # the scenario file's TOML text, read once by the caller
    path: str                      # where it was read: anchors a relative data.path
    builtin: bool                  # a built-in lesson: a worker finds its own copy's folder
    settings: tuple[str, ...]      # --set strings, "key=value" with TOML values
    seed: int
    variants: tuple[str, ...] = ()  # () = every variant
    check: bool = False            # judge the expectations (nnsim check)
    threads: int = 1               # the variants train on this many threads at once

    def plain(self) -> dict:
        """What crosses to a worker: strings, numbers, booleans and lists of them."""
        doc = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in doc.items()}


@dataclass(frozen=True)
class Done:
    """What came back for one job: its runs' final numbers (``core.report.summary_rows``),
    for a check its expectation results (as dicts of ``Result``'s fields), or why it failed."""

    runs: list = field(default_factory=list)
    results: list = field(default_factory=list)
    error: str = ""                # non-empty: the job failed (the message, one line)
    seconds: float = 0.0


# ----------------------------------------------------------------------------- in the worker

_warmed = False


def prepare_worker() -> None:
    """Once per worker process: one BLAS thread (before NumPy loads, when it is not loaded yet)
    and the kernels compiled or loaded from the cache, so the first job is timed like the rest."""
    global _warmed
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if _warmed:
        return
    warm_kernels()
    _warmed = True


def warm_kernels() -> None:
    """Train a two-unit network a few steps: every kernel a run needs is compiled (or loaded
    from Numba's cache, whose saves are locked: core/jit.py)."""
    from .core.config import config_from_dict
    from .core.run import Run

    config = config_from_dict({"data": {"kind": "gaussians", "n_points": 20},
                               "model": {"layers": [2]}, "train": {"steps": 2, "eval_every": 1}})
    run = Run(config, name="warm")
    run.advance(2)
    run.evaluate("val")


def _ignore_interrupts() -> None:
    """A local worker leaves Ctrl-C to the parent, which cancels the jobs and stops it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    prepare_worker()


def play_job(job: dict) -> dict:
    """Play one job (``Job.plain()``) in this process; ``Done``'s fields as a dict."""
    from pathlib import Path

    prepare_worker()
    from .core.config import ConfigError
    from .core.report import summary_rows
    from .core.scenario import parse_override, parse_scenario, resolve
    from .headless import check, run_variant

    started = time.perf_counter()
    path = resolve(job["scenario"]) if job["builtin"] else Path(job["path"])
    try:
        overrides = tuple(parse_override(text) for text in job["settings"])
        scenario = parse_scenario(job["text"], path=path, seed=job["seed"], overrides=overrides,
                                  fill_figures=False)
        variants = [v for v in scenario.variants if not job["variants"] or v.name in job["variants"]]
        with ThreadPoolExecutor(job["threads"]) as threads:     # the kernels release the GIL
            runs = list(threads.map(lambda variant: run_variant(scenario, variant,
                                                                alongside=job["threads"]), variants))
    except ConfigError as err:          # ScenarioError too: a data file this worker cannot read
        return asdict(Done(error=str(err), seconds=time.perf_counter() - started))
    results = [asdict(r) for r in check(scenario, runs)] if job["check"] else []
    rows = summary_rows([(r.variant, r.outcome) for r in runs])
    return asdict(Done(runs=rows, results=results, seconds=time.perf_counter() - started))


# ----------------------------------------------------------------------------- the engines

class Executor:
    """Plays jobs; ``play`` yields ``(index, Done)`` as they finish, keeping ``ahead`` jobs out
    at a time so that a million seeds start at once and hold only what is in flight."""

    workers = 1
    where = ""

    def threads_per_job(self, jobs: int) -> int:
        """Threads each of ``jobs`` jobs may train its variants on: more than one only when
        there are fewer jobs than cores (one lesson at one seed)."""
        return 1

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close(cancel=exc[0] is not None)

    def close(self, cancel: bool) -> None:
        raise NotImplementedError

    def play(self, jobs: Iterable[Job]) -> Iterator[tuple[int, Done]]:
        raise NotImplementedError


class LocalPool(Executor):
    """Worker processes on this machine, started fresh (``spawn``: no copy of the parent's
    threads) with one BLAS thread each. The kernels are warmed here first, so that the workers
    load them from the cache rather than each compiling them at once."""

    def __init__(self, workers: int | None = None, *, jobs_hint: int | None = None):
        import multiprocessing

        from .headless import WORKERS

        self.cores = workers or WORKERS
        self.workers = max(1, min(self.cores, jobs_hint or self.cores))
        self.where = f"{self.workers} local process{'es' if self.workers > 1 else ''}"
        warm_kernels()
        # A worker copies this environment as it starts, which may be at any submit: it is set
        # for the pool's life (the parent's NumPy is loaded already and does not read it again).
        self.saved_environment = {name: os.environ.get(name) for name in WORKER_ENVIRONMENT}
        os.environ.update(WORKER_ENVIRONMENT)
        self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_ignore_interrupts)

    def threads_per_job(self, jobs: int) -> int:
        return max(1, self.cores // max(jobs, 1))

    def play(self, jobs: Iterable[Job]) -> Iterator[tuple[int, Done]]:
        pending: dict[Future, int] = {}
        queue = enumerate(jobs)
        while True:
            while len(pending) < 2 * self.workers and (item := next(queue, None)) is not None:
                index, job = item
                pending[self.pool.submit(play_job, job.plain())] = index
            if not pending:
                return
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=pending.get):
                index = pending.pop(future)
                if isinstance(future.exception(), BrokenProcessPool):
                    raise ExecutorError("a local worker process ended unexpectedly (killed, or out "
                                        "of memory?); the runs were stopped and nothing written")
                yield index, _done(future.result)

    def close(self, cancel: bool) -> None:
        try:
            if not cancel:
                self.pool.shutdown(wait=True)
                return
            # Mid-run, a run stops only at its next chunk: the workers are ended, and the pool's
            # own thread, seeing them gone, fails what is left and frees its queues.
            for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                process.terminate()
            self.pool.shutdown(wait=True, cancel_futures=True)
        finally:
            for name, value in self.saved_environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class DaskCluster(Executor):
    """Jobs on a Dask distributed cluster. Dask retries a job whose worker raised (``RETRIES``)
    and reschedules the jobs of a worker that died; nnsim only submits and gathers."""

    def __init__(self, address: str, *, connect_seconds: float = CONNECT_SECONDS):
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorError(f"--scheduler needs Dask distributed: {CLUSTER_HINT}") from None
        try:
            self.client = Client(address, timeout=connect_seconds, set_as_default=False)
        except (OSError, ValueError, TypeError) as err:    # TimeoutError is an OSError
            raise ExecutorError(f"--scheduler {address}: cannot reach a Dask scheduler there "
                                f"({' '.join(str(err).split()) or type(err).__name__})") from None
        self.workers = max(1, sum(self.client.nthreads().values()))
        self.where = f"the Dask cluster at {address} ({self.workers} worker threads)"
        try:
            self.client.run(prepare_worker)     # each worker warms its kernels once
        except Exception as err:    # e.g. a worker without nnsim: ModuleNotFoundError
            self.client.close()
            raise ExecutorError(f"--scheduler {address}: its workers cannot run nnsim (install the "
                                f"same nnsim on each): {type(err).__name__}: {err}") from None
        self.token = uuid.uuid4().hex[:12]
        self.futures: set = set()

    def play(self, jobs: Iterable[Job]) -> Iterator[tuple[int, Done]]:
        from distributed import as_completed

        queue = enumerate(jobs)
        indices = {}
        finished = as_completed(loop=self.client.loop)     # this client's, not a default one

        def submit_more() -> None:
            while len(self.futures) < 2 * self.workers and (item := next(queue, None)) is not None:
                index, job = item
                future = self.client.submit(play_job, job.plain(), key=f"nnsim-{self.token}-{index}",
                                            retries=RETRIES, pure=False)
                indices[future.key] = index
                self.futures.add(future)
                finished.add(future)

        submit_more()
        for future in finished:
            self.futures.discard(future)
            yield indices.pop(future.key), _done(future.result)
            submit_more()

    def close(self, cancel: bool) -> None:
        if cancel and self.futures:
            self.client.cancel(list(self.futures), force=True)
        self.futures.clear()
        self.client.close()


def _done(result) -> Done:
    """A finished future's ``Done``; a job that raised (after Dask's retries) fails with its
    exception's last line."""
    try:
        return Done(**result())
    except Exception as err:    # a bug or a worker's own trouble: reported as a failed job
        return Done(error=f"{type(err).__name__}: {' '.join(str(err).split())}")


def open_executor(scheduler: str | None, workers: int | None = None,
                  jobs_hint: int | None = None) -> Executor:
    """The Dask cluster at ``scheduler``, else a local pool of ``workers`` processes (at most
    ``jobs_hint``: no idle processes for three jobs)."""
    if scheduler:
        return DaskCluster(scheduler)
    return LocalPool(workers, jobs_hint=jobs_hint)


def job_source(name: str) -> tuple[str, str, bool]:
    """``(text, path, builtin)`` of a scenario named on the command line, read once."""
    from .core.scenario import ScenarioError, builtin_names, resolve

    path = resolve(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(str(path), "", f"cannot read the file: {err}") from None
    # absolute: a worker's working folder may be another (a data file must be at the same path)
    return text, str(path.absolute()), name in builtin_names() and not name.endswith(".toml")


class Progress:
    """``runs 12/40 done, 1 failed, ETA 0:35`` rewritten in place on a terminal's stderr."""

    def __init__(self, err, total: int | None, *, unit: str = "runs"):
        self.err, self.total, self.unit = err, total, unit
        self.live = bool(getattr(err, "isatty", lambda: False)())
        self.done = self.failed = 0
        self.started = time.monotonic()
        self.last_draw = 0.0

    def add(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        now = time.monotonic()
        if self.live and (now - self.last_draw >= 0.1 or self.done == self.total):
            self.last_draw = now
            self.err.write("\r\033[K" + self.line(now))
            self.err.flush()

    def line(self, now: float) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        text = f"{self.unit} {self.done}{total} done, {self.failed} failed"
        if self.total and self.done:
            left = int((now - self.started) / self.done * (self.total - self.done))
            hours = f"{left // 3600}:" if left >= 3600 else ""
            text += f", ETA {hours}{left // 60 % 60:{'02' if hours else ''}d}:{left % 60:02d}"
        return text

    def clear(self) -> None:
        if self.live:
            self.err.write("\r\033[K")
            self.err.flush()

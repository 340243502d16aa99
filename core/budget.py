"""How much memory a run will take, decided before any of it is allocated.

A network too wide for the machine, or a data file too big for it, must be refused with a
sentence, not found out by an ``ArrayMemoryError`` traceback or, worse, by the kernel's OOM
killer after the run has pushed everyone else's work on a shared machine into swap.
``run_bytes`` mirrors what ``Run._build`` allocates and ``file_load_bytes`` what reading a CSV
file takes; ``check_budget`` and ``check_data_budget`` compare them with what this process can
still have (``available_bytes``: the machine's free memory, and the process's own address-space
limit, ``ulimit -v``, when it has one).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

from .config import ConfigError
from .phases import workspace_floats

# Copies of the flat parameter buffer a run keeps: the parameters, their gradients, two
# optimizer moments, the previous step's parameters, the initial parameters (reset), the best
# parameters (early stopping), the weight mask, and one layer's worth of temporaries when a
# snapshot takes the weight histograms (counted as a whole copy, to be safe).
PARAMETER_COPIES = 9
HISTORY_ROWS = 2048            # core.history.HistoryBuffer's capacity
MIN_KERNEL_ROWS = 256          # rows per kernel call when predicting (core.run)
SHARE_OF_AVAILABLE = 0.5       # a run may take at most this share of the free memory
FLOAT_BYTES = 8
BOOKKEEPING_BYTES = 64 * 1024  # the settings, counters and per-layer statistics: small, fixed
# Peak memory while a CSV file is read into a data set, per byte of the file. Measured on
# build_dataset (ru_maxrss and tracemalloc): 4.9 for cells of six decimals, 20.6-21.1 for cells
# of one digit, the densest a file can be ("1," is two bytes, one float64 eight, held about
# five times over while it is parsed, split and scaled). The densest case is the bound.
CSV_BYTES_PER_FILE_BYTE = 24    # the worst measured (21.1 by tracemalloc) and a margin


@dataclass(frozen=True)
class Estimate:
    """A run's memory in bytes, split by what grows with which setting (the network's widths
    are in all three, so ``model.layers`` is the key an error names)."""

    parameters: int            # grows with model.layers
    activations: int           # grows with model.layers x train.batch_size
    data: int                  # logits of each split, the batch order, the history, bookkeeping

    @property
    def total(self) -> int:
        return self.parameters + self.activations + self.data


def run_bytes(widths: tuple[int, ...], batch_rows: int, split_rows: tuple[int, ...]) -> Estimate:
    """The bytes ``Run._build`` allocates for a network of ``widths`` (inputs, hidden...,
    outputs) trained ``batch_rows`` rows at a time on splits of ``split_rows`` rows."""
    n_params = sum(n_in * n_out + n_out for n_in, n_out in zip(widths, widths[1:]))
    workspace = workspace_floats(widths, max(batch_rows, MIN_KERNEL_ROWS))
    logits = 2 * sum(split_rows) * widths[-1]              # logits and their scratch copy
    order = split_rows[0]                                  # the shuffled training rows
    history = HISTORY_ROWS * (9 + 2 * (len(widths) - 1))
    return Estimate(parameters=PARAMETER_COPIES * n_params * FLOAT_BYTES,
                    activations=workspace * FLOAT_BYTES,
                    data=(logits + order + history) * FLOAT_BYTES + BOOKKEEPING_BYTES)


def file_load_bytes(file_bytes: int) -> int:
    """The most memory reading a CSV file of ``file_bytes`` into a data set can take."""
    return CSV_BYTES_PER_FILE_BYTE * file_bytes


def _proc_kib(path: str, field: str) -> int | None:
    """A ``field:  N kB`` line of a /proc file, in bytes; None when it cannot be read."""
    try:
        with open(path, encoding="ascii") as proc:
            for line in proc:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_bytes() -> int | None:
    """Memory the machine can give without swapping (Linux's MemAvailable), else the free
    physical pages; None when neither can be read."""
    available = _proc_kib("/proc/meminfo", "MemAvailable")
    if available is not None:
        return available
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def address_space_bytes() -> int | None:
    """What is left of this process's address-space limit (``ulimit -v``, RLIMIT_AS) after
    what it has mapped already (VmSize); None when it has no limit. Past it every allocation
    fails, however much memory the machine has free."""
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return None
    mapped = _proc_kib("/proc/self/status", "VmSize") or 0
    return max(limit - mapped, 0)


def available_bytes() -> int | None:
    """What this process can still allocate: the smaller of the machine's free memory and
    what its address-space limit leaves; None when neither is known."""
    known = [n for n in (machine_bytes(), address_space_bytes()) if n is not None]
    return min(known, default=None)


def gib(n_bytes: int) -> str:
    if n_bytes < 2**20:
        return f"{n_bytes / 2**10:.0f} KiB"
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**29 else f"{n_bytes / 2**20:.0f} MiB"


def check_budget(estimate: Estimate, available: int | None, alongside: int = 1) -> None:
    """Refuse a run that would take more than its part of ``SHARE_OF_AVAILABLE`` of
    ``available`` bytes: ``alongside`` runs held at once (a scenario's variants in the
    dashboard, the workers of ``nnsim run``) share it, so each may take ``1/alongside`` of it.
    Checking each run alone would pass thirty variants that each fit and together do not."""
    _check_share("model.layers", "this run needs", estimate.total, available, alongside,
                 "make it smaller")


def check_data_budget(file_bytes: int, available: int | None, alongside: int = 1) -> None:
    """Refuse, before a byte of it is read, a data file whose loading would take more than a
    run's share of ``available`` bytes (as ``check_budget``; every run reads its own copy)."""
    _check_share("data.path", f"reading this {gib(file_bytes)} file takes", file_load_bytes(file_bytes),
                 available, alongside, "use a smaller file")


def _check_share(key: str, needs: str, total: int, available: int | None, alongside: int,
                 advice: str) -> None:
    runs = max(1, alongside)
    if available is None or runs * total <= SHARE_OF_AVAILABLE * available:
        return
    share = f"at most {SHARE_OF_AVAILABLE:.0%} of it" if runs == 1 else \
        f"with {runs - 1} other run{'s' if runs > 2 else ''} at once, at most {SHARE_OF_AVAILABLE / runs:.0%} of it"
    raise ConfigError(key, f"{needs} about {gib(total)} of memory; this process has {gib(available)} "
                           f"available and a run may take {share}: {advice}")


TRAJECTORY_ROWS = 128          # checks a run's recorded path keeps at most (core.landscape)
MIN_TRAJECTORY_ROWS = 8        # fewer than this is no path worth drawing: none is recorded
TRAJECTORY_BYTES = 16 * 2**20  # what one run's path may take at most, however much is free


def trajectory_rows(n_params: int, available: int | None, alongside: int = 1) -> int:
    """How many checks of a run's weights (``n_params`` float64s each) its path may keep: at
    most ``TRAJECTORY_ROWS``, within ``TRAJECTORY_BYTES`` and the run's share of what is
    available; 0 when that is under ``MIN_TRAJECTORY_ROWS`` (then no path is recorded)."""
    allowed = TRAJECTORY_BYTES
    if available is not None:
        allowed = min(allowed, int(SHARE_OF_AVAILABLE * available / max(1, alongside)) // 4)
    rows = min(TRAJECTORY_ROWS, allowed // (FLOAT_BYTES * max(1, n_params)))
    return rows if rows >= MIN_TRAJECTORY_ROWS else 0

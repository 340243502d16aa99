"""How much memory a run will take, decided before any of it is allocated.

A network too wide for the machine must be refused with a sentence, not found out by an
``ArrayMemoryError`` traceback or, worse, by the kernel's OOM killer after the run has pushed
everyone else's work on a shared machine into swap. ``run_bytes`` mirrors what
``Run._build`` allocates; ``check_budget`` compares it with what the machine has free.
"""

from __future__ import annotations

import os
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


def available_bytes() -> int | None:
    """Memory the machine can give without swapping (Linux's MemAvailable), else the free
    physical pages; None when neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**29 else f"{n_bytes / 2**20:.0f} MiB"


def check_budget(estimate: Estimate, available: int | None, alongside: int = 1) -> None:
    """Refuse a run that would take more than its part of ``SHARE_OF_AVAILABLE`` of
    ``available`` bytes: ``alongside`` runs held at once (a scenario's variants in the
    dashboard, the workers of ``nnsim run``) share it, so each may take ``1/alongside`` of it.
    Checking each run alone would pass thirty variants that each fit and together do not."""
    runs = max(1, alongside)
    if available is None or runs * estimate.total <= SHARE_OF_AVAILABLE * available:
        return
    share = f"at most {SHARE_OF_AVAILABLE:.0%} of it" if runs == 1 else \
        f"with {runs - 1} other run{'s' if runs > 2 else ''} at once, at most {SHARE_OF_AVAILABLE / runs:.0%} of it"
    raise ConfigError("model.layers", f"this run needs about {gib(estimate.total)} of memory; the "
                                    f"machine has {gib(available)} available and a run may take "
                                    f"{share}: make it smaller")

"""nnsim's numerics: data, model layout, kernels, optimizers and the training run. No UI here.

    from nnsim.core import Run
    run = Run({"data": {"kind": "circle"}, "model": {"layers": [8, 8]}, "train": {"lr": 0.03}})
    snapshot = run.advance(500)        # an immutable Snapshot

``Run`` is imported on first use: it loads Numba and the kernels (about half a second), which
reading a scenario or the configuration does not need.
"""

from .config import ConfigError, RunConfig, config_from_dict
from .snapshot import History, Snapshot

__all__ = ["ConfigError", "History", "Run", "RunConfig", "Snapshot", "config_from_dict"]


def __getattr__(name: str):
    if name == "Run":
        from .run import Run
        return Run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

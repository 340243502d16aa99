"""nnsim's numerics: data, model layout, kernels, optimizers and the training run. No UI here.

    from nnsim.core import Run
    run = Run({"data": {"kind": "circle"}, "model": {"layers": [8, 8]}, "train": {"lr": 0.03}})
    snapshot = run.advance(500)        # an immutable Snapshot
"""

from .config import ConfigError, RunConfig, config_from_dict
from .run import Run
from .snapshot import History, Snapshot

__all__ = ["ConfigError", "History", "Run", "RunConfig", "Snapshot", "config_from_dict"]

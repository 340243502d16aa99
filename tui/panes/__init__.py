"""The dashboard's panes, one widget per file. Each draws a ``Progress`` and never touches a run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    """How the user asked to look at the runs (keys `l`, `m`, `v`, `[`, `]`)."""

    log_scale: bool = False
    smooth: bool = False
    variant: int = 0        # which variant the per-run panes show
    layer: int = 0          # which layer the weights pane shows

"""The dashboard's panes, one widget per file, and their registry: the layout, the tabs, the
help screen and the command palette are all built from ``PANES``, in this order."""

from __future__ import annotations

from .base import Pane, View
from .boundary import BoundaryPane
from .gradients import GradientsPane
from .landscape import LandscapePane
from .lesson import LessonPane
from .loss import LossPane
from .network import NetworkPane
from .weights import WeightsPane

PANES: tuple[type[Pane], ...] = (LossPane, BoundaryPane, GradientsPane, WeightsPane, LessonPane,
                                 NetworkPane, LandscapePane)

__all__ = ["PANES", "Pane", "View"]

"""What every pane shares: the view the user chose, and the ``Pane`` base class."""

from __future__ import annotations

from dataclasses import dataclass

from textual.containers import Vertical

from ..frame import Frame


@dataclass(frozen=True)
class View:
    """How the user asked to look at the runs (keys `l`, `m`, `v`, `[`, `]`, `t`, `z`)."""

    log_scale: bool = False
    smooth: bool = False
    variant: int = 0        # which variant the per-run panes show
    layer: int = 0          # which layer the weights pane shows
    show_test: bool = False     # the boundary pane draws the validation points too
    discretize: bool = False    # the boundary pane thresholds a binary output at 0.5


class Pane(Vertical):
    """One pane of the dashboard: it draws a ``Frame`` and nothing else.

    ``ID`` names it (its widget id, its tab, its key), ``TITLE`` is its border title, ``TAB``
    its tab label (the title if short enough), ``HELP`` the line the help screen shows for it.
    """

    ID: str = ""
    TITLE: str = ""
    TAB: str = ""
    HELP: str = ""

    @classmethod
    def tab_label(cls) -> str:
        return cls.TAB or cls.TITLE

    def __init__(self, **kwargs) -> None:
        super().__init__(id=self.ID, classes="pane", **kwargs)

    def on_mount(self) -> None:
        self.border_title = self.TITLE

    def show(self, frame: Frame, view: View) -> None:
        raise NotImplementedError

    @staticmethod
    def selected(frame: Frame, view: View) -> int:
        """The index of the run the per-run panes show."""
        return min(view.variant, len(frame.snapshots) - 1)

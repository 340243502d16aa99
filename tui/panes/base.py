"""What every pane shares: the view the user chose, and the ``Pane`` base class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from ..frame import Frame


@dataclass(frozen=True)
class View:
    """How the user asked to look at the runs (keys `l`, `m`, `x`, `v`, `[`, `]`, `t`, `z`)."""

    log_scale: bool = False
    smooth: bool = False
    variant: int = 0        # which variant the per-run panes show
    layer: int = 0          # which layer the weights pane shows
    x_axis: str = "steps"   # the loss pane's x axis: steps | log steps | epochs (key `x`)
    show_test: bool = False     # the boundary pane draws the validation points too
    discretize: bool = False    # the boundary pane thresholds a binary output at 0.5


def flow(entries: Sequence[Text], width: int, gap: int = 2) -> Text:
    """``entries`` side by side, ``gap`` columns apart, in rows of ``width`` columns, an entry
    never split over two rows (one wider than a row takes a row of its own and wraps there)."""
    flowed, row = Text(), 0
    for entry in entries:
        if row and row + gap + entry.cell_len > width:
            flowed.append("\n")
            row = 0
        elif row:
            flowed.append(" " * gap)
            row += gap
        flowed.append_text(entry)
        row += entry.cell_len
    return flowed


class Caption(Static):
    """Text beside a picture that is set at every frame: the widget is redrawn only when its
    text changed, and laid out again only when its number of rows did (a layout pass visits
    every widget on the screen, which at ten frames a second costs more than the pictures)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: Text | None = None

    def show_text(self, text: Text) -> None:
        if text == self._shown:
            return
        rows = None if self._shown is None else self._rows(self._shown)
        self._shown = text
        self.update(text, layout=rows != self._rows(text))

    def _rows(self, text: Text) -> int:
        """The rows ``text`` takes at this caption's width: a line that grows past the width
        wraps onto one more row (a number gaining digits), which needs a layout too."""
        width = self.content_region.width
        if width <= 0:
            return text.plain.count("\n") + 1
        return len(text.wrap(self.app.console, width))


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

    def set_subtitle(self, text: str) -> None:
        """The border's subtitle (plain text: labels come from scenarios, never markup); set
        only when it changed, as setting it redraws the whole pane."""
        if self.border_subtitle is None or str(self.border_subtitle) != text:
            self.border_subtitle = Text(text)

    def on_resize(self) -> None:
        self.resized()

    def resized(self) -> None:
        """The pane, or a picture in it, changed size (a legend above a plot grew a line): its
        pictures are fitted to their size, so it is drawn again."""
        pane_resized = getattr(self.screen, "pane_resized", None)
        if pane_resized is not None:
            pane_resized(self.ID)

    @property
    def drawn_size(self) -> tuple:
        """The sizes its pictures were fitted to: the pane's and each plot's in it."""
        return (self.size, tuple(plot.size for plot in self.query("Plot")))

    def measured(self, frame: Frame) -> bool:
        """Whether ``frame`` holds what this pane needs at its size (the worker measures some
        pictures for the pane on screen, after it asked): screenshots and tests wait for it."""
        return True

    def fingerprint(self, frame: Frame, view: View):
        """What this pane's picture depends on, when that is less than the whole frame; a frame
        with the same fingerprint as the one drawn is not drawn again (a paced run changes its
        weights every step but its losses only at checks). ``None``: always draw."""
        return None

    @staticmethod
    def checks(frame: Frame, view: View) -> tuple:
        """The fingerprint of panes that draw only what is measured (losses, gradient norms,
        expectations): it changes at each check, at a step measured by hand, and with the view."""
        return (view, frame.state, tuple((s.measured_step, s.step if s.diverged else 0, s.lr)
                                         for s in frame.snapshots))

    @staticmethod
    def selected(frame: Frame, view: View) -> int:
        """The index of the run the per-run panes show."""
        return min(view.variant, len(frame.snapshots) - 1)

"""The learning-rate range test in the dashboard (``g``): loss against a rate growing from 1e-6 to
10, measured by the worker on a copy of the selected run's weights (``core.lr_find``), drawn on
a log axis with the steepest descent and the divergence marked, and an offer to set the
suggested rate (enter) in that run alone (the others keep theirs: a lesson comparing rates stays
a comparison), which goes to the trainer as the controls' change does, so the session records it
as the learner's."""

from __future__ import annotations

from typing import Callable

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from . import colors
from .modal import Modal
from .panes.plot import Plot, tick_labels, value_axis


def range_words(test) -> str:
    """What the test found, in one line."""
    found = (f"steepest descent at {test.suggestion:.3g}" if test.suggestion is not None
             else "the loss never fell")
    end = (f"diverged at {test.rates[test.diverged]:.3g}" if test.diverged is not None
           else f"never diverged up to {test.rates[-1]:.3g}")
    return f"{found} · {end} · the run trains at {test.current_rate:.3g}"


class RateFinderScreen(Modal[None]):
    """See the module docstring. ``configure(changes)`` sends the change for run ``run_name``
    alone and returns why it was refused ("" when sent)."""

    DEFAULT_CSS = """
    RateFinderScreen { align: center middle; }
    #rate-dialog { width: 90%; height: 90%; border: round $primary; background: $surface;
                   padding: 0 1; }
    #rate-plot { height: 1fr; }
    #rate-note, #rate-footer { height: auto; }
    """
    BINDINGS = [
        Binding("enter", "use_rate", "Use it", id="rate-use",
                tooltip="Set the suggested learning rate in the run it was measured on"),
        Binding("escape,q,g", "dismiss", "Close", id="rate-close"),
    ]

    def __init__(self, run_name: str, configure: Callable[[tuple], str]) -> None:
        super().__init__()
        self.run_name = run_name
        self.configure = configure
        self.test = None

    def compose(self) -> ComposeResult:
        with Vertical(id="rate-dialog"):
            yield Static(Text(f"training a copy of {self.run_name}'s weights while the rate "
                              "grows from 1e-6 to 10…", style="dim italic"), id="rate-note")
            yield Plot(id="rate-plot")
            yield Static(Text("escape closes (the run was not touched)", style="dim"),
                         id="rate-footer")

    def on_mount(self) -> None:
        self.query_one("#rate-dialog").border_title = "Learning-rate range test"

    def show_test(self, test, reason: str = "") -> None:
        note = self.query_one("#rate-note", Static)
        if test is None:
            note.update(Text(reason, style="bold yellow"))
            return
        self.test = test
        note.update(Text(range_words(test)))
        footer = Text()
        if test.suggestion is not None:
            footer.append("enter", style="bold")
            footer.append(f" sets {self.run_name}'s learning rate to {test.suggestion:.3g} (its "
                          "run only) · ")
        footer.append("escape closes (the run was not touched)", style="dim")
        self.query_one("#rate-footer", Static).update(footer)
        self.call_after_refresh(self._draw)

    def on_resize(self) -> None:
        if self.test is not None:
            self._draw()

    def _draw(self) -> None:
        test, plot = self.test, self.query_one("#rate-plot", Plot)
        plt = plot.plt
        plt.clear_figure()
        log_rates = np.log10(np.asarray(test.rates, float))
        losses = np.asarray(test.losses, float)
        smoothed = np.asarray(test.smoothed, float)
        finite = np.isfinite(losses) & np.isfinite(smoothed)
        if not finite.any():
            plot.refresh()
            return
        plt.scatter(log_rates[finite].tolist(), losses[finite].tolist(),
                    color=colors.dim(colors.variant_color(0)), marker="braille")
        plt.plot(log_rates[finite].tolist(), smoothed[finite].tolist(),
                 color=colors.variant_color(0), marker="braille")
        if test.steepest is not None:
            plt.vline(float(log_rates[test.steepest]), colors.CLASS[2])
        if test.diverged is not None:
            plt.vline(float(log_rates[test.diverged]), colors.DIVERGED)
        plt.vline(float(np.log10(test.current_rate)), colors.NEUTRAL)
        shown = smoothed[finite]
        value_axis(plt, float(shown.min()), float(max(shown.max(), np.median(losses[finite]))),
                   plot.size.height)
        decades = np.arange(np.floor(log_rates[0]), np.ceil(log_rates[-1]) + 1)
        plt.xticks(decades.tolist(), tick_labels(10.0 ** decades, 1))
        plt.xlabel("learning rate (log)")
        plt.title("batch loss (dots), smoothed (line) · green: steepest · red: diverged · "
                  "white: the run's rate")
        plot.refresh()

    def action_use_rate(self) -> None:
        if self.test is None or self.test.suggestion is None:
            return
        refused = self.configure((("train.lr", float(f"{self.test.suggestion:.3g}")),))
        if refused:
            self.query_one("#rate-note", Static).update(Text(refused, style="bold red"))
            return
        self.dismiss()

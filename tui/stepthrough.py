"""The step-through: one training step of the selected run, walked phase by phase on its real
numbers — forward pass, loss, backpropagation, update — one phase per key press, and back.

The screen never touches a run. It asks the training thread (through ``send``, the app's
command queue) for a ``trace``: the trainer pauses and answers with an immutable ``StepTrace``
in a ``TraceReady`` message. Reaching the update asks it to ``take_traced``: the run takes
that very step (``advance(1)``, as ``n`` does), so after phase 4 the dashboard's run is one
step further with exactly the weights shown. Going on from the update traces the next step.

A modal screen: the dashboard's training keys do not reach the app while it is open, so
nothing changes the run between a trace and the step it shows.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

import numpy as np
from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.widgets import Footer, Static

from . import diagram
from . import requests as ask
from .diagram import PHASES, Look
from .modal import Modal
from .panes.boundary import BoundaryPicture, BoundaryView
from .panes.landscape import slope_text

if TYPE_CHECKING:       # core.trace loads the kernels (Numba): not before the first frame
    from ..core.trace import StepTrace

HOME_LESSONS = ("learning-loop",)   # lessons whose --replay opens the step-through


class StepThroughScreen(Modal[None]):
    """See the module docstring. ``send(kind, key, value)`` queues a command for the trainer;
    ``variant`` is the run to trace."""

    CSS_PATH = "stepthrough.tcss"
    BINDINGS = [
        Binding("right,space,n", "forward", "Next phase", id="st-forward", key_display="→",
                tooltip="The next phase (after the update: the next step)"),
        Binding("left,b", "back", "Back", id="st-back", key_display="←",
                tooltip="The previous phase of this step"),
        Binding("x", "exact", "Exact", id="st-exact", tooltip="Every digit, or rounded numbers"),
        Binding("down,j", "example(1)", "Example", id="st-example", key_display="↓",
                tooltip="Draw the next example of the batch"),
        Binding("up,k", "example(-1)", "Example", id="st-example-prev", show=False),
        Binding("right_square_bracket", "layer(1)", "Layer", id="st-layer", key_display="]",
                tooltip="The next layer's weights (and the diagram's slice)"),
        Binding("left_square_bracket", "layer(-1)", "Layer", id="st-layer-prev", show=False),
        Binding("e", "app.export", "Export", id="st-export", show=False,
                tooltip="Export the metrics (CSV) and this screen (SVG) to the working directory"),
        Binding("escape,q", "dismiss", "Dashboard", id="st-close",
                tooltip="Back to the dashboard (paused)"),
    ]
    # From 150 columns the story stands beside the diagram instead of under it.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]

    def __init__(self, send: Callable[[ask.Request], None], variant: int = 0) -> None:
        super().__init__()
        self.send = send
        self.variant = variant
        self.trace: StepTrace | None = None
        self.line = None            # the loss along the traced step
        self.look = Look()
        self.taken = False          # this trace's step was sent to be taken
        self.reason = "tracing the next step…"
        self.boundary_step: int | None = None   # the step of the boundary drawn

    def compose(self) -> ComposeResult:
        yield Static(id="st-header")
        yield Static(id="st-phases")
        with Container(id="st-body"):
            with Vertical(id="st-left"):
                yield Static(id="st-diagram")
                yield BoundaryView(id="st-boundary")
            with VerticalScroll(id="st-story-scroll"):
                yield Static(id="st-story")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#st-diagram").border_title = "the network"
        if self._frame() is None:
            self.reason = ("The runs are starting (a first start compiles the kernels): the "
                           "step-through opens on the first step as soon as it is ready…")
        self.send(ask.Trace(self.variant))
        self.call_after_refresh(self.draw)      # drawn once mounted, the wait said at once
        # The boundary follows the run: after the update it shows the step taken.
        self.set_interval(0.25, self._follow_boundary)

    def _frame(self):
        """The dashboard's frame on screen, or None before the first."""
        return getattr(self.app, "frame", None)

    # ------------------------------------------------------------------ what the app tells it

    def show_trace(self, trace: StepTrace | None, reason: str = "", line=None) -> None:
        """A new trace (phase 1 of its step), or why there is none; ``line``: the training
        loss along the traced step (``core.landscape.StepLine``), shown with the update."""
        self.trace, self.reason, self.taken, self.line = trace, reason, False, line
        if trace is not None:
            self.look = dataclasses.replace(
                self.look, phase=0, example=min(self.look.example, len(trace.batch_rows) - 1),
                layer=min(self.look.layer, len(trace.layers) - 1))
        self.draw()

    # ------------------------------------------------------------------ keys

    def action_forward(self) -> None:
        if self.trace is None:
            return
        if self.look.phase < len(PHASES) - 1:
            self._set(phase=self.look.phase + 1)
            if self.look.phase == len(PHASES) - 1 and not self.taken:
                self.taken = True
                self.send(ask.TakeTraced())
            return
        self.trace, self.reason = None, "tracing the next step…"
        self.send(ask.Trace(self.variant))
        self.draw()

    def action_back(self) -> None:
        if self.trace is not None and self.look.phase > 0:
            self._set(phase=self.look.phase - 1)

    def action_exact(self) -> None:
        self._set(exact=not self.look.exact)

    def action_example(self, delta: int) -> None:
        if self.trace is not None:
            self._set(example=(self.look.example + delta) % len(self.trace.batch_rows))

    def action_layer(self, delta: int) -> None:
        if self.trace is not None:
            self._set(layer=(self.look.layer + delta) % len(self.trace.layers))

    def _set(self, **changes) -> None:
        self.look = dataclasses.replace(self.look, **changes)
        self.draw()

    # ------------------------------------------------------------------ drawing

    def draw(self) -> None:
        if not self.is_mounted:
            return
        trace, look = self.trace, self.look
        self.query_one("#st-phases", Static).update(diagram.phase_bar(look))
        if trace is None:
            self.query_one("#st-header", Static).update(Text("Step-through", style="bold"))
            self.query_one("#st-diagram", Static).update(Text(self.reason, style="italic"))
            self.query_one("#st-diagram").border_subtitle = ""
            self.query_one("#st-story", Static).update("")
            self._draw_boundary()
            return
        frame = self._frame()
        several = frame is not None and len(frame.labels) > 1
        label = frame.labels[min(self.variant, len(frame.labels) - 1)] if several else ""
        self.query_one("#st-header", Static).update(diagram.header(trace, look, label))
        self.query_one("#st-diagram", Static).update(diagram.diagram(trace, look))
        self.query_one("#st-diagram").border_subtitle = diagram.slice_note(trace, look)
        story = diagram.story(trace, look)
        if PHASES[look.phase] == "update" and self.line is not None:
            # beside the same batch's loss after the step: the whole split's along it
            parts = list(story.renderables)
            at = next((i + 1 for i, part in enumerate(parts) if isinstance(part, Text)
                       and part.plain.startswith("Same batch again")), len(parts))
            story = Group(*parts[:at], slope_text(self.line), *parts[at:])
        self.query_one("#st-story", Static).update(story)
        self._draw_boundary()

    def _follow_boundary(self) -> None:
        frame = self._frame()
        if self.trace is not None and frame is not None and frame.step != self.boundary_step:
            self._draw_boundary()

    def _draw_boundary(self) -> None:
        """The run's decision boundary (wide screens), the followed example a white ◆."""
        view = self.query_one("#st-boundary", BoundaryView)
        frame, trace = self._frame(), self.trace
        pictures = frame.pictures[self.variant] if frame is not None else None
        points = frame.points[self.variant] if frame is not None else None
        if trace is None or pictures is None or pictures.boundary is None or points is None:
            view.picture, view.border_title, self.boundary_step = None, "", None
            view.set_class(True, "-none")
        else:
            example = self.look.example
            view.picture = BoundaryPicture(np.asarray(pictures.boundary, dtype=float),
                                           pictures.boundary_extent, points.task, points,
                                           followed=int(trace.batch_rows[example]))
            view.border_title = f"decision boundary at step {frame.step}"
            view.border_subtitle = f"◆ example {example + 1} (row {int(trace.batch_rows[example])})"
            view.set_class(False, "-none")
            self.boundary_step = frame.step
        view.refresh()

"""The dashboard screen: the panes of the registry, the status line, and how the user looks.

The screen owns what is on it and the keys that change only the view (log scale, smoothing,
which variant, which layer, which tab, the boundary's validation points and discretizing); the app
owns the trainer and sends it the keys that change the training. Frames arrive through ``show_frame``; panes redraw one at a time within a
share of the UI thread's time, so a big screen never starves the training thread.
"""

from __future__ import annotations

import dataclasses
import re
import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.screen import Screen
from rich.text import Text
from textual.widgets import Footer, Static, Tab, Tabs

from ..core.scenario import Scenario
from .controls import ControlsPanel
from .frame import Frame
from .panes import PANES, View
from .panes.base import flow
from .panes.loss import LossPane
from .panes.status import StatusLine

REDRAW_SECONDS = 0.1            # panes redraw at most ten times a second
UI_SHARE = 0.1                  # and the UI thread spends at most this share of the time
                                # (drawing holds the GIL that the training thread needs too)
LONGEST_REDRAW_SECONDS = 2.0    # however costly a picture, panes move at least this often


NARROW_HIDDEN_KEYS = frozenset({"dropout", "optimizer", "export", "step_through",
                                "pick_scenario"})     # actions


class KeysFooter(Footer):
    """Textual's footer, but below 150 columns without the keys of ``NARROW_HIDDEN_KEYS`` (k's
    line, help and ctrl+p still list them): pause, step, reset, rate, pace, help, quit,
    controls and k fit in 80 columns."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if getattr(widget, "action", None) in NARROW_HIDDEN_KEYS:     # a FooterKey
                widget.add_class("-narrow-hidden")
            yield widget


def more_keys(bindings, narrow: bool, width: int) -> Text:
    """The lines `k` shows, ``width`` columns wide: every key of ``bindings`` that the footer
    leaves out (at ``narrow`` widths, those of ``NARROW_HIDDEN_KEYS`` too), keys with the same
    description together ("[ ] Layer"), the pane keys 1-7 left to the tabs, which show them; a
    key and its words never split over two rows."""
    kept: dict[str, list[str]] = {}
    for binding in bindings:
        if binding.action.startswith("show_pane") or binding.action == "more_keys":
            continue
        if binding.show and not (narrow and binding.action in NARROW_HIDDEN_KEYS):
            continue            # in the footer
        key = binding.key_display or binding.key.split(",")[0]
        kept.setdefault(binding.description, []).append(key)
    return flow([Text.assemble((" ".join(keys), "bold"), f" {description}")
                 for description, keys in kept.items()], width)


def pane_mentioned(text: str) -> str | None:
    """The pane a narration sends the learner to ("in the loss pane", "the gradient-norm
    pane", "the decision-boundary pane"): the first one it names, else None."""
    match = re.search(r"([\w-]+) pane\b", text.lower())
    if match is None:
        return None
    words = match.group(1).split("-")
    return next((pane.ID for pane in PANES
                 if any(word.startswith(pane.ID.removesuffix("s")) for word in words)), None)


def _settings(frame: Frame) -> tuple:
    """What a key changes on the status line (the step count changes at every frame)."""
    return frame.state, frame.detail, frame.pace, frame.configs


class DashboardScreen(Screen):
    """Every pane of ``PANES`` (a grid when wide and tall, tabs otherwise) and a status line."""

    BINDINGS = [
        Binding("l", "log_scale", "Log", id="log-scale", show=False,
                tooltip="Loss on a log or a linear scale"),
        Binding("m", "smooth", "Smooth", id="smooth", show=False, tooltip="Smooth the loss curves"),
        Binding("x", "x_axis", "X axis", id="x-axis", show=False,
                tooltip="The loss over steps, log steps or epochs"),
        Binding("v", "next_variant", "Variant", id="variant", show=False,
                tooltip="Show the next variant in the per-run panes"),
        Binding("left_square_bracket", "layer(-1)", "Layer", id="layer-prev", key_display="[",
                show=False, tooltip="Previous layer in the weights pane"),
        Binding("right_square_bracket", "layer(1)", "Layer", id="layer-next", key_display="]",
                show=False, tooltip="Next layer in the weights pane"),
        Binding("t", "show_test", "Validation points", id="show-test", show=False,
                tooltip="Show the validation points on the decision boundary"),
        Binding("z", "discretize", "Discretize", id="discretize", show=False,
                tooltip="Discretize the boundary: the class-1 probability above or below 0.5"),
        *(Binding(str(i), f"show_pane('{pane.ID}')", pane.tab_label(), id=f"pane-{pane.ID}", show=False,
                  tooltip=f"Show the {pane.TITLE.lower()} pane (narrow screens)")
          for i, pane in enumerate(PANES, start=1)),
        Binding("k", "more_keys", "More keys", id="more-keys",
                tooltip="A line above the footer with the keys it has no room for; k again hides it"),
    ]

    def __init__(self, *, show_speed: bool = True) -> None:
        super().__init__()
        self.show_speed = show_speed
        self.view = View()
        self.frame: Frame | None = None
        self.scenario_name = ""
        self._stale: set[str] = set()          # panes not yet showing self.frame
        self._rotation = [pane.ID for pane in PANES]     # least recently drawn first
        self._last_draw = 0.0
        self._draw_interval = REDRAW_SECONDS
        self._cpu_mark = 0.0
        self._ready = False
        self._drawn: dict[str, object] = {}     # each pane's fingerprint when last drawn
        # Made here, not in compose: the app talks to them before the screen is mounted.
        self.panes = {pane.ID: pane() for pane in PANES}
        self.status = StatusLine(id="status", show_speed=show_speed)
        self.narration = Static(id="narration")
        self.narration.display = False          # until the script says something
        self.more_keys = Static(id="more-keys")
        self.more_keys.display = False          # until k
        # each tab with the number key that shows it
        self.tabs = Tabs(*(Tab(f"{i} {pane.tab_label()}", id=f"tab-{pane.ID}")
                           for i, pane in enumerate(PANES, start=1)), id="pane-tabs")
        self._tab_by_narration = f"tab-{PANES[0].ID}"   # the last tab a narration (or the start) chose
        self._tab_chosen = False        # the learner picked a tab: narrations no longer switch them
        self.grid = Container(*self.panes.values(), id="panes")
        self.dock = Container(id="controls-dock")
        self.controls: ControlsPanel | None = None      # made when first opened

    def compose(self) -> ComposeResult:
        yield self.tabs
        with Horizontal(id="body"):
            yield self.grid
            yield self.dock
        yield self.narration
        yield self.status
        yield self.more_keys
        yield KeysFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self.panes[PANES[0].ID].add_class("-active")
        self.call_after_refresh(self._composed)

    def _composed(self) -> None:
        """Every pane has its widgets: frames that came before can be drawn now."""
        self._ready = True
        self._show_narrated_tab()
        self._cpu_mark = time.thread_time()
        self.draw(force=True)

    @property
    def controls_open(self) -> bool:
        return self.dock.has_class("-open")

    def toggle_controls(self, focus: str = "data.kind") -> None:
        """The controls beside the panes (wide screens), which then make room for them; opening
        them focuses ``focus``'s control."""
        shown = not self.controls_open
        self.dock.set_class(shown, "-open")
        self.grid.set_class(shown, "-with-controls")
        if shown and self.controls is None:
            self.controls = ControlsPanel()
            self.dock.mount(self.controls)
        if shown:
            self.call_after_refresh(self.controls.focus_control, focus)

    def pane_resized(self, pane: str) -> None:
        """Pictures are fitted to their pane's size (a resized terminal, the narration bar
        coming or going): the pane is drawn again once the new layout is in place."""
        if self.frame is not None:
            self._stale.add(pane)
            self.call_after_refresh(self.draw, True)

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if self._ready:     # not the tabs' own first activation, which can come late
            self._tab_chosen |= event.tab.id != self._tab_by_narration  # a click, an arrow key
        shown = event.tab.id.removeprefix("tab-")
        for pane in self.panes.values():
            pane.set_class(pane.id == shown, "-active")
        self._focus_pane(shown)
        self.draw(force=True)

    def _focus_pane(self, pane: str) -> None:
        """A pane with keys of its own (the network's cursor) takes them when chosen."""
        focusable = [widget for widget in self.panes[pane].query("*") if widget.can_focus]
        if focusable:
            focusable[0].focus()

    # ------------------------------------------------------------------ what the app tells it

    def set_scenario(self, scenario: Scenario) -> None:
        self.scenario_name = scenario.name
        self.frame = None
        self.view = View()
        self.panes["lesson"].set_scenario(scenario)
        self.narration.display = False
        self._tab_chosen = False
        self.grid.remove_class("-no-plane")

    def show_frame(self, frame: Frame) -> None:
        if self.frame is not None and frame.step < self.frame.step:
            self.panes["lesson"].restart()      # reset: the script plays again
            self.narration.display = False
        if self.frame is None:
            # Without a 2-D plane the wide grid gives the boundary's place to the loss.
            self.grid.set_class(all(points is None for points in frame.points), "-no-plane")
        if frame.experiment is not None and not frame.experiment.is_lesson:
            self.narration.display = False      # the lesson's words; the runs are not its runs
        previous, self.frame = self.frame, frame
        self._stale = set(self.panes)
        if self._ready and (previous is None or _settings(previous) != _settings(frame)):
            self._show_status()     # a key's effect shows at once, before any picture; the
        if previous is None and self._ready:
            # The first pictures, all at once: the empty panes fill together, and the start's
            # layout work does not count against the redraw budget.
            self._cpu_mark = time.thread_time()
            self.draw(force=True)
            return
        self.draw()                 # step count moves with the panes (at most ten times a second)

    def narrate(self, step: int, variant: str | None, text: str, changes: str, hold: bool) -> None:
        """A scripted event fired: the lesson pane keeps it, the narration bar shows it (one at
        a time, under the panes, so it never covers the pane it talks about), and a line about
        one run selects that run in the per-run panes."""
        line = text or changes
        if not line:
            return
        who = f"{variant}: " if variant else ""
        self.panes["lesson"].narrate(step, who + line)
        if text:
            bar = Text.assemble((f" step {step} ", "bold reverse"), " ", who + text)
            if hold:
                bar.append("  (space to go on)", style="dim")
            self.narration.update(bar)
            self.narration.display = True
        if variant is not None and self.frame is not None and variant in self.frame.names:
            self._set_view(variant=self.frame.names.index(variant))
        pane = pane_mentioned(text)
        # A lesson at full speed can narrate before the first layout: the tab comes up then.
        if pane is not None and not self._tab_chosen and (
                not self._ready or (self._tabbed and self.is_current)):
            self._tab_by_narration = f"tab-{pane}"    # one pane at a time: the one it talks about
            self._show_narrated_tab()

    @property
    def _tabbed(self) -> bool:
        return self.has_class("-narrow") or self.has_class("-short")

    def _show_narrated_tab(self) -> None:
        if self._ready and self._tabbed:
            self.tabs.active = self._tab_by_narration

    @property
    def watched(self) -> int | None:
        """The run whose units the network pane shows, or None while it is not on screen."""
        if self.frame is None or not self.panes["network"].display:
            return None
        return self.panes["network"].selected(self.frame, self.view)

    @property
    def landscape_watched(self) -> tuple[int, tuple[int, int]] | None:
        """The landscape pane's run and grid, or None while it is not on screen (the worker
        measures the landscape only then)."""
        pane = self.panes["landscape"]
        shape = pane.grid_shape() if self.frame is not None and pane.display else None
        return None if shape is None else (pane.selected(self.frame, self.view), shape)

    @property
    def up_to_date(self) -> bool:
        """Every visible pane shows the latest frame, drawn at the size it has now (tests and
        screenshots wait for it; a pane resized by a narration bar arriving is not yet)."""
        return self.frame is not None and not any(
            pane in self._stale or self._drawn.get(pane, (None, None))[1] != widget.drawn_size
            or not widget.measured(self.frame)
            for pane, widget in self.panes.items() if widget.display)

    # ------------------------------------------------------------------ drawing

    def draw(self, force: bool = False) -> None:
        """Bring the screen up to date with ``self.frame``.

        The status line is brought up to date at each call (and at once by ``show_frame``
        when a key changed what it says). Panes are redrawn one per call, the one stale the longest first (one whose ``fingerprint`` has not changed is
        skipped, not drawn), so the event loop is never held by more than one picture and a
        key press waits for at most one. Calls are at least ``REDRAW_SECONDS`` apart, or
        further when the UI thread worked long since the last one (a big picture, the layout
        and compositing it caused, the status line): the UI thread stays within ``UI_SHARE``
        of a core, so a paced run idles and an unpaced one leaves the GIL to training. A
        costly pane is thereby drawn less often than a cheap one. ``force`` (the user changed
        the view or the tab) redraws every visible pane at once.
        """
        if self.frame is None or not self._ready:
            return
        if not (self._stale or force):
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self._draw_interval:
            return
        self._last_draw = now
        cpu = time.thread_time()        # this is the UI thread: what it spent since the last call
        cost, self._cpu_mark = cpu - self._cpu_mark, cpu
        self._draw_interval = max(REDRAW_SECONDS, min(LONGEST_REDRAW_SECONDS, cost / UI_SHARE))
        visible = [pane for pane in self._rotation if self.panes[pane].display]
        stale = [pane for pane in visible if pane in self._stale or force]
        for pane in stale:
            widget = self.panes[pane]
            self._stale.discard(pane)
            fingerprint = (widget.fingerprint(self.frame, self.view), widget.drawn_size)
            if not force and fingerprint[0] is not None and fingerprint == self._drawn.get(pane):
                continue            # its picture would be the same: not drawn, not counted
            widget.show(self.frame, self.view)
            self._drawn[pane] = fingerprint
            self._rotation.remove(pane)
            self._rotation.append(pane)
            if not force:
                break
        self._show_status()

    def _show_status(self) -> None:
        if self.frame.state != "starting":     # while starting, the app shows a spinner
            self.status.show(self.frame, self.view, self.scenario_name)

    def _set_view(self, **changes) -> None:
        self.view = dataclasses.replace(self.view, **changes)
        self.draw(force=True)

    # ------------------------------------------------------------------ view actions

    def action_log_scale(self) -> None:
        self._set_view(log_scale=not self.view.log_scale)

    def action_smooth(self) -> None:
        self._set_view(smooth=not self.view.smooth)

    def action_x_axis(self) -> None:
        axes = LossPane.X_AXES
        self._set_view(x_axis=axes[(axes.index(self.view.x_axis) + 1) % len(axes)])

    def action_next_variant(self) -> None:
        runs = len(self.frame.snapshots) if self.frame is not None else 1
        self._set_view(variant=(self.view.variant + 1) % runs)

    def action_layer(self, delta: int) -> None:
        self._set_view(layer=self.view.layer + delta)

    def action_show_test(self) -> None:
        self._set_view(show_test=not self.view.show_test)

    def action_discretize(self) -> None:
        self._set_view(discretize=not self.view.discretize)

    def action_more_keys(self) -> None:
        from .screens import dashboard_bindings

        if not self.more_keys.display:
            self.more_keys.update(more_keys(dashboard_bindings(self.app), self.has_class("-narrow"),
                                            self.size.width - 2))
        self.more_keys.display = not self.more_keys.display

    def action_show_pane(self, pane: str) -> None:
        self._tab_chosen = True
        self.tabs.active = f"tab-{pane}"
        self._focus_pane(pane)          # chosen again: no tab event, the keys come back

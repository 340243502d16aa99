"""Lesson: the scenario's title and text, the narration of its events, its expectations live."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...core.scenario import Scenario
from ..worker import Progress
from . import View

ICONS = {True: ("✓", "bold green"), False: ("✗", "bold red"), None: ("…", "yellow")}
MAX_NARRATION = 50      # lines kept; older ones scroll away


class LessonPane(VerticalScroll):
    """Reads like a page: what the lesson is, what just happened, and whether it held."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scenario: Scenario | None = None
        self.narration: list[tuple[int, str]] = []

    def compose(self) -> ComposeResult:
        yield Static(id="lesson-title")
        yield Static(id="lesson-text")
        yield Static(id="lesson-narration")
        yield Static(id="lesson-expectations")

    def on_mount(self) -> None:
        self.border_title = "Lesson"

    def set_scenario(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.narration = []
        title = Text(scenario.title, style="bold")
        if scenario.summary:
            title.append("\n" + scenario.summary, style="italic")
        self.query_one("#lesson-title", Static).update(title)
        self.query_one("#lesson-text", Static).update(Text(scenario.lesson))
        self.query_one("#lesson-narration", Static).update("")
        self.query_one("#lesson-expectations", Static).update("")

    def narrate(self, step: int, text: str) -> None:
        self.narration = (self.narration + [(step, text)])[-MAX_NARRATION:]
        out = Text("What happened", style="bold underline")
        for at, line in self.narration:
            out.append(f"\nstep {at}  ", style="dim")
            out.append(line)
        self.query_one("#lesson-narration", Static).update(out)

    def restart(self) -> None:
        """After a reset the script plays again from the start."""
        self.narration = []
        self.query_one("#lesson-narration", Static).update("")

    def show(self, progress: Progress, view: View) -> None:
        if self.scenario is None or not self.scenario.expectations:
            return
        outcomes = {o.name: o for o in progress.outcomes}
        out = Text("Expectations", style="bold underline")
        for expectation in self.scenario.expectations:
            try:
                result = expectation.check(outcomes)
            except KeyError:        # a run it reads is not part of this session
                continue
            icon, style = ICONS[result.passed]
            out.append(f"\n{icon} ", style=style)
            out.append(f"{result.kind}: ", style="bold")
            out.append(result.message)
            if result.because:
                out.append(f"\n  {result.because}", style="dim italic")
        self.query_one("#lesson-expectations", Static).update(out)

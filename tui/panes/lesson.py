"""Lesson: the scenario's title and text, the narration of its events, its expectations live."""

from __future__ import annotations

import dataclasses

from rich.markdown import Markdown
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
        # What changes while training first, so it shows without scrolling; the text below.
        yield Static(id="lesson-title")
        yield Static(id="lesson-expectations")
        yield Static(id="lesson-narration")
        yield Static(id="lesson-text")

    def on_mount(self) -> None:
        self.border_title = "Lesson"

    def set_scenario(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.narration = []
        title = Text.assemble((scenario.title, "bold"))
        if scenario.summary:
            title.append("\n" + scenario.summary, style="italic")
        self.query_one("#lesson-title", Static).update(title)
        self.query_one("#lesson-text", Static).update(Markdown(scenario.lesson))
        self.query_one("#lesson-narration", Static).update("")
        self._write_expectations([(None, e.kind, _describe(e), e.because) for e in scenario.expectations])

    def narrate(self, step: int, text: str) -> None:
        self.narration = (self.narration + [(step, text)])[-MAX_NARRATION:]
        out = Text.assemble(("What happened", "bold underline"))
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
        results = [expectation.check(outcomes) for expectation in self.scenario.expectations]
        self._write_expectations([(r.passed, r.kind, r.message, r.because) for r in results])

    def _write_expectations(self, rows: list[tuple[bool | None, str, str, str]]) -> None:
        """``rows``: (passed or None while undecided, kind, message, because)."""
        out = Text.assemble(("Expectations", "bold underline")) if rows else Text()
        for passed, kind, message, because in rows:
            icon, style = ICONS[passed]
            out.append(f"\n{icon} ", style=style)
            out.append(f"{kind}: ", style="bold")
            out.append(message)
            if because:
                out.append(f"\n  {because}", style="dim italic")
        self.query_one("#lesson-expectations", Static).update(out)


def _describe(expectation) -> str:
    """What an expectation asks, before there is anything to check it against."""
    values = [f"{f.name} {getattr(expectation, f.name)}" for f in dataclasses.fields(expectation)
              if f.name != "because" and getattr(expectation, f.name) not in ("", 0, None)]
    return ", ".join(values) + " (not checked yet)"

"""Lesson: the scenario's title and text, the narration of its events, its expectations live.

Once the learner changes what runs, the runs are their experiment, not the lesson: the page
says so first (what changed, and the key back), and the lesson's checks stay on the page as
what the lesson claims for its own setup, judged no more.
"""

from __future__ import annotations

import dataclasses
import re

from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...core.expectations import COMMON_KEYS
from ...core.scenario import BASE_RUN, Scenario
from ..frame import Frame
from .base import Pane, View

ICONS = {True: ("✓", "bold green"), False: ("✗", "bold red"), None: ("○", "yellow")}
CLAIM = ("·", "dim")        # a check of the lesson, shown while the runs are not the lesson's
NOT_JUDGED = ("Not judged on your runs: the lesson measured these on its own setup, "
              "and you changed it.")
SEEN = {True: "seen: ", False: "missed: ", None: ""}     # a message still open ends "so far"
MAX_NARRATION = 50      # lines kept; older ones scroll away


class LessonPane(Pane):
    """Reads like a page: what the lesson is, what just happened, and whether it held."""

    ID, TITLE = "lesson", "Lesson"
    HELP = "what the lesson is about, what the script said, and its expectations live"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scenario: Scenario | None = None
        self.narration: list[tuple[int, str]] = []
        # Made here so the app can write to them before the pane is mounted.
        self.experiment_text = Static(id="lesson-experiment")
        self.experiment_text.display = False
        self.title_text = Static(id="lesson-title")
        self.expectations = Static(id="lesson-expectations")
        self.cleaning = Static(id="lesson-cleaning")
        self.cleaning.display = False
        self.narration_text = Static(id="lesson-narration")
        self.lesson_text = Static(id="lesson-text")

    def compose(self) -> ComposeResult:
        # What changes while training first, so it shows without scrolling; the text below.
        with VerticalScroll(id="lesson-page"):
            yield self.experiment_text
            yield self.title_text
            yield self.expectations
            yield self.cleaning
            yield self.narration_text
            yield self.lesson_text

    def on_mount(self) -> None:     # (Textual calls Pane.on_mount too)
        # Written again now that the texts are laid out: a narration at step 0 can come before.
        if self.scenario is not None:
            self.call_after_refresh(self._write_page)

    def set_scenario(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.narration = []
        self._write_page()

    def narrate(self, step: int, text: str) -> None:
        self.narration = (self.narration + [(step, text)])[-MAX_NARRATION:]
        self._write_narration()

    def _write_page(self) -> None:
        scenario = self.scenario
        title = Text.assemble((scenario.title, "bold"))
        if scenario.summary:
            title.append("\n" + scenario.summary, style="italic")
        self.title_text.update(title)
        self.lesson_text.update(Markdown(scenario.lesson))
        self._write_narration()
        self._write_expectations(self._unmeasured())

    def _write_narration(self) -> None:
        out = Text.assemble(("What happened", "bold underline")) if self.narration else Text()
        for at, line in self.narration:
            out.append(f"\nstep {at}  ", style="dim")
            out.append(line)
        self.narration_text.update(out)

    def restart(self) -> None:
        """After a reset the script plays again from the start."""
        self.narration = []
        self._write_narration()

    def fingerprint(self, frame: Frame, view: View):
        experiment = frame.experiment
        changes = experiment.changes if experiment is not None else ()
        return frame.results, frame.cleaning, changes

    def show(self, frame: Frame, view: View) -> None:
        experiment = frame.experiment
        yours = experiment is not None and not experiment.is_lesson
        self._write_experiment(experiment if yours else None)
        if yours:
            self._write_claims()
        elif frame.results:
            self._write_expectations([(r.passed, plain_words(r.message), r.because)
                                      for r in frame.results])
        else:           # back to the lesson, before its first check
            self._write_expectations(self._unmeasured())
        self._write_cleaning(frame)

    def _write_experiment(self, experiment) -> None:
        """At the top of the page: what the learner changed, and the way back."""
        self.experiment_text.display = experiment is not None
        if experiment is None:
            return
        out = Text.assemble(("Your experiment", "bold reverse"), " changed from this lesson:\n")
        out.append(experiment.describe())
        out.append("\nb", style="bold")
        out.append(": back to the lesson as it loaded   ")
        out.append("w", style="bold")
        out.append(": write your experiment to a file")
        # The title, summary and text below describe the lesson's runs ("a small tanh network
        # learns the two-arm spiral"), not these.
        out.append("\nBelow, the lesson as written: its words describe its own setup, not your "
                   "runs.", style="italic")
        self.experiment_text.update(out)

    def _write_claims(self) -> None:
        """The lesson's checks as what it claims for its own setup, none ticked or crossed."""
        expectations = self.scenario.expectations if self.scenario else ()
        if not expectations:
            self.expectations.update(Text())
            return
        out = Text.assemble(("What the lesson claims, for its own setup", "bold underline"))
        for expectation in expectations:
            icon, style = CLAIM
            out.append(f"\n{icon} ", style=style)
            out.append(expectation.because or _describe(expectation).removesuffix(" (not measured yet)"),
                       style="dim")
        out.append("\n" + NOT_JUDGED, style="italic")
        self.expectations.update(out)

    def _unmeasured(self) -> list[tuple[None, str, str]]:
        """Before the first check: what to watch for, without a line of figures not yet measured."""
        return [(None, "" if e.because else _describe(e), e.because)
                for e in self.scenario.expectations]

    def _write_cleaning(self, frame: Frame) -> None:
        """Each run's cleaning report: what the data's rules found, and what was dropped or repaired."""
        reports = [(name, report) for name, report in zip(frame.names, frame.cleaning) if report]
        out = Text.assemble(("Cleaning report", "bold underline")) if reports else Text()
        for name, report in reports:
            out.append(f"\n{name}: ", style="bold")
            out.append(report.summary())
        self.cleaning.update(out)
        self.cleaning.display = bool(reports)       # no empty line for data without cleaning rules

    def _write_expectations(self, rows: list[tuple[bool | None, str, str]]) -> None:
        """``rows``: (passed or None while undecided, message, because).

        Read as a lesson, not a test report: what to watch for (the expectation's ``because``),
        ticked once it has happened, with what was measured under it in small print."""
        out = Text.assemble(("What to watch for", "bold underline")) if rows else Text()
        for passed, message, because in rows:
            icon, style = ICONS[passed]
            out.append(f"\n{icon} ", style=style)
            if because:
                out.append(because)
                if message:
                    out.append(f"\n  {SEEN[passed]}{message}", style="dim")
            else:
                out.append(message)
        self.expectations.update(out)


# The metrics' names in a check's line (``nnsim check`` prints them as they are), in words.
WORDS = {"train_loss": "training loss", "val_loss": "validation loss", "test_loss": "test loss",
         "train_acc": "training accuracy", "val_acc": "validation accuracy",
         "test_acc": "test accuracy", "fresh_loss": "fresh-sample loss",
         "fresh_acc": "fresh-sample accuracy", BASE_RUN: "the network"}
_WORD = re.compile(r"\b(" + "|".join(WORDS) + r")\b")


def plain_words(message: str) -> str:
    """A check's line as the lesson pane reads it: "the network has not reached validation
    accuracy 0.9 yet", not "base has not reached val_acc 0.9 yet"."""
    return _WORD.sub(lambda match: WORDS[match.group(1)], message)


def _describe(expectation) -> str:
    """What an expectation asks, before there is anything to check it against."""
    values = [f"{f.name.replace('_', ' ')} {getattr(expectation, f.name)}"
              for f in dataclasses.fields(expectation)
              if f.name not in COMMON_KEYS and getattr(expectation, f.name) not in ("", 0, None)]
    return f"{expectation.kind}: " + ", ".join(values) + " (not measured yet)"

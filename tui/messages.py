"""Messages from the training thread to the app: small, posted without waiting.

Each carries the trainer that sent it, so the app ignores messages from a trainer it has
already replaced (after switching lessons).
"""

from __future__ import annotations

from textual.message import Message


class TrainerMessage(Message):
    trainer: object = None


class FrameReady(TrainerMessage):
    """A new ``Frame`` is waiting in ``Trainer.take()`` (the frame itself is never queued)."""


class Narration(TrainerMessage):
    """A scripted event fired; ``text`` is its line (may be empty) and ``changes`` its settings."""

    def __init__(self, step: int, variant: str | None, text: str, changes: str, hold: bool) -> None:
        super().__init__()
        self.step = step
        self.variant = variant
        self.text = text
        self.changes = changes
        self.hold = hold


class Notice(TrainerMessage):
    """Something to tell the user (a refused setting, a run that cannot go on)."""

    def __init__(self, text: str, severity: str = "information") -> None:
        super().__init__()
        self.text = text
        self.severity = severity


class TraceReady(TrainerMessage):
    """The step-through's trace: the selected run's next step phase by phase (an immutable
    ``StepTrace``), or ``None`` and ``reason`` when that run has no step to take."""

    def __init__(self, trace, reason: str = "", line=None) -> None:
        super().__init__()
        self.trace = trace
        self.reason = reason
        self.line = line        # the loss along the traced step (a ``StepLine``), or None


class RateFound(TrainerMessage):
    """The learning-rate range test's result (an immutable ``RangeTest``), or ``None`` and
    ``reason`` when it could not run."""

    def __init__(self, test, reason: str = "") -> None:
        super().__init__()
        self.test = test
        self.reason = reason

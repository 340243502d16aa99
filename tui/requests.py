"""What the dashboard asks of its training thread: one small immutable request per kind.

The app, the step-through and the palette put these on the trainer's queue (``Trainer.send``);
the trainer has one handler for each (``Trainer.handle``). Nothing else crosses to the thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Request:
    """One request from the UI to the training thread."""


@dataclass(frozen=True)
class TogglePause(Request):
    pass


@dataclass(frozen=True)
class Resume(Request):
    """Play on (after a narration held the play, or a pause)."""


@dataclass(frozen=True)
class Step(Request):
    """Pause, then take ``steps`` steps by hand."""

    steps: int = 1


@dataclass(frozen=True)
class ScalePace(Request):
    factor: float


@dataclass(frozen=True)
class ToggleFullSpeed(Request):
    pass


@dataclass(frozen=True)
class ScaleSetting(Request):
    """A live setting times ``factor`` in every run (the rate's ``+`` and ``-``)."""

    key: str
    factor: float


@dataclass(frozen=True)
class ToggleDropout(Request):
    pass


@dataclass(frozen=True)
class NextOptimizer(Request):
    pass


@dataclass(frozen=True)
class Configure(Request):
    """The controls' change: ``(dotted key, value)`` pairs, applied together."""

    changes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class ConfigureRun(Request):
    """Live settings of run ``run`` alone: ``(dotted key, value)`` pairs (the range test's rate)."""

    run: int
    changes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Reset(Request):
    """Every run from step 0, the learner's settings kept (``r``)."""


@dataclass(frozen=True)
class RestoreSettings(Request):
    """As ``Reset``, with the live changes undone too (``R``)."""


@dataclass(frozen=True)
class BackToLesson(Request):
    """The lesson exactly as it loaded, from step 0 (``b``)."""


@dataclass(frozen=True)
class Trace(Request):
    """Pause, and trace run ``run``'s next step for the step-through."""

    run: int


@dataclass(frozen=True)
class TakeTraced(Request):
    """Take the step the step-through traced, if the run is still where it was traced."""


@dataclass(frozen=True)
class Watch(Request):
    """The run whose units the network pane shows (None: the pane is not on screen)."""

    run: int | None


@dataclass(frozen=True)
class ShowLandscape(Request):
    """The landscape pane's run and grid (rows, cols) while it is on screen; None: it is not."""

    view: tuple[int, tuple[int, int]] | None


@dataclass(frozen=True)
class FindRate(Request):
    """The learning-rate range test on a copy of run ``run``'s weights (the run untouched)."""

    run: int

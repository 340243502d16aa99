"""When steps run, never which: chunk sizes for a steady flow of snapshots, and the pace a
learner watches at. Plain Python, free of Numba, so the dashboard can make its clocks before
the kernels load."""

from __future__ import annotations

import math

CHUNK_SECONDS = 0.04        # aim for a chunk of about this much work: fresh snapshots ~25 times a second
MAX_CHUNK = 1_000_000


class ChunkClock:
    """Sizes chunks to about ``seconds`` of work each, from how long the last one took."""

    def __init__(self, seconds: float = CHUNK_SECONDS, first: int = 10) -> None:
        self.seconds = seconds
        self.steps = first

    def observe(self, steps: int, elapsed: float) -> None:
        if steps <= 0:
            return
        scale = min(4.0, max(0.25, self.seconds / max(elapsed, 1e-6)))
        self.steps = max(1, min(MAX_CHUNK, int(round(steps * scale))))


class Pace:
    """How many steps are due by now, at ``steps_per_second`` (``None``: as fast as they go).

    Steps are owed from the moment the pace was set or training resumed; a machine that cannot
    keep up is forgiven its debt beyond ``MAX_DEBT_SECONDS`` instead of racing to repay it.
    """

    MAX_DEBT_SECONDS = 1.0

    def __init__(self, steps_per_second: float | None = None) -> None:
        self.steps_per_second = steps_per_second
        self._origin = 0.0
        self._taken = 0

    def restart(self, now: float) -> None:
        """Count from ``now`` (after a pause, a reset or a change of pace)."""
        self._origin, self._taken = now, 0

    def set(self, steps_per_second: float | None, now: float) -> None:
        self.steps_per_second = steps_per_second
        self.restart(now)

    def due(self, now: float) -> int | None:
        """Steps owed at ``now``; ``None`` when unpaced."""
        if self.steps_per_second is None:
            return None
        owed = math.floor((now - self._origin) * self.steps_per_second) - self._taken
        limit = max(1, math.ceil(self.MAX_DEBT_SECONDS * self.steps_per_second))
        if owed > limit:
            self._taken += owed - limit
            owed = limit
        return owed

    def took(self, steps: int) -> None:
        self._taken += steps

    def wait(self, now: float, steps: int = 1) -> float:
        """Seconds from ``now`` until ``steps`` more steps are due (0 when unpaced)."""
        if self.steps_per_second is None:
            return 0.0
        at = self._origin + (self._taken + steps) / self.steps_per_second
        return max(0.0, at - now)


SLOWEST_PACE = 1.0          # steps per second
FRAMES_PER_SECOND = 10      # at a pace, steps are taken in batches of one frame's worth
                            # (the panes redraw at most this often)
FASTEST_PACE = 1e6          # beyond this the pace is "as fast as the kernels go"


class Playback:
    """Whether steps are taken now, and at what pace: the dashboard's play, pause, one step,
    slower, faster and full speed, with the stops it makes by itself (at ``stop_at``, once; after
    a line of narration when ``hold_on_narration``, as ``--replay`` does).

    Every method takes the time it is called at, so the rules are tested without a clock.
    """

    def __init__(self, steps_per_second: float | None = None, *, paused: bool = False,
                 stop_at: int | None = None, hold_on_narration: bool = False) -> None:
        self.pace = Pace(steps_per_second)
        self.paused = paused
        self.reason = ""                # why it paused by itself ("narration"), if it did
        self.stop_at = stop_at
        self.hold_on_narration = hold_on_narration
        self._full_speed_from: float | None = None     # the pace full speed returns to

    def toggle(self, now: float) -> None:
        self._set_paused(not self.paused, now)

    def resume(self, now: float) -> None:
        self._set_paused(False, now)

    def pause(self, now: float) -> None:
        self._set_paused(True, now)

    def _set_paused(self, paused: bool, now: float) -> None:
        self.paused = paused
        self.reason = ""
        self.pace.restart(now)      # a pause owes no steps

    def frame_steps(self) -> int:
        """Steps per frame at the current pace: one batch each frame, however slow the pace
        (at full speed the chunk clock decides instead)."""
        pace = self.pace.steps_per_second
        return 1 if pace is None else max(1, math.ceil(pace / FRAMES_PER_SECOND))

    def narrated(self) -> bool:
        """A line of narration was said: whether it holds the play there."""
        if self.hold_on_narration:
            self.paused, self.reason = True, "narration"
        return self.hold_on_narration

    def reached(self, steps: list[int]) -> None:
        """The active runs are at ``steps``: pause once every one reaches ``stop_at`` (the play
        goes on from there when resumed)."""
        if self.stop_at is not None and steps and all(step >= self.stop_at for step in steps):
            self.stop_at = None
            self.paused, self.reason = True, ""

    def scale(self, factor: float, now: float, measured: float = 0.0) -> None:
        """The pace times ``factor``, between ``SLOWEST_PACE`` and full speed; from full speed,
        from the ``measured`` steps per second."""
        current = self.pace.steps_per_second
        if current is None:
            current = max(SLOWEST_PACE, measured or FASTEST_PACE)
        wanted = current * factor
        self.pace.set(None if wanted > FASTEST_PACE else max(SLOWEST_PACE, wanted), now)
        self._full_speed_from = None

    def toggle_full_speed(self, now: float) -> None:
        """Full speed, and back to the pace it left."""
        if self.pace.steps_per_second is None and self._full_speed_from is not None:
            self.pace.set(self._full_speed_from, now)
            self._full_speed_from = None
        elif self.pace.steps_per_second is not None:
            self._full_speed_from = self.pace.steps_per_second
            self.pace.set(None, now)

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

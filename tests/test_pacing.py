"""``Pace`` and ``ChunkClock`` against what they promise, on a clock the test holds (no sleeping,
no wall time): at a pace of p steps a second, k steps are due k/p seconds after the pace starts,
``wait`` is the time until the next ones are due, a player that takes what is due keeps p
steps a second, and a stall is forgiven beyond a second's worth. Paces from a step every two
seconds to a hundred thousand a second, at times drawn from seeded generators.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from nnsim.core.pacing import ChunkClock, Pace

PACES = [0.5, 1.0, 3.0, 7.5, 10.0, 60.0, 100.0, 1234.5, 1e5]
START = 1000.0          # a monotonic clock starts anywhere


def debt_limit(rate: float) -> int:
    """The most steps a pace owes at once: a second's worth, at least one."""
    return max(1, math.ceil(Pace.MAX_DEBT_SECONDS * rate))


# A frame is never more steps than the pace may owe (the worker's: a tenth of a second's).
FRAMES = [(rate, steps) for rate in PACES for steps in (1, 4, 10) if steps <= debt_limit(rate)]


def started(steps_per_second: float) -> Pace:
    pace = Pace(steps_per_second)
    pace.restart(START)
    return pace


def due_at(pace: Pace, now: float) -> int:
    """Steps due at ``now``, asked of a copy (asking may forgive a debt)."""
    return copy.copy(pace).due(now)


@pytest.mark.parametrize("rate", PACES)
def test_k_steps_are_due_k_over_the_pace_seconds_after_it_starts(rate):
    pace = started(rate)
    limit = debt_limit(rate)
    for k in sorted({k for k in (1, 2, 3, limit // 2, limit) if 1 <= k <= limit}):
        at = START + k / rate
        assert pace.wait(START, k) == pytest.approx(k / rate, rel=1e-9)
        assert due_at(pace, at + 1e-9 * at) >= k
        assert due_at(pace, at - 1e-6 / rate) == k - 1


@pytest.mark.parametrize("rate, frame_steps", FRAMES)
def test_a_player_taking_a_frame_of_steps_when_due_keeps_the_pace(rate, frame_steps):
    """The dashboard's loop, on a virtual clock: sleep ``wait`` until a frame's steps are due,
    take them, again. Frames come every frame_steps / rate seconds, and the steps taken by any
    moment are the moment × the pace, never more, fewer only by the frame not yet due."""
    pace = started(rate)
    now, taken, frames = START, 0, []
    for _ in range(10_000):             # a bound on the loop, not on time: 50 frames need ~100 turns
        if len(frames) == 50:
            break
        due = pace.due(now)
        if due < frame_steps:
            now += max(pace.wait(now, frame_steps - due), 1e-12 * now)
            continue
        pace.took(frame_steps)
        taken += frame_steps
        frames.append(now)
        assert taken <= (now - START) * rate * (1 + 1e-9) + 1e-9
        assert taken > (now - START) * rate - frame_steps
    assert len(frames) == 50
    np.testing.assert_allclose(np.diff(frames), frame_steps / rate, rtol=1e-3)   # the clock's grain
    assert (frames[-1] - frames[0]) / 49 == pytest.approx(frame_steps / rate, rel=1e-6)


@pytest.mark.parametrize("rate", PACES)
def test_steps_taken_as_they_fall_due_follow_the_clock(rate):
    """Asked at irregular moments (never a second apart, so nothing is forgiven), a player that
    takes everything due has taken, at each moment, the whole steps elapsed × pace."""
    pace = started(rate)
    gaps = np.random.default_rng(int(rate * 10)).uniform(0.0, 0.9 * Pace.MAX_DEBT_SECONDS, 200)
    taken = 0
    for now in START + np.cumsum(gaps):
        due = pace.due(now)
        assert due >= 0
        pace.took(due)
        taken += due
        owed = (now - START) * rate
        assert owed - 1 < taken <= owed + 1e-6


@pytest.mark.parametrize("rate", PACES)
def test_a_stall_is_forgiven_beyond_a_seconds_worth_and_the_pace_goes_on_from_there(rate):
    pace = started(rate)
    limit = debt_limit(rate)
    pace.took(pace.due(START + 0.9 * Pace.MAX_DEBT_SECONDS))     # playing along, then a stall
    stalled_until = START + 10.0 + 5.0 * Pace.MAX_DEBT_SECONDS
    assert pace.due(stalled_until) == limit         # a second's worth, not the whole stall's
    pace.took(limit)
    assert pace.due(stalled_until) == 0
    # The next step within a step's time, and on from there at the pace.
    assert 0.0 < pace.wait(stalled_until) <= 1.0 / rate * (1 + 1e-9)
    assert pace.wait(stalled_until, 2) - pace.wait(stalled_until) == pytest.approx(1.0 / rate, rel=1e-6)


@pytest.mark.parametrize("rate", PACES)
def test_a_restart_owes_nothing_and_a_new_pace_counts_from_when_it_was_set(rate):
    pace = started(rate)
    pace.took(pace.due(START + 0.5))
    pace.restart(START + 0.7)                       # after a pause: no steps owed for it
    assert due_at(pace, START + 0.7) == 0
    assert pace.wait(START + 0.7, 3) == pytest.approx(3 / rate, rel=1e-9)
    pace.set(2 * rate, START + 2.0)
    assert pace.wait(START + 2.0, 3) == pytest.approx(3 / (2 * rate), rel=1e-9)


def test_unpaced_owes_nothing_and_never_waits():
    pace = Pace(None)
    pace.restart(START)
    assert pace.due(START + 5.0) is None and pace.wait(START + 5.0, 100) == 0.0


@pytest.mark.parametrize("speed", [5.0, 30.0, 2_000.0, 5e5, 3e7])
def test_the_chunk_clock_settles_on_its_share_of_a_steady_machines_time(speed):
    """On a machine that takes ``speed`` steps a second, chunks settle at about ``seconds`` of
    work; each correction is at most 4× either way."""
    clock = ChunkClock(seconds=0.04, first=10)
    target = min(0.04 * speed, 1_000_000)
    for _ in range(30):
        before = clock.steps
        clock.observe(before, before / speed)
        assert before / 4 - 1 <= clock.steps <= 4 * before + 1
    assert clock.steps == pytest.approx(max(1.0, target), rel=0.05, abs=1)
    if target < 1:
        assert clock.steps == 1                     # a slow machine: a step at a time


def test_a_chunk_of_one_step_is_observed_too():
    clock = ChunkClock(seconds=0.04, first=1)
    clock.observe(1, 1e-4)                          # far quicker than its share: grow, 4x at most
    assert clock.steps == 4


def test_a_round_of_no_steps_leaves_the_chunk_size_alone():
    """A round that took no step (every run at a stop, an event, the end) says nothing about
    the machine's speed: the next chunk is as long as before, not one step."""
    clock = ChunkClock(seconds=0.04, first=10)
    clock.observe(400, 0.04)
    clock.observe(0, 0.0)
    clock.observe(0, 1.0)
    assert clock.steps == 400


def test_the_default_chunk_keeps_snapshots_fresh_several_times_a_second():
    """Chunks sized for the dashboard's default: on a steady machine a chunk settles at tens
    of milliseconds of work, so the panes get a fresh snapshot 10 to 50 times a second."""
    speed = 20_000.0                # steps a second
    clock = ChunkClock()
    for _ in range(30):
        clock.observe(clock.steps, clock.steps / speed)
    assert 0.02 <= clock.steps / speed <= 0.1

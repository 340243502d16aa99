"""The dashboard's play, pause, pace and stops as the plain state machine they are (``Playback``),
with times given, not measured."""

from __future__ import annotations

from nnsim.core.pacing import FASTEST_PACE, FRAMES_PER_SECOND, SLOWEST_PACE, Playback


def test_pause_and_resume_owe_no_steps_for_the_time_paused():
    playback = Playback(10.0)
    playback.pace.restart(0.0)
    playback.toggle(now=1.0)
    assert playback.paused
    playback.toggle(now=100.0)
    assert not playback.paused and playback.pace.due(100.5) == 5


def test_pause_pauses_and_a_pause_owes_nothing():
    playback = Playback(10.0)
    playback.pace.restart(0.0)
    playback.pause(now=5.0)
    assert playback.paused and playback.pace.due(5.0) == 0
    playback.pause(now=6.0)                 # again: still paused
    assert playback.paused


def test_a_frame_holds_a_tenth_of_a_seconds_steps_at_any_pace():
    """At 10 frames a second a paced run takes its steps in frames of pace/10 (at least one),
    so the panes move ten times a second, never in bursts longer than a frame."""
    for pace, steps in ((1.0, 1), (10.0, 1), (25.0, 3), (100.0, 10), (1e5, 10_000)):
        assert Playback(pace).frame_steps() == steps == max(1, -(-pace // FRAMES_PER_SECOND))


def test_it_stops_once_where_asked_and_goes_on_when_resumed():
    playback = Playback(None, stop_at=50)
    playback.reached([40, 50])
    assert not playback.paused              # one run is not there yet
    playback.reached([50, 52])
    assert playback.paused and playback.stop_at is None
    playback.resume(now=0.0)
    playback.reached([60, 60])
    assert not playback.paused


def test_narration_holds_the_play_only_in_replay():
    assert not Playback(10.0).narrated()
    replay = Playback(10.0, hold_on_narration=True)
    assert replay.narrated() and replay.paused and replay.reason == "narration"
    replay.resume(now=0.0)
    assert not replay.paused and replay.reason == ""


def test_slower_and_faster_scale_the_pace_within_its_bounds():
    playback = Playback(8.0)
    playback.scale(0.5, now=0.0)
    assert playback.pace.steps_per_second == 4.0
    for _ in range(5):
        playback.scale(0.5, now=0.0)
    assert playback.pace.steps_per_second == SLOWEST_PACE
    playback = Playback(FASTEST_PACE / 2)
    playback.scale(4.0, now=0.0)
    assert playback.pace.steps_per_second is None       # past the fastest pace: full speed


def test_from_full_speed_slower_starts_from_the_measured_speed():
    playback = Playback(None)
    playback.scale(0.5, now=0.0, measured=3000.0)
    assert playback.pace.steps_per_second == 1500.0


def test_full_speed_returns_to_the_pace_it_left():
    playback = Playback(25.0)
    playback.toggle_full_speed(now=0.0)
    assert playback.pace.steps_per_second is None
    playback.toggle_full_speed(now=1.0)
    assert playback.pace.steps_per_second == 25.0
    playback.toggle_full_speed(now=2.0)
    playback.scale(0.5, now=3.0, measured=1000.0)       # a new pace forgets the one left
    playback.toggle_full_speed(now=4.0)
    assert playback.pace.steps_per_second is None


def test_a_playback_that_has_not_paused_by_itself_gives_no_reason():
    """The status line shows the reason a play paused by itself (a line of narration) in place
    of its own detail: a dashboard that starts paused, or is paused by a key, has none."""
    assert Playback(10.0).reason == "" and Playback(None, paused=True).reason == ""
    playback = Playback(10.0, stop_at=5)
    playback.reached([5])
    assert playback.paused and playback.reason == ""


def test_full_speed_without_a_pace_to_return_to_stays_full_speed():
    """`f` on a dashboard that started at full speed has no pace to go back to."""
    playback = Playback(None)
    playback.toggle_full_speed(now=0.0)
    assert playback.pace.steps_per_second is None
    assert playback.pace.due(1.0) is None and playback.pace.wait(1.0) == 0.0


def test_the_slowest_pace_is_a_step_a_second():
    """Slower and slower ends at a step a second, never a step every few seconds."""
    playback = Playback(3.0)
    for _ in range(10):
        playback.scale(0.5, now=0.0)
    assert playback.pace.steps_per_second == 1.0


def test_slower_from_full_speed_before_any_measurement_starts_from_the_fastest_pace():
    playback = Playback(None)
    playback.scale(0.5, now=0.0)                # nothing measured yet
    assert playback.pace.steps_per_second == FASTEST_PACE / 2


def test_faster_stops_at_the_fastest_pace_before_going_to_full_speed():
    playback = Playback(FASTEST_PACE / 2)
    playback.scale(2.0, now=0.0)
    assert playback.pace.steps_per_second == FASTEST_PACE
    playback.scale(2.0, now=0.0)
    assert playback.pace.steps_per_second is None
    playback.toggle_full_speed(now=1.0)         # reached by `.`, not `f`: no pace to go back to
    assert playback.pace.steps_per_second is None and playback.pace.due(2.0) is None

"""The status line: what the runs are doing right now, in one row."""

from __future__ import annotations

from rich.text import Text

from ..frame import Frame
from .base import Caption, View

STATE_STYLES = {
    "starting": "bold #000000 on #f9ca24",
    "running": "bold #000000 on #2ecc71",
    "paused": "bold #000000 on #ff9f43",
    "finished": "bold #ffffff on #1e6fd9",
    "stopped early": "bold #ffffff on #1e6fd9",
    "diverged": "bold #ffffff on #e74c3c",
}
SHORT_LABEL = 14        # characters: a longer variant label is cut up front, whole at the end
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _lr(value: float) -> str:
    return f"{value:.3g}"


class StatusLine(Caption):
    """State, the shown variant, its step, epoch, speed, learning rate, optimizer and dropout."""

    def __init__(self, *, show_speed: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.show_speed = show_speed

    def starting(self, frame: int, scenario: str, compiling: bool) -> None:
        """Before the first snapshot: loading, or (when that takes long) compiling the kernels."""
        text = Text()
        label = "compiling kernels…" if compiling else "starting…"
        text.append(f" {SPINNER[frame % len(SPINNER)]} {label} ", style=STATE_STYLES["starting"])
        if compiling:       # all of it within 80 columns
            text.append("  (first start only: about 7 s idle)", style="dim")
            text.append(f"  {scenario}", style="dim italic")
        self.show_text(text)

    def failed(self, message: str) -> None:
        text = Text()
        text.append(" error ", style=STATE_STYLES["diverged"])
        text.append(f"  {message}  (s: another lesson, q: quit)")
        self.show_text(text)

    def show(self, frame: Frame, view: View, scenario: str) -> None:
        self.show_text(status_text(frame, view, scenario, show_speed=self.show_speed,
                                   width=self.size.width))


def status_text(frame: Frame, view: View, scenario: str, *, show_speed: bool = True,
                width: int = 0) -> Text:
    """The status line for ``frame``: the state, then the shown run's step, epoch, speed, the
    learning rate its next step takes (schedule and plateau included), optimizer and dropout.
    Within ``width`` columns (0: no limit) whole fields give way, the least needed first (the
    lesson's name, then the epoch, the speed, the dropout, the optimizer): a line cut at the
    edge said "step 7 (ended; others at" and hid the rate and the optimizer."""
    variant = min(view.variant, len(frame.snapshots) - 1)
    snap = frame.snapshots[variant]
    cfg = frame.configs[variant]
    state = frame.state
    label = state if not frame.detail else f"{state}: {frame.detail}"
    if state == "paused" and frame.detail == "narration":
        label = "paused: space to go on"
    state_style = STATE_STYLES.get(state, "bold")
    parts: list[tuple[int, list[tuple[str, str]]]] = [     # (how soon it gives way, its pieces)
        (0, [(f" {label} ", state_style)])]
    several = len(frame.snapshots) > 1
    if several:     # first: the step and epoch that follow are this run's, whatever the width
        run_label = frame.labels[variant]
        short = len(run_label) <= SHORT_LABEL
        # the legend's own words, cut if long (the whole label closes the line)
        parts.append((0, [(f"  {run_label if short else run_label[:SHORT_LABEL - 1] + '…'} ",
                           "bold"), (f"{variant + 1}/{len(frame.snapshots)}", "dim")]))
    step = f"{snap.step:,}"
    if several and frame.step > snap.step and (snap.diverged or snap.stopped_early or snap.finished):
        step += f" (ended; others at {frame.step:,})"   # the narration speaks of theirs
    fields = [(0, "step", step), (5, "epoch", f"{snap.epoch:,}"),
              (4, *_speed(frame, variant, state, show_speed)),
              (1, "lr", _lr(snap.lr)), (2, "", cfg.train.optimizer)]
    if cfg.model.dropout:
        fields.append((3, "dropout", f"{cfg.model.dropout:g}"))
    for order, name, value in fields:
        parts.append((order, [(f"  {name} " if name else "  ", "dim"), (value, "bold")]))
    where = scenario
    if several:
        where += " · v: next run" if short else f" · {run_label} (v: next)"
    parts.append((6, [(f"  {where}", "dim italic")]))
    length = lambda: sum(len(piece) for _, pieces in parts for piece, _ in pieces)  # noqa: E731
    while width and length() > width and max(order for order, _ in parts) > 0:
        latest = max(order for order, _ in parts)
        parts = [part for part in parts if part[0] != latest]
    over = length() - width
    if width and over > 0 and len(label) > over + 8:     # then the state's detail is cut
        parts[0] = (0, [(f" {label[:len(label) - over - 1]}… ", state_style)])
    text = Text()
    for _, pieces in parts:
        for piece, style in pieces:
            text.append(piece, style=style)
    return text


def _speed(frame: Frame, variant: int, state: str, show_speed: bool) -> tuple[str, str]:
    """What the pace achieves while running (when speeds are shown and it has been measured),
    else the pace asked for: steps per second, and epochs per second for those who count epochs."""
    name = "pace" if frame.pace is not None else "full speed"
    if show_speed and state == "running" and frame.steps_per_second > 0:   # measured yet
        rate = frame.steps_per_second
    elif frame.pace is not None:
        rate = frame.pace
    else:
        return name, "–"
    epochs = rate / frame.steps_per_epoch[variant]
    return name, f"{rate:,.0f}/s ({epochs:,.0f} ep/s)" if epochs >= 10 else f"{rate:,.0f}/s ({epochs:.2g} ep/s)"

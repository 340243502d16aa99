"""Loss: train and validation loss of every variant over the steps, with the divergence marked."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.app import ComposeResult

from .. import colors
from ..frame import Frame
from .base import Caption, Pane, View, flow
from .plot import Plot, step_ticks, thin, value_axis
from .run_groups import RunGroup, median_curve, run_groups, spread

SMOOTHING = 0.6     # exponential moving average weight, as TensorBoard's default
MAX_SCORE_ROWS = 3  # runs named in the legend with their numbers; with more, the selected one
PAST_FADE = 0.4     # how far a replaced run's line fades toward the background (older: further)
GROUP_MEMBER_FADE = 0.65    # a grouped run's own line, under its group's median
GROUPED_SUBTITLE = "groups' medians, faint: runs, white: v's"
MAX_GROUP_ROWS = 4  # groups given a legend row each; with more, short entries side by side, so
                    # that ten groups (three-splits' widths) leave the chart its rows at 80x24


def _score(snap, color) -> Text:
    """The numbers a learner looks for, each beside its line: validation loss (solid, bright),
    training loss (dotted, dim) and, for classification, validation accuracy."""
    text = Text()
    for name, value, line, mark in (("val", snap.val_loss, color, " ━━ "),
                                    ("train", snap.train_loss, colors.dim(color), " ┈┈ ")):
        text.append(mark, style=colors.hex_color(line))
        text.append(f"{name} ", style="dim")
        text.append(f"{value:.3g}", style="bold")
    if np.isfinite(snap.val_acc):
        text.append("  val acc ", style="dim")
        text.append(f"{snap.val_acc:.1%}", style="bold")
    return text


def _group_line(group: RunGroup, snaps, color) -> Text:
    """A group in the legend: its line's mark, its name, how many runs, and their validation
    loss now: the median, and the lowest to the highest."""
    text = Text()
    text.append("━━ ", style=colors.hex_color(color))
    text.append(group.name, style=colors.hex_color(color))
    text.append(f"  {len(group.members)} runs", style="dim")
    now = spread([snap.val_loss for snap in snaps])
    if now is not None:
        middle, low, high = now
        text.append(": val median ", style="dim")
        text.append(f"{middle:.3g}", style="bold")
        text.append(f" ({low:.3g} to {high:.3g})", style="dim")
    return text


def _group_entry(group: RunGroup, snaps, color) -> Text:
    """A group in a crowded legend: its line's mark, its name and its median validation loss."""
    text = Text.assemble(("━━ " + group.name, colors.hex_color(color)))
    now = spread([snap.val_loss for snap in snaps])
    if now is not None:
        text.append(f" {now[0]:.3g}", style="bold")
    return text


def group_legend(groups: list[RunGroup], snapshots, width: int) -> Text:
    """The groups' part of the legend, ``width`` columns wide: a row each (median, lowest to
    highest), or, beyond ``MAX_GROUP_ROWS`` groups, their short entries side by side."""
    members = [[snapshots[i] for i in group.members] for group in groups]
    if len(groups) <= MAX_GROUP_ROWS:
        return Text("\n").join(_group_line(group, snaps, colors.variant_color(g))
                                for g, (group, snaps) in enumerate(zip(groups, members)))
    entries = [_group_entry(group, snaps, colors.variant_color(g))
               for g, (group, snaps) in enumerate(zip(groups, members))]
    return flow(entries + [Text("(median val loss now)", style="dim")], width)


def follow_live(live: list, past: list) -> tuple[list, list]:
    """The past runs' series cut to the steps the live runs have reached, and the live ones: the
    axes follow the live runs, so a run just restarted fills the plot rather than a sliver at
    the left of a past run's thousand steps (nothing live yet: the past runs set the axes)."""
    if not live:
        return past, live
    reached = max(float(xs[-1]) for xs, *_ in live)
    cut = []
    for xs, ys, *rest in past:
        keep = xs <= reached
        if keep.any():
            cut.append((xs[keep], ys[keep], *rest))
    return cut, live


def robust_high(values: np.ndarray, low: float) -> float:
    """The top of the value axis: the start of the descent always fits, but a few late spikes
    do not set the range (the 98th percentile of the rest) when they would squash the rest
    into the bottom quarter; what rises above is clipped, and the pane says so."""
    head = max(1, len(values) // 10)
    high = float(max(values[:head].max(), np.percentile(values[head:], 98) if len(values) > head
                     else values.max()))
    top = float(values.max())
    return top if top - low <= 1.25 * (high - low) else high


def dashes(xs: np.ndarray, ys: np.ndarray, dots: int) -> tuple[np.ndarray, np.ndarray]:
    """A dashed line through the points: ``dots`` evenly spaced dots across, every other group
    of three left out, so the training curve reads as a line of another style, not a trail."""
    if len(xs) < 2:
        return xs, ys
    dense_x = np.linspace(xs[0], xs[-1], dots)
    dense_y = np.interp(dense_x, xs, ys)
    keep = (np.arange(dots) // 3) % 2 == 0
    return dense_x[keep], dense_y[keep]


X_AXES = ("steps", "log steps", "epochs")     # `x` cycles them


def x_values(history, peeked_step: int | None, steps_per_epoch: int, axis: str) -> np.ndarray:
    """Where each check (and a step measured by hand) goes on the x axis."""
    steps = np.asarray(history.step, dtype=float)
    if peeked_step is not None:
        steps = np.append(steps, peeked_step)
    if axis == "epochs":
        return steps / steps_per_epoch
    if axis == "log steps":
        return np.log10(steps + 1)
    return steps


def x_ticks(last: float, width: int, axis: str) -> tuple[list[float], list[str]]:
    if axis == "log steps":
        decades = list(range(0, int(np.ceil(last)) + 1))
        return [float(d) for d in decades], [f"{10 ** d:,}" if d < 5 else f"1e{d}" for d in decades]
    ticks, labels = step_ticks(last, width)
    return ticks, labels


def smooth(values: np.ndarray, weight: float = SMOOTHING) -> np.ndarray:
    """Exponential moving average that skips non-finite points instead of spreading them."""
    out = np.empty_like(values)
    last = None
    for i, v in enumerate(values):
        if np.isfinite(v):
            last = v if last is None else weight * last + (1 - weight) * v
        out[i] = last if last is not None else v
    return out


class LossPane(Pane):
    """Every variant's curves overlaid: bright validation, dim train; a red line where one diverged."""

    ID, TITLE = "loss", "Loss"
    X_AXES = X_AXES
    HELP = ("validation (solid, bright) and training (dotted, dim) loss of every variant; a red "
            "line where one diverged; faded: the validation loss of runs a change replaced; "
            "x: over steps, log steps or epochs; from six runs that differ in a few settings "
            "(optimizer-race), a median line per group of runs, each run faint in its "
            "group's colour and the selected one (v) in white")

    def compose(self) -> ComposeResult:
        yield Caption(id="loss-legend", classes="legend")
        yield Plot(id="loss-plot")

    def fingerprint(self, frame: Frame, view: View):
        return self.checks(frame, view), len(frame.past) and frame.past[-1]

    @staticmethod
    def _past_series(frame: Frame, view: View, width: int) -> list:
        """The validation loss of the runs changes replaced, faded, the oldest most."""
        series = []
        for age, past in enumerate(reversed(frame.past)):
            for i, history in enumerate(past.histories):
                values = np.asarray(history.val_loss, dtype=float)
                xs = x_values(history, None, past.steps_per_epoch[i], view.x_axis)
                keep = np.isfinite(values) & ((values > 0) if view.log_scale else True)
                if keep.any():
                    xs, ys = thin(xs[keep], values[keep], most=width)
                    color = colors.dim(colors.variant_color(i), PAST_FADE + 0.08 * age)
                    series.append((xs, np.log10(ys) if view.log_scale else ys, color, False, False))
        return series

    def show(self, frame: Frame, view: View) -> None:
        plot = self.query_one("#loss-plot", Plot)
        plt = plot.plt
        plt.clear_figure()
        legend = Text()
        groups = run_groups(frame.configs)
        many = len(frame.snapshots) > MAX_SCORE_ROWS   # then only the selected run is named
        selected = self.selected(frame, view)
        group_of = {i: g for g, group in enumerate(groups or ()) for i in group.members}
        most = 2 * max(plot.size.width, 10)
        series, chosen = [], []     # the live runs' (xs, ys, color, diverged, dotted)
        group_curves: dict[int, list] = {}      # each group's runs' validation loss (xs, ys)
        for i, snap in enumerate(frame.snapshots):
            if groups is not None:
                # Grouped: each run faint in its group's colour (under the groups' medians),
                # the selected run in white on top.
                color = colors.NEUTRAL if i == selected else colors.dim(
                    colors.variant_color(group_of[i]), GROUP_MEMBER_FADE)
            else:
                # With many runs, colours cycle and cannot be told apart: the selected run in
                # its colour, drawn last, over the others in one faint grey (v brings the next
                # forward).
                color = colors.dim(colors.INITIAL, 0.5) if many and i != selected else colors.variant_color(i)
            history = snap.history
            # A step taken by hand is measured at once (Run.peek): its point goes on the end.
            peeked = snap.measured_step if len(history) and snap.measured_step > history.step[-1] else None
            xs_all = x_values(history, peeked, frame.steps_per_epoch[i], view.x_axis)
            for values, latest, series_color, dotted in (
                    (history.train_loss, snap.train_loss, colors.dim(color), True),
                    (history.val_loss, snap.val_loss, color, False)):
                if dotted and groups is not None and i != selected:
                    continue            # a group's runs by their validation loss alone
                values = np.asarray(values, dtype=float)
                if peeked is not None:
                    values = np.append(values, latest)
                if view.smooth:
                    values = smooth(values)
                keep = np.isfinite(values) & ((values > 0) if view.log_scale else True)
                if groups is not None and not dotted:
                    group_curves.setdefault(group_of[i], []).append((xs_all[keep], values[keep]))
                if keep.any():
                    xs, ys = thin(xs_all[keep], values[keep], most=most)
                    (chosen if many and i == selected else series).append(
                        (xs, np.log10(ys) if view.log_scale else ys, series_color, snap.diverged, dotted))
            if snap.diverged and snap.diverged_step is not None and view.x_axis == "steps":
                plt.vline(snap.diverged_step, colors.DIVERGED)
            if many and i != selected:
                continue
            if legend:
                legend.append("\n")
            if len(frame.snapshots) > 1:
                legend.append(frame.labels[i] + " ", style=colors.hex_color(color))
            legend.append_text(_score(snap, color))
            if snap.diverged:
                legend.append(f" diverged@{snap.diverged_step}", style="bold " + colors.hex_color(colors.DIVERGED))
            elif snap.state != "running" and len(frame.snapshots) > 1:
                legend.append(f" {snap.state}", style="dim")
        if groups is not None:
            for g in range(len(groups)):
                xs, ys = median_curve(group_curves.get(g, []))
                if len(xs):
                    xs, ys = thin(xs, ys, most=most)
                    series.append((xs, np.log10(ys) if view.log_scale else ys,
                                   colors.variant_color(g), False, False))
            legend.append("\n")
            legend.append_text(group_legend(groups, frame.snapshots,
                                            self.query_one("#loss-legend", Caption).content_region.width))
        elif many:
            legend.append(f"\n(and {len(frame.snapshots) - 1} more runs, in grey; v brings the next "
                          "forward)", style="dim")
        if frame.past:
            legend.append("\n━━ ", style=colors.hex_color(colors.dim(colors.variant_color(0), PAST_FADE)))
            legend.append(f"before {frame.past[-1].change}", style="dim")
            if len(frame.past) > 1:
                legend.append(f" (and {len(frame.past) - 1} earlier, fainter)", style="dim")
        series += chosen
        past, series = follow_live(series, self._past_series(frame, view, 2 * max(plot.size.width, 10)))
        last_x = max((float(xs[-1]) for xs, *_ in series or past), default=0.0)
        clipped = False
        if series or past:
            # A diverged run's blow-up or a late spike would flatten every other curve: fit the
            # axis to the healthy runs' descent and let the rest run off the top (clipped just
            # past the edge, as plotext draws a line point by point and a line to 1e30 would
            # never end).
            fitted = series or past
            low = min(float(ys.min()) for ys in (s[1] for s in fitted))
            healthy = [ys for _, ys, _, diverged, _ in fitted if not diverged] or [s[1] for s in fitted]
            high = max(robust_high(ys, low) for ys in healthy)
            clipped = any(float(ys.max()) > high for ys in healthy)
            margin = max(high - low, 1e-12)
            for xs, ys, series_color, _, dotted in past + series:
                ys = np.clip(ys, low - margin, high + margin)
                if dotted:
                    xs, ys = dashes(xs, ys, 2 * max(plot.size.width, 10))
                    plt.scatter(xs.tolist(), ys.tolist(), color=series_color, marker="braille")
                else:
                    plt.plot(xs.tolist(), ys.tolist(), color=series_color, marker="braille")
            value_axis(plt, low, high, plot.size.height, log=view.log_scale)
        plt.xticks(*x_ticks(last_x, plot.size.width, view.x_axis))
        self.query_one("#loss-legend", Caption).show_text(legend)
        self.set_subtitle(" · ".join(
            part for part in ("log" if view.log_scale else "linear", view.x_axis + " (x)",
                              "smoothed" if view.smooth else "",
                              GROUPED_SUBTITLE if groups is not None else "",
                              "spikes clipped" if clipped else "") if part))
        plot.refresh()

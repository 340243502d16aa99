"""Many runs in a few groups, for the loss pane: plain logic, no widgets.

optimizer-race trains thirty runs: three optimizer settings, each on five data sets with two
seeds. Thirty curves in cycling colours cannot be told apart; three groups can. Runs fall in
one group when they differ only where they repeat the experiment (the data, the seed, how
long they train); a
group is named by the settings that set it apart ("adam lr 0.02"), and drawn as its median
curve over its runs, each run faint in the group's colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...core.config import KEYS, RunConfig, get_value

GROUP_FROM = 6      # runs: from this many on, a pane that overlays them groups them
# keys (prefixes) along which runs repeat one experiment (other data, another seed) or only
# train it for longer (optimizer-race's spiral runs go on to step 1000)
REPEATS = ("data.", "train.seed", "train.steps")


@dataclass(frozen=True)
class RunGroup:
    name: str                   # the settings the group's runs share and the others do not
    members: tuple[int, ...]    # indices of its runs, in the scenario's order


def differing_keys(configs: Sequence[RunConfig]) -> list[str]:
    """The settings keys whose value is not the same in every run, in the registry's order."""
    return [key for key in KEYS
            if len({repr(get_value(cfg, key)) for cfg in configs}) > 1]


def _value_text(value) -> str:
    if isinstance(value, tuple):
        return ",".join(_value_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def group_name(cfg: RunConfig, keys: Sequence[str]) -> str:
    """``cfg``'s values of ``keys``: a choice by itself ("adam"), a number with its key's last
    word ("lr 0.02"), hidden layers by their units ("16 units", "units 8,8": "layers 16" would
    read as sixteen layers)."""
    parts = []
    for key in keys:
        value = get_value(cfg, key)
        if key == "model.layers":
            parts.append(f"{value[0]} units" if len(value) == 1 else
                         f"units {_value_text(tuple(value))}" if value else "no hidden layer")
        elif KEYS[key].choices:
            parts.append(_value_text(value))
        else:
            parts.append(f"{key.rpartition('.')[2]} {_value_text(value)}")
    return " ".join(parts)


def run_groups(configs: Sequence[RunConfig]) -> list[RunGroup] | None:
    """The runs grouped by the settings they differ in, other than ``REPEATS``; None when
    grouping would not help: fewer than ``GROUP_FROM`` runs, a single group (the runs differ
    only in data, seed or length), or as many groups as runs."""
    if len(configs) < GROUP_FROM:
        return None
    keys = [key for key in differing_keys(configs)
            if not any(key.startswith(prefix) for prefix in REPEATS)]
    members: dict[tuple, list[int]] = {}
    for index, cfg in enumerate(configs):
        members.setdefault(tuple(repr(get_value(cfg, key)) for key in keys), []).append(index)
    if not 1 < len(members) < len(configs):
        return None
    return [RunGroup(group_name(configs[indices[0]], keys), tuple(indices))
            for indices in members.values()]


def median_curve(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The median of several curves ``(xs, ys)`` (xs increasing) at every x of any of them,
    each curve read by linear interpolation within its own range; kept only where at least
    half the curves reach, so that a median never stands for one run that trained on alone.
    Non-finite points are left out of their curve."""
    kept = [(xs[ok], ys[ok]) for xs, ys in curves
            if (ok := np.isfinite(ys) & np.isfinite(xs)).any()]
    if not kept:
        return np.empty(0), np.empty(0)
    grid = np.unique(np.concatenate([xs for xs, _ in kept]))
    table = np.full((len(kept), len(grid)), np.nan)
    for row, (xs, ys) in zip(table, kept):
        inside = (grid >= xs[0]) & (grid <= xs[-1])
        row[inside] = np.interp(grid[inside], xs, ys)
    reached = np.isfinite(table).sum(axis=0)
    enough = reached >= math.ceil(len(curves) / 2)
    if not enough.any():
        return np.empty(0), np.empty(0)
    return grid[enough], np.nanmedian(table[:, enough], axis=0)


def spread(values: Sequence[float]) -> tuple[float, float, float] | None:
    """Median, lowest and highest of the finite ``values`` (None if there is none)."""
    finite = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not len(finite):
        return None
    return float(np.median(finite)), float(finite.min()), float(finite.max())

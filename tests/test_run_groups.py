"""Many runs in a few groups (the loss pane with optimizer-race's thirty runs), in plain Python:
which runs share a group, its name, the median curve and the spread the legend gives."""

from __future__ import annotations

import numpy as np

from nnsim.core.config import RunConfig, with_values
from nnsim.core.scenario import load_scenario
from nnsim.tui.panes.run_groups import GROUP_FROM, median_curve, run_groups, spread


def configs(*changes):
    return [with_values(RunConfig(), change) for change in changes]


def test_optimizer_race_falls_in_its_three_optimizer_settings():
    race = load_scenario("optimizer-race")
    groups = run_groups([v.config for v in race.variants])
    assert [g.name for g in groups] == ["adam lr 0.02", "sgd lr 0.1", "sgd lr 1"]
    assert sorted(i for g in groups for i in g.members) == list(range(30))
    for group in groups:        # each the same optimizer and rate on all five sets, two seeds
        members = [race.variants[i].config for i in group.members]
        assert len(members) == 10 and len({c.data.kind for c in members}) == 5
        assert len({(c.train.optimizer, c.train.lr) for c in members}) == 1


def test_runs_group_by_what_is_not_data_seed_or_length():
    runs = configs(*[(("train.optimizer", opt), ("data.kind", kind), ("train.seed", seed),
                      ("train.steps", 100 * (1 + seed)))
                     for opt in ("sgd", "adam") for kind in ("circle", "xor") for seed in (0, 1)])
    groups = run_groups(runs)
    assert [(g.name, g.members) for g in groups] == [("sgd", (0, 1, 2, 3)), ("adam", (4, 5, 6, 7))]
    # a number is named with its key, hidden layers by their units (not "layers 16")
    widths = configs(*[(("model.layers", (8, w)), ("train.l2", l2), ("train.seed", s))
                       for w in (4, 16) for l2 in (0.0, 0.01) for s in (0, 1)])
    assert [g.name for g in run_groups(widths)] == ["units 8,4 l2 0", "units 8,4 l2 0.01",
                                                   "units 8,16 l2 0", "units 8,16 l2 0.01"]
    one_layer = configs(*[(("model.layers", (w,)), ("train.seed", s)) for w in (16, 18, 20)
                          for s in (0, 1)])
    assert [g.name for g in run_groups(one_layer)] == ["16 units", "18 units", "20 units"]


def test_no_groups_where_they_would_not_help():
    few = configs(*[(("train.optimizer", opt), ("train.seed", s)) for opt in ("sgd", "adam")
                    for s in range(2)])
    assert len(few) < GROUP_FROM and run_groups(few) is None
    seeds_only = configs(*[(("train.seed", s),) for s in range(GROUP_FROM)])
    assert run_groups(seeds_only) is None                       # one group: nothing to compare
    all_apart = configs(*[(("train.lr", 0.01 * (i + 1)),) for i in range(GROUP_FROM)])
    assert run_groups(all_apart) is None                        # as many groups as runs
    assert run_groups(all_apart + all_apart[:1]) is not None    # two alike: six groups of seven


def test_the_median_curve_reads_each_run_where_it_reaches_and_where_half_of_them_do():
    a = (np.array([0.0, 20.0]), np.array([1.0, 3.0]))                 # read at 10 as 2
    b = (np.array([0.0, 10.0, 20.0, 30.0]), np.array([3.0, 4.0, 5.0, 6.0]))
    c = (np.array([0.0, 10.0]), np.array([2.0, 2.0]))                 # ended at step 10
    xs, ys = median_curve([a, b, c])
    np.testing.assert_array_equal(xs, [0.0, 10.0, 20.0])          # at 30 one run of three
    np.testing.assert_array_equal(ys, [2.0, 2.0, 4.0])            # at 20: a and b alone
    diverged = (np.array([0.0, 10.0, 20.0]), np.array([1.0, np.inf, np.nan]))
    xs, ys = median_curve([diverged, c])
    np.testing.assert_array_equal(xs, [0.0, 10.0])
    np.testing.assert_array_equal(ys, [1.5, 2.0])                 # its blow-up left out
    assert len(median_curve([])[0]) == 0


def test_the_spread_is_the_median_lowest_and_highest_of_the_finite_values():
    assert spread([0.3, np.nan, 0.1, 0.2, np.inf]) == (0.2, 0.1, 0.3)
    assert spread([0.1, 0.4]) == (0.25, 0.1, 0.4)
    assert spread([np.nan]) is None


def test_a_crowded_legend_puts_groups_side_by_side_each_whole_on_its_row():
    """three-splits' ten widths at 80x24: a row a group left the chart one row high."""
    from types import SimpleNamespace

    from nnsim.tui.panes.loss import MAX_GROUP_ROWS, group_legend

    splits = load_scenario("three-splits")
    groups = run_groups([v.config for v in splits.variants])
    snapshots = [SimpleNamespace(val_loss=0.5 + 0.01 * i) for i in range(len(splits.variants))]
    assert len(groups) == 10 > MAX_GROUP_ROWS
    rows = group_legend(groups, snapshots, 76).plain.split("\n")
    assert len(rows) <= 4 and all(len(row) <= 76 for row in rows)
    for group in groups:            # each entry whole on one row, with its group's median
        median = np.median([snapshots[i].val_loss for i in group.members])
        assert sum(f"━━ {group.name} {median:.3g}" in row for row in rows) == 1
    # a few groups keep a row each, with the lowest and highest beside the median
    race = load_scenario("optimizer-race")
    few = run_groups([v.config for v in race.variants])
    lines = group_legend(few, [SimpleNamespace(val_loss=float(i)) for i in range(30)], 76).plain
    assert len(lines.split("\n")) == len(few)
    for group, line in zip(few, lines.split("\n")):
        assert line.startswith(f"━━ {group.name}")
        assert line.endswith(f"({min(group.members)} to {max(group.members)})")

"""`k`'s line of the keys the footer has no room for, in plain Python."""

from __future__ import annotations

import re

from nnsim.tui.app import NnsimApp
from nnsim.tui.dashboard import NARROW_HIDDEN_KEYS, DashboardScreen, more_keys

BINDINGS = [*NnsimApp.BINDINGS, *DashboardScreen.BINDINGS]


def footer_has(binding, narrow: bool) -> bool:
    return binding.show and not (narrow and binding.action in NARROW_HIDDEN_KEYS)


def test_at_80_columns_the_footer_and_ks_line_show_every_key_once():
    """Found at 80x24: the footer left out p d o e w t z x v, and nothing else showed them."""
    line = more_keys(BINDINGS, narrow=True, width=78).plain
    for key, words in (("p", "Phases"), ("d", "Drop"), ("o", "Optim"), ("e", "Export"),
                       ("w", "Write"), ("t", "Validation points"), ("z", "Discretize"),
                       ("x", "X axis"), ("v", "Variant"), ("s", "Lesson"), ("[ ]", "Layer")):
        assert f"{key} {words}" in line, key
    entries = re.split(r"  |\n", line)
    for binding in BINDINGS:
        if binding.action.startswith("show_pane") or binding.action == "more_keys":
            # the tabs show 1-7; k is in the footer
            assert not any(entry.startswith(f"{binding.key} ") for entry in entries)
            continue
        key = binding.key_display or binding.key.split(",")[0]
        described = any(entry.endswith(f" {binding.description}")
                        and key in entry[:-len(binding.description) - 1].split(" ")
                        for entry in entries)
        assert described != footer_has(binding, narrow=True), binding.action


def test_wide_the_footer_keeps_its_keys_and_the_line_only_the_rest():
    line = more_keys(BINDINGS, narrow=False, width=158).plain
    assert "p Phases" not in line and "d Drop" not in line       # in the footer from 150 columns
    assert "w Write" in line and "x X axis" in line


def test_the_line_breaks_between_keys_never_inside_one():
    for width in (40, 60, 78):
        rows = more_keys(BINDINGS, narrow=True, width=width).plain.split("\n")
        assert all(len(row) <= width for row in rows), width
        assert "X axis" in "\n".join(rows) and "Validation points" in "\n".join(rows)
        assert len(rows) > 1

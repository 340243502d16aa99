"""What the controls panel decides, in plain Python: how a typed value reads, what counts as
no change, and that every setting of the panel sits in one section."""

from __future__ import annotations

import pytest

from nnsim.core.config import ConfigError, RunConfig, with_values
from nnsim.tui.controls import CHOICES, SECTIONS, TYPED, layer_changes, typed_value, unchanged


def test_a_typed_list_reads_as_the_settings_hold_it():
    assert typed_value("model.layers", "8, 8") == (8, 8)
    assert typed_value("model.layers", "[16]") == (16,)
    assert typed_value("data.split", "0.7, 0.15, 0.15") == (0.7, 0.15, 0.15)
    assert typed_value("data.noise", " 0.3 ") == 0.3
    with pytest.raises(ConfigError) as err:
        typed_value("model.layers", "8, [")
    assert err.value.key == "model.layers"


def test_enter_on_the_value_as_shown_is_no_change():
    """Found by hand: enter on an unchanged field restarted the run ("8, 8" read as a list
    was not the settings' tuple)."""
    cfg = with_values(RunConfig(), (("model.layers", (8, 8)), ("data.noise", 0.1)))
    assert unchanged(cfg, (("model.layers", typed_value("model.layers", "8, 8")),))
    assert unchanged(cfg, (("data.noise", typed_value("data.noise", "0.10")),))
    assert unchanged(cfg, (("model.layers", (8, 8)), ("data.noise", 0.1)))
    assert not unchanged(cfg, (("model.layers", (8, 9)),))
    assert not unchanged(cfg, (("model.layers", (8, 8)), ("data.noise", 0.2)))   # one of two
    assert not unchanged(cfg, (("data.noise", -1.0),))       # refused later, with its reason


def test_one_press_is_one_unit_or_one_layer():
    assert layer_changes((8, 8), "more", 1) == (8, 9)
    assert layer_changes((8, 8), "fewer", 0) == (7, 8)
    assert layer_changes((8, 4), "add") == (8, 4, 4)
    assert layer_changes((), "add") == (8,)
    assert layer_changes((8, 4), "remove") == (8,)


def test_every_setting_of_the_panel_is_in_exactly_one_section():
    keys = [key for _, section in SECTIONS for key in section]
    assert len(keys) == len(set(keys))
    wanted = set(CHOICES) | set(TYPED) | {"data.features", "train.lr", "train.seed"}
    assert set(keys) == wanted

"""What a validation records of a lesson (each expectation's table, each run's settings, the
events that set a value) and the changes since, which the lessons' test refuses: any key of any
expectation or setting changed after validation is named with both values; prose is not."""

import json
from pathlib import Path

import pytest

from nnsim.__main__ import main
from nnsim.core.provenance import changes_since_validation, recorded_form
from nnsim.core.scenario import load_scenario
from nnsim.core.validation import read_summary

COMPARE = Path(__file__).parent / "scenarios" / "compare.toml"
TEXT = COMPARE.read_text(encoding="utf-8")


def validated(tmp_path) -> dict:
    """``compare.toml`` checked on two short seeds: its entry in the summary written."""
    path = tmp_path / "validation.json"
    assert main(["check", str(COMPARE), "--seeds", "0-1", "--quiet", "--summary", str(path)]) in (0, 1)
    return read_summary(path)["scenarios"]["compare"]


def edited(tmp_path, old: str, new: str) -> object:
    """``compare.toml`` with one edit, loaded from its own file."""
    assert old in TEXT, old
    path = tmp_path / "compare.toml"
    path.write_text(TEXT.replace(old, new, 1), encoding="utf-8")
    return load_scenario(path, fill_figures=False)


def test_check_records_every_expectation_table_and_every_run_setting(tmp_path):
    summary = validated(tmp_path)
    assert summary["expectations"]["2"]["definition"] == {
        "kind": "final_below", "metric": "train_loss", "variant": "adam", "than": "sgd"}
    assert summary["expectations"]["1"]["definition"] == {"kind": "no_divergence", "variant": "adam"}
    runs = summary["settings"]["runs"]
    assert (runs["adam"]["train.lr"], runs["sgd"]["train.lr"], runs["sgd"]["train.optimizer"]) == (0.03, 0.01, "sgd")
    assert runs["adam"]["data.n_points"] == 200 and runs["adam"]["model.layers"] == [8, 8]
    assert "train.seed" not in runs["adam"], "the check sets the seed; a summary covers many"
    assert summary["settings"]["events"] == [{"at_epoch": 20, "variant": "sgd", "set": {"train.lr": 0.02}}]
    assert changes_since_validation(summary, load_scenario(COMPARE, fill_figures=False)) == []


@pytest.mark.parametrize("old, new, named", [
    ('than = "sgd"\nbecause', 'than = "sgd"\nfactor = 0.9\nbecause', "expectation '2': factor: validated (absent), now 0.9"),
    ('metric = "train_loss"\nvariant = "adam"', 'metric = "val_loss"\nvariant = "adam"',
     'expectation \'2\': metric: validated "train_loss", now "val_loss"'),
    ('kind = "no_divergence"\nvariant = "adam"', 'kind = "no_divergence"\nvariant = "sgd"',
     'expectation \'1\': variant: validated "adam", now "sgd"'),
    ('[[expect]]\nkind = "no_divergence"', '[[expect]]\nid = "calm"\nkind = "no_divergence"',
     "expectation 'calm': added since the validation"),
    ('train.lr = 0.03', 'train.lr = 0.04', "run 'adam': train.lr: validated 0.03, now 0.04"),
    ('n_points = 200', 'n_points = 300', "run 'adam': data.n_points: validated 200, now 300"),
    ('layers = [8, 8]', 'layers = [8, 4]', "run 'sgd': model.layers: validated [8, 8], now [8, 4]"),
    ('name = "sgd"\n', 'name = "sgd"\nseed_offset = 1\n', "run 'sgd': seed_offset: validated 0, now 1"),
    ('[[event]]\nat_step = 100', '[[variant]]\nname = "third"\n\n[[event]]\nat_step = 100',
     "run 'third': added since the validation"),
    ('"train.lr" = 0.02', '"train.lr" = 0.05', "events that set a value: validated"),
    ('at_epoch = 20', 'at_epoch = 21', "events that set a value: validated"),
])
def test_any_change_after_validation_is_named_with_both_values(tmp_path, old, new, named):
    summary = validated(tmp_path)
    changes = changes_since_validation(summary, edited(tmp_path, old, new))
    assert any(line.startswith(named) for line in changes), changes


def test_an_expectation_removed_since_is_named(tmp_path):
    summary = validated(tmp_path)
    removed = TEXT[:TEXT.index("[[expect]]\nkind = \"final_below\"")]
    path = tmp_path / "compare.toml"
    path.write_text(removed, encoding="utf-8")
    assert changes_since_validation(summary, load_scenario(path, fill_figures=False)) == [
        "expectation '2': validated, now removed"]


@pytest.mark.parametrize("old, new", [
    ("Adam adapts its step size to each weight.", "Adam scales each weight's step."),   # because
    ("SGD gets a larger learning rate.", "Faster, SGD."),                                # say
    ("A test scenario, not a lesson", "A scenario for the tests"),                      # lesson
    ('label = "Adam, lr 0.03"', 'label = "Adam"'),                                      # display
    ("[[event]]\nat_step = 100", "[[event]]\nat_step = 150"),                          # narration only
])
def test_prose_may_change_after_validation(tmp_path, old, new):
    summary = validated(tmp_path)
    assert changes_since_validation(summary, edited(tmp_path, old, new)) == []


def test_a_setting_nnsim_gained_since_counts_as_unchanged_only_at_its_default(tmp_path):
    summary = validated(tmp_path)
    for run in summary["settings"]["runs"].values():
        del run["model.dropout"]          # as if recorded before nnsim had dropout
    scenario = load_scenario(COMPARE, fill_figures=False)
    assert changes_since_validation(summary, scenario) == []
    with_dropout = edited(tmp_path, "layers = [8, 8]", "layers = [8, 8]\ndropout = 0.2")
    assert "run 'adam': model.dropout: validated (absent), now 0.2" in changes_since_validation(
        summary, with_dropout)


def test_a_summary_that_recorded_nothing_is_not_taken_as_validating(tmp_path):
    summary = validated(tmp_path)
    del summary["settings"]
    del summary["expectations"]["2"]["definition"]
    changes = changes_since_validation(summary, load_scenario(COMPARE, fill_figures=False))
    assert changes == ["expectation '2': its definition was not recorded by the validation",
                       "settings: not recorded by the validation"]


def test_the_recorded_form_survives_json():
    form = recorded_form(load_scenario(COMPARE, fill_figures=False))
    assert json.loads(json.dumps(form)) == form

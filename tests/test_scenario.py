"""Scenario parsing, variant expansion, events, expectations (on synthetic snapshots) and the
key reference in scenarios/README.md."""

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from nnsim.core.config import TABLES, ConfigError, RunConfig, config_from_dict
from nnsim.core.expectations import KINDS, parse_expectation
from nnsim.core.scenario import (
    BASE_RUN, ScenarioError, load_scenario, parse_override, reference_markdown, resolve,
)
from scenario_helpers import expect, history, outcome, parse, runs

HERE = Path(__file__).parent
COMPARE = HERE / "scenarios" / "compare.toml"
README = HERE.parent / "scenarios" / "README.md"


def error_of(text: str, **kwargs) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse(text, **kwargs)
    return info.value


# ----------------------------------------------------------------------------- format

def test_example_scenario_expands_to_its_variants():
    scenario = load_scenario(COMPARE)
    assert scenario.name == "compare"
    assert [v.name for v in scenario.variants] == ["adam", "sgd"]
    adam, sgd = scenario.variants
    assert sgd.config.train.optimizer == "sgd" and adam.config.train.optimizer == "adam"
    assert adam.config.train.lr != sgd.config.train.lr
    # everything a variant does not change comes from the base tables
    for v in scenario.variants:
        assert v.config.data == scenario.base.data
        assert v.config.model == scenario.base.model
        assert v.config.train.steps == scenario.base.train.steps
    assert sgd.overrides == {"train": {"optimizer": "sgd", "lr": sgd.config.train.lr}}


def test_a_file_without_variants_has_one_run_named_base():
    scenario = parse('title = "t"\n[train]\nlr = 0.2\n')
    assert [v.name for v in scenario.variants] == [BASE_RUN]
    assert scenario.variants[0].config == scenario.base
    assert scenario.base.train.lr == 0.2
    assert scenario.base.data == RunConfig().data     # defaults fill what the file leaves out


def test_seed_and_seed_offset():
    text = ('title = "t"\n[train]\nseed = 5\n[[variant]]\nname = "a"\n'
            '[[variant]]\nname = "b"\nseed_offset = 3\n')
    a, b = parse(text).variants
    assert (a.config.train.seed, b.config.train.seed) == (5, 8)
    a, b = parse(text, seed=10).variants
    assert (a.config.train.seed, b.config.train.seed) == (10, 13)


def test_overrides_apply_after_the_variants_own():
    text = ('title = "t"\n[[variant]]\nname = "a"\ntrain.lr = 0.5\n'
            '[[variant]]\nname = "b"\nmodel.layers = [3]\n')
    scenario = parse(text, overrides=(("train.lr", 0.25), ("model.layers", [4, 4])))
    assert [v.config.train.lr for v in scenario.variants] == [0.25, 0.25]
    assert [v.config.model.layers for v in scenario.variants] == [(4, 4), (4, 4)]
    assert scenario.base.train.lr == 0.25


def test_overrides_are_validated_against_the_scenario():
    err = error_of('title = "t"\n', overrides=(("train.lr", -1.0),))
    assert err.path == "--set" and err.key == "train.lr"
    # keys that depend on each other are applied together
    scenario = parse('title = "t"\n', overrides=(("data.kind", "digits"), ("data.split", [0.5, 0.25, 0.25])))
    assert scenario.base.data.kind == "digits"


@pytest.mark.parametrize("text, expected", [
    ("train.lr=0.3", ("train.lr", 0.3)),
    ("train.steps=500", ("train.steps", 500)),
    ("model.layers=[8,8]", ("model.layers", [8, 8])),
    ("train.optimizer=sgd", ("train.optimizer", "sgd")),
    ('train.optimizer="momentum"', ("train.optimizer", "momentum")),
    ("model.residual=true", ("model.residual", True)),
    ("data.features=['x1', 'x1^2']", ("data.features", ["x1", "x1^2"])),
    (" train.lr = 1e-3 ", ("train.lr", 0.001)),
    ("data.path=my data.csv", None),
])
def test_parse_override(text, expected):
    if expected is None:
        with pytest.raises(ScenarioError):
            parse_override(text)
    else:
        assert parse_override(text) == expected


@pytest.mark.parametrize("text, key, hint", [
    ("train.lrr=0.3", "train.lrr", "did you mean 'train.lr'"),
    ("trian.lr=0.3", "trian.lr", ""),
    ("train.lr", "train.lr", "key=value"),
    ("=3", "=3", "key=value"),
])
def test_parse_override_errors(text, key, hint):
    with pytest.raises(ScenarioError) as info:
        parse_override(text)
    assert info.value.path == "--set" and info.value.key == key
    assert hint in str(info.value)
    assert "\n" not in str(info.value)


def test_errors_name_the_file_and_the_dotted_key():
    err = error_of('title = "t"\n[[variant]]\nname = "fast"\ntrain.lr = -2\n')
    assert str(err).startswith("lesson.toml: variant[fast].train.lr: expected a learning rate > 0")
    err = error_of('title = "t"\n[model]\nactivaton = "relu"\n')
    assert err.key == "model.activaton" and "did you mean 'activation'" in str(err)
    err = error_of('title = "t"\n[train]\noptimizer = "adma"\n')
    assert err.key == "train.optimizer" and "did you mean 'adam'" in str(err)


def test_bad_toml_names_the_line():
    err = error_of('title = "t"\n\n[train\nlr = 1\n')
    assert err.key == "line 3"
    assert str(err).startswith("lesson.toml: line 3: ")


def test_unknown_builtin_name_suggests_nothing_odd():
    with pytest.raises(ScenarioError) as info:
        resolve("no-such-lesson-anywhere")
    assert "no built-in lesson" in str(info.value)
    with pytest.raises(ScenarioError):
        resolve("missing/file.toml")


# ----------------------------------------------------------------------------- events

EVENTS = '''
title = "t"
[train]
steps = 1000
batch_size = 10
[[variant]]
name = "a"
[[variant]]
name = "b"
train.batch_size = 0
[[event]]
at_epoch = 3
set = { "train.lr" = 0.1 }
[[event]]
at_step = 50
variant = "b"
say = "only b"
[[event]]
at_step = 50
set = { train = { lr = 0.2 }, model = { dropout = 0.5 } }
say = "both, nested form"
'''


def test_event_schedule_converts_epochs_and_orders_by_step_then_file():
    scenario = parse(EVENTS)
    first, only_b, nested = scenario.events
    assert first.set == (("train.lr", 0.1),)
    assert nested.set == (("train.lr", 0.2), ("model.dropout", 0.5))
    assert [(s, e.index) for s, e in scenario.schedule("a", 7)] == [(21, 1), (50, 3)]
    assert [(s, e.index) for s, e in scenario.schedule("b", 1)] == [(3, 1), (50, 2), (50, 3)]
    assert {e.index: s for s, e in scenario.schedule("a", 100)}[1] == 300


@pytest.mark.parametrize("event, key", [
    ('at_step = 5000\nsay = "late"', "event[1].at_step"),
    ('at_step = -1\nsay = "x"', "event[1].at_step"),
    ('at_step = 1\nat_epoch = 1\nsay = "x"', "event[1]"),
    ("at_step = 1", "event[1]"),
    ('at_step = 1\nset = { "train.lrr" = 1.0 }', "event[1].set.train.lrr"),
    ('at_step = 1\nset = { "data.noise" = 1.0 }', "event[1].set.data.noise"),
    ('at_step = 1\nsay = "x"\nwhen = 3', "event[1].when"),
])
def test_bad_events(event, key):
    err = error_of(f'title = "t"\n[train]\nsteps = 100\n[[event]]\n{event}\n')
    assert err.key == key


# ----------------------------------------------------------------------------- expectations

def test_diverges_and_no_divergence():
    blown = outcome("hot", diverged_step=40)
    calm = outcome("calm")
    both = runs(blown, calm)
    assert expect({"kind": "diverges", "variant": "hot"}, both).passed is True
    assert expect({"kind": "diverges", "variant": "calm"}, both).passed is False
    assert expect({"kind": "diverges", "variant": "hot", "before_step": 30}, both).passed is False
    assert expect({"kind": "no_divergence", "variant": "calm"}, both).passed is True
    result = expect({"kind": "no_divergence", "variant": "hot"}, both)
    assert result.passed is False and "step 40" in result.message


def test_final_below_and_above():
    good = outcome("good", history([0, 10], val_loss=[1.0, 0.2], val_acc=[0.5, 0.95]))
    bad = outcome("bad", history([0, 10], val_loss=[1.0, 0.5], val_acc=[0.5, 0.7]))
    both = runs(good, bad)
    below = {"kind": "final_below", "metric": "val_loss", "variant": "good", "than": "bad"}
    assert expect(below, both).passed is True
    assert expect({**below, "factor": 0.3}, both).passed is False      # 0.2 < 0.15? no
    assert expect({**below, "variant": "bad", "than": "good"}, both).passed is False
    assert expect({"kind": "final_below", "metric": "val_loss", "variant": "good",
                   "threshold": 0.3}, both).passed is True
    above = {"kind": "final_above", "metric": "val_acc", "threshold": 0.9}
    assert expect({**above, "variant": "good"}, both).passed is True
    assert expect({**above, "variant": "bad"}, both).passed is False
    assert expect({"kind": "final_above", "metric": "test_acc", "variant": "good",
                   "threshold": 0.9}, both).passed is False                # test acc 0.8


def test_a_diverged_loss_counts_as_infinitely_bad():
    both = runs(outcome("good", history([0, 10], val_loss=[1.0, 0.2])), outcome("hot", diverged_step=5))
    assert expect({"kind": "final_below", "metric": "val_loss", "variant": "good", "than": "hot"},
                  both).passed is True
    assert expect({"kind": "final_below", "metric": "val_loss", "variant": "hot", "than": "good"},
                  both).passed is False


def test_reaches_within_and_faster_than():
    fast = outcome("adam", history([0, 100, 200, 300, 400], val_loss=[1, 0.5, 0.09, 0.05, 0.04]))
    slow = outcome("sgd", history([0, 400, 800, 1200], val_loss=[1, 0.5, 0.3, 0.08]))
    never = outcome("never", history([0, 100], val_loss=[1, 0.9]))
    all_runs = runs(fast, slow, never)
    target = {"kind": "reaches", "metric": "val_loss", "threshold": 0.1}
    assert expect({**target, "variant": "adam", "within": 250}, all_runs).passed is True
    assert expect({**target, "variant": "adam", "within": 150}, all_runs).passed is False
    assert expect({**target, "variant": "never"}, all_runs).passed is False
    race = {**target, "variant": "adam", "faster_than": "sgd"}
    result = expect({**race, "ratio": 5}, all_runs)                  # 1200 / 200 = 6x
    assert result.passed is True and "at step 200" in result.message and "6x" in result.message
    assert expect({**race, "ratio": 7}, all_runs).passed is False
    assert expect({**target, "variant": "sgd", "faster_than": "adam"}, all_runs).passed is False
    assert expect({**target, "variant": "adam", "faster_than": "never", "ratio": 100},
                  all_runs).passed is True                            # never = infinitely slow
    acc = {"kind": "reaches", "metric": "val_acc", "threshold": 0.9, "variant": "x"}
    climbing = runs(outcome("x", history([0, 10, 20], val_acc=[0.5, 0.91, 0.95])))
    assert expect(acc, climbing).passed is True



def test_a_race_is_decided_once_the_slower_run_has_gone_ratio_times_as_far():
    """The lesson pane ticks "Adam is 2x faster" as soon as SGD has run twice Adam's steps without
    arriving; until then the pending line says what has not happened yet, not "never"."""
    adam = outcome("adam", history([0, 100, 200, 300], val_loss=[1, 0.5, 0.09, 0.05]), finished=False)
    race = {"kind": "reaches", "metric": "val_loss", "threshold": 0.1, "variant": "adam",
            "faster_than": "sgd", "ratio": 2}
    early = expect(race, runs(adam, outcome("sgd", history([0, 200, 300], val_loss=[1, .9, .8]),
                                            finished=False)))
    assert early.passed is None and "sgd has not reached it yet" in early.message
    assert "never" not in early.message and "so far" not in early.message
    decided = expect(race, runs(adam, outcome("sgd", history([0, 200, 400], val_loss=[1, .9, .8]),
                                              finished=False)))
    assert decided.passed is True                                    # 400 >= 2 x 200
    ended = expect(race, runs(adam, outcome("sgd", history([0, 200, 400], val_loss=[1, .9, .8]))))
    assert "sgd never reached it" in ended.message

def test_overfits():
    turns_up = outcome("big", history([0, 10, 20, 30], val_loss=[1.0, 0.2, 0.4, 0.6]))
    keeps_falling = outcome("ok", history([0, 10, 20, 30], val_loss=[1.0, 0.5, 0.3, 0.2]))
    both = runs(turns_up, keeps_falling)
    result = expect({"kind": "overfits", "variant": "big", "factor": 2.5}, both)
    assert result.passed is True and "3x" in result.message
    assert expect({"kind": "overfits", "variant": "big", "factor": 3.5}, both).passed is False
    assert expect({"kind": "overfits", "variant": "ok", "factor": 1.0}, both).passed is False


def test_early_stop():
    stopped = outcome("es", history([0, 10, 20, 30]), stopped_early=True, best_step=10)
    ran_on = outcome("full", history([0, 10, 20, 30]))
    both = runs(stopped, ran_on)
    assert expect({"kind": "early_stop", "variant": "es", "before_epoch": 4}, both).passed is True
    assert expect({"kind": "early_stop", "variant": "es", "before_epoch": 3}, both).passed is False
    assert expect({"kind": "early_stop", "variant": "full"}, both).passed is False


def test_grad_ratio_over_chosen_layers_and_last_checks():
    norms = np.array([[1e-6, 1e-3, 1.0], [3e-6, 2e-3, 1.0], [1e-6, 1e-3, 2.0]])
    deep = runs(outcome("deep", history([0, 10, 20], grad_norms=norms)))
    assert expect({"kind": "grad_ratio", "variant": "deep", "below": 1e-4}, deep).passed is True
    assert expect({"kind": "grad_ratio", "variant": "deep", "above": 1e-4}, deep).passed is False
    # first vs last hidden layer, averaged over the last two checks: 2e-6 / 1.5e-3
    result = expect({"kind": "grad_ratio", "variant": "deep", "layers": [0, 1], "last": 2,
                     "above": 1e-3}, deep)
    assert result.passed is True and "last 2 checks" in result.message
    assert "gradient norm h1 / h2 = " in result.message      # the layers as every view names them
    assert "h1 / out" in expect({"kind": "grad_ratio", "variant": "deep", "below": 1e-4}, deep).message
    assert expect({"kind": "grad_ratio", "variant": "deep", "layers": [0, 1], "last": 2,
                   "above": 2e-3}, deep).passed is False


def test_sparse():
    weights = (np.array([[0.0, 1e-5], [0.5, 0.0]]), np.array([[0.0], [2.0]]))   # 4 of 6 near zero
    one = runs(outcome("l1", weights=weights))
    assert expect({"kind": "sparse", "variant": "l1", "fraction": 0.6}, one).passed is True
    assert expect({"kind": "sparse", "variant": "l1", "fraction": 0.7}, one).passed is False
    assert expect({"kind": "sparse", "variant": "l1", "fraction": 0.8, "tol": 0.6}, one).passed is True


def test_race_counts_pairs():
    def reaching_at(name, step, lr):
        return outcome(name, history([0, step, step + 10], val_loss=[1.0, 0.05, 0.04]), lr=lr)

    pairs = runs(reaching_at("adam-0", 100, 0.01), reaching_at("sgd-0", 300, 0.3),
                 reaching_at("adam-1", 100, 0.01), reaching_at("sgd-1", 150, 0.3),
                 reaching_at("adam-2", 100, 0.01),
                 outcome("sgd-2", history([0, 10], val_loss=[1.0, 0.9]), lr=0.3))
    table = {"kind": "race", "pairs": [["adam-0", "sgd-0"], ["adam-1", "sgd-1"], ["adam-2", "sgd-2"]],
             "metric": "val_loss", "threshold": 0.1, "ratio": 2.0}
    result = expect({**table, "at_least": 0.6}, pairs)
    assert result.passed is True and "2 of 3" in result.message
    assert len(result.details) == 3 and "lr 0.3" in result.details[0]
    assert expect({**table, "at_least": 0.7}, pairs).passed is False


def test_a_race_is_won_only_by_getting_there_first():
    """"At least as fast" is what a copy of the other run achieves: with `ratio` 1 a pair that
    arrives at the same step (past the first check) is no win, so a lesson whose two optimizers
    were made the same cannot pass."""
    def reaching_at(name, step):
        return outcome(name, history([0, 10, 20, 30], val_loss=[1.0 if s < step else 0.05
                                                               for s in (0, 10, 20, 30)]))

    pairs = runs(reaching_at("a0", 20), reaching_at("b0", 20), reaching_at("a1", 20),
                 reaching_at("b1", 30), reaching_at("a2", 30), reaching_at("b2", 20))
    table = {"kind": "race", "pairs": [["a0", "b0"], ["a1", "b1"], ["a2", "b2"]],
             "metric": "val_loss", "threshold": 0.1, "ratio": 1.0, "at_least": 0.3}
    result = expect(table, pairs)
    assert dict(result.figures)["share"] == pytest.approx(1 / 3) and "1 of 3 pairs" in result.message
    assert [d.endswith(": yes") for d in result.details] == [False, True, False]
    copies = runs(reaching_at("a0", 20), reaching_at("b0", 20))
    assert expect({**table, "pairs": [["a0", "b0"]]}, copies).passed is False


def test_results_are_pending_while_a_run_is_going():
    going = outcome("a", history([0, 10], val_loss=[1.0, 0.5]), finished=False)
    one = runs(going)
    assert expect({"kind": "no_divergence"}, one).passed is None
    assert expect({"kind": "final_below", "metric": "val_loss", "threshold": 0.1}, one).passed is None
    assert expect({"kind": "final_above", "metric": "test_acc", "threshold": 0.1}, one).passed is None
    assert expect({"kind": "sparse", "fraction": 0.5}, one).status == "pending"
    assert expect({"kind": "reaches", "metric": "val_loss", "threshold": 0.6}, one).passed is True
    assert expect({"kind": "reaches", "metric": "val_loss", "threshold": 0.1, "within": 5},
                  one).passed is False                     # already past its window


@pytest.mark.parametrize("table, key", [
    ({"kind": "reaches", "metric": "val_loss"}, "threshold"),
    ({"kind": "reaches", "metric": "test_loss", "threshold": 1.0}, "metric"),
    ({"kind": "final_below", "metric": "val_los", "threshold": 1.0}, "metric"),
    ({"kind": "final_below", "metric": "val_loss"}, "than"),
    ({"kind": "final_below", "metric": "val_loss", "threshold": 1.0, "than": "a"}, "than"),
    ({"kind": "grad_ratio", "layers": [0, 3], "below": 1.0}, "layers"),
    ({"kind": "grad_ratio"}, "below"),
    ({"kind": "race", "pairs": [["a"]], "metric": "val_loss", "threshold": 1, "at_least": 0.5}, "pairs"),
    ({"kind": "race", "pairs": [["a", "z"]], "metric": "val_loss", "threshold": 1, "at_least": 0.5},
     "pairs"),
    ({"kind": "race", "pairs": [["a", "a"]], "metric": "val_loss", "threshold": 1, "at_least": 0.5,
      "ratio": 0.5}, "ratio"),
    ({"kind": "sparse", "fraction": 1.5}, "fraction"),
    ({"kind": "overfits", "factr": 2}, "factr"),
    ({"kind": "no_divergence", "variant": "b"}, "variant"),
    ({"no_kind": 1}, "kind"),
])
def test_bad_expectations(table, key):
    configs = {"a": config_from_dict({"model": {"layers": [4]}})}
    with pytest.raises(ConfigError) as info:
        parse_expectation(table, configs)
    assert info.value.key == key


@pytest.mark.parametrize("control, key, words", [
    ('{ "train.lr" = -1 }', "expect[1].control.train.lr", "expected a learning rate > 0"),
    ('{ "train.lrr" = 0.1 }', "expect[1].control.train.lrr", "did you mean 'train.lr'"),
    ('"train.lr = 0.1"', "expect[1].control", "expected an inline table"),
    ('{ "train.lr" = 0.01 }', "expect[1].control", "these are its settings already"),
])
def test_a_control_must_be_settings_that_change_the_runs_it_reads(control, key, words):
    err = error_of('title = "t"\n[train]\nlr = 0.01\n[[expect]]\nkind = "no_divergence"\n'
                   f'control = {control}\n')
    assert err.key == key and words in err.message and "\n" not in str(err)


def test_a_negative_control_applies_its_settings_after_the_variants_own():
    scenario = parse('title = "t"\n[train]\nlr = 0.01\n[[variant]]\nname = "a"\n'
                     '[[variant]]\nname = "b"\ntrain.lr = 0.3\n[[variant]]\nname = "c"\n'
                     '[[expect]]\nkind = "final_below"\nmetric = "val_loss"\nvariant = "b"\n'
                     'than = "a"\ncontrol = { train = { lr = 0.01 } }\n'
                     '[[event]]\nat_step = 5\nset = { "train.lr" = 0.5, "model.dropout" = 0.1 }\n', seed=4)
    [expectation] = scenario.expectations
    assert expectation.control == (("train.lr", 0.01),)
    control = scenario.negative_control(expectation)
    assert [v.name for v in control.variants] == ["a", "b"]          # only the runs it reads
    assert {v.config.train.lr for v in control.variants} == {0.01}
    assert [v.config.train.seed for v in control.variants] == [4, 4]
    assert control.events[0].set == (("model.dropout", 0.1),)      # the script cannot undo it


def test_variant_may_be_left_out_only_with_one_run():
    err = error_of('title = "t"\n[[variant]]\nname = "a"\n[[variant]]\nname = "b"\n'
                   '[[expect]]\nkind = "no_divergence"\n')
    assert err.key == "expect[1].variant"


# ----------------------------------------------------------------------------- the README

def test_readme_key_reference_is_generated_from_the_dataclasses():
    text = README.read_text(encoding="utf-8")
    begin, end = "<!-- reference: begin -->\n", "<!-- reference: end -->"
    assert begin in text and end in text
    reference = text[text.index(begin) + len(begin):text.index(end)]
    assert reference == reference_markdown(), (
        "scenarios/README.md is out of date: paste the output of "
        "`python -c 'from nnsim.core.scenario import reference_markdown as r; print(r(), end=\"\")'` "
        "between its reference markers")


def test_readme_documents_every_key_and_kind():
    text = README.read_text(encoding="utf-8")
    for table, cls in TABLES.items():
        for f in fields(cls):
            line = next((ln for ln in text.splitlines() if ln.startswith(f"| `{table}.{f.name}` |")), None)
            assert line is not None, f"{table}.{f.name} is not documented"
            assert line.split("|")[3].strip(), f"{table}.{f.name} has no explanation"
    for name, cls in KINDS.items():
        assert f"| `{name}` |" in text
        for key, _, _ in cls.keys():
            assert f"`{key}`" in text
    for key in ("title", "summary", "lesson", "name", "label", "seed_offset", "at_step", "at_epoch",
                "say", "set", "because"):
        assert f"`{key}`" in text


def test_the_readme_example_is_a_valid_scenario():
    text = README.read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    scenario = parse(example)
    assert [v.name for v in scenario.variants] == ["too-low", "good"]
    assert scenario.events and scenario.expectations


def test_parsing_every_lesson_loads_no_kernels():
    """Reading a scenario (``nnsim show``, the dashboard's first frame) must not wait for Numba."""
    code = ("import sys\n"
            "from nnsim.core.scenario import builtin_names, load_scenario\n"
            "for name in builtin_names(): load_scenario(name)\n"
            "print(sorted(m for m in sys.modules if m == 'numba' or m.endswith('.kernels')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

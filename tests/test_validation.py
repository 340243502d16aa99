"""Lessons over many seeds: pass rates and the spread of the figures (``nnsim check --summary``),
and the lesson texts' placeholders filled from the committed validation summary."""

import json
import math
import re
from pathlib import Path

import pytest

from nnsim.__main__ import main
from nnsim.core.expectations import Result
from nnsim.core.scenario import ScenarioError, builtin_names, load_scenario, resolve
from nnsim.core.validation import (
    PLACEHOLDER, PlaceholderError, Tally, distribution, fill, merged, read_summary, seed_ranges,
    to_json,
)

HERE = Path(__file__).parent
COMPARE = HERE / "scenarios" / "compare.toml"


def result(id_, passed, **figures):
    return Result("final_below", passed, "m", figures=tuple(figures.items()), id=id_)


def test_distribution_is_nearest_rank_over_measured_values():
    values = [float(v) for v in range(1, 101)] + [math.nan]      # 1..100, one not measured
    d = distribution(values)
    assert (d["median"], d["p5"], d["p95"], d["measured"]) == (50.0, 5.0, 95.0, 100)
    never = distribution([1.0, 2.0, math.inf, math.inf, math.inf])
    assert never["median"] == math.inf and never["p5"] == 1.0 and never["infinite"] == 3


def test_tally_counts_passes_and_spreads_per_expectation():
    tally = Tally()
    for seed in range(20):
        tally.add("lesson", seed, [result("1", seed != 3, ratio=float(seed)),
                                   result("fast", True, step=100.0)])
    summary = tally.summary()["scenarios"]["lesson"]
    assert summary["seeds"] == "0-19" and summary["runs"] == 20
    first = summary["expectations"]["1"]
    assert (first["passed"], first["pass_rate"]) == (19, 0.95)
    assert first["figures"]["ratio"]["median"] == 9.0
    assert summary["expectations"]["fast"]["figures"]["step"]["p95"] == 100.0


def test_seed_ranges_read_as_check_reads_them():
    assert seed_ranges([5, 0, 1, 2, 9, 10]) == "0-2,5,9-10"
    assert seed_ranges([7]) == "7"


def test_summary_round_trips_infinity_and_merges_by_scenario(tmp_path):
    tally = Tally()
    tally.add("a", 0, [result("1", False, step=math.inf)])
    path = tmp_path / "v.json"
    path.write_text(to_json(tally.summary()))
    assert read_summary(path)["scenarios"]["a"]["expectations"]["1"]["figures"]["step"]["median"] == math.inf
    other = Tally()
    other.add("b", 0, [result("1", True)])
    both = merged(read_summary(path), other.summary())
    assert list(both["scenarios"]) == ["a", "b"]
    assert merged(both, tally.summary())["scenarios"]["a"] == tally.summary()["scenarios"]["a"]


def test_check_over_seeds_prints_pass_rates_and_writes_the_summary(tmp_path, capsys):
    summary = tmp_path / "validation.json"
    status = main(["check", str(COMPARE), "--seeds", "0-2", "--quiet", "--summary", str(summary)])
    out = capsys.readouterr().out
    doc = json.loads(summary.read_text())
    compare = doc["scenarios"]["compare"]
    assert compare["seeds"] == "0-2" and compare["runs"] == 3
    final_below = compare["expectations"]["2"]
    assert final_below["kind"] == "final_below"
    assert status == (0 if all(e["passed"] == 3 for e in compare["expectations"].values()) else 1)
    assert f"2 final_below: {final_below['passed']} of 3 pass" in out
    asks = 'metric = "train_loss", variant = "adam", than = "sgd"'
    assert final_below["asks"] == asks and f"\n      {asks}\n" in out
    ratio = final_below["figures"]["ratio"]
    assert ratio["p5"] <= ratio["median"] <= ratio["p95"]
    assert re.search(r"ratio\s+\S+\s+5%:\s+\S+\s+95%:", out)


def test_many_seeds_give_a_count_per_scenario_not_a_column_per_seed(capsys):
    from nnsim import headless

    headless.check_scenarios([str(COMPARE)], list(range(11)), overrides=(("train.steps", 20),),
                             workers=1, progress=False)
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["scenario", "seeds", "pass", "fail"]
    assert out.splitlines()[2].split()[:2] == ["compare", "0-10"]


def test_a_bad_summary_file_is_refused_before_anything_runs(tmp_path, capsys):
    bad = tmp_path / "v.json"
    bad.write_text('{"something": 1}')
    assert main(["check", str(COMPARE), "--summary", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a validation summary" in err


# ----------------------------------------------------------------------------- placeholders

def summary_file(tmp_path):
    tally = Tally()
    for seed in range(10):
        tally.add("lesson", seed, [result("gap", seed < 9, ratio=1.0 + seed, step=math.inf)])
    path = tmp_path / "validation.json"
    path.write_text(to_json(tally.summary()))
    return path


def test_placeholders_quote_the_summary(tmp_path):
    path = summary_file(tmp_path)
    text = ("seeds {validation.seeds}: typically {validation.gap.ratio.median}x, 90% between "
            "{validation.gap.ratio.p5:.1f} and {validation.gap.ratio.p95}; held on "
            "{validation.gap.pass_rate:.0%} of {validation.gap.runs}; {validation.gap.step.median}")
    assert fill(text, "lesson", path) == "seeds 0-9: typically 5x, 90% between 1.0 and 10; held on 90% of 10; ∞"
    assert fill("no placeholders {here}", "other", tmp_path / "missing.json") == "no placeholders {here}"


@pytest.mark.parametrize("placeholder, why", [
    ("{validation.gap.ratio.mean}", "no 'mean'"),
    ("{validation.nope.ratio.median}", "no 'nope'"),
    ("{validation.gap.slope.median}", "no 'slope'"),
    ("{validation.gap.ratio}", "no 'ratio'"),
    ("{validation.gap}", "no 'gap'"),
    ("{validation.gap.ratio.median:q}", "bad format"),
    ("{validation.a.b.c.d}", "expected"),
])
def test_a_missing_figure_names_the_placeholder(tmp_path, placeholder, why):
    path = summary_file(tmp_path)
    with pytest.raises(PlaceholderError) as info:
        fill(f"text {placeholder} more", "lesson", path)
    assert info.value.placeholder == placeholder and why in str(info.value)


def test_a_lesson_with_a_missing_figure_is_one_line_naming_file_and_placeholder(tmp_path, capsys):
    summary_file(tmp_path)
    lesson = tmp_path / "lesson.toml"
    lesson.write_text('title = "t"\nlesson = "It is {validation.gap.ratio.median}x, '
                      'or {validation.gap.ratio.p50}."\n[train]\nsteps = 10\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(lesson)
    assert str(info.value).startswith(f"{lesson}: lesson: {{validation.gap.ratio.p50}}:")
    assert main(["show", str(lesson)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    (tmp_path / "validation.json").unlink()
    with pytest.raises(ScenarioError, match="no validation summary"):
        load_scenario(lesson)


def test_placeholders_fill_lesson_say_and_because(tmp_path):
    summary_file(tmp_path)
    lesson = tmp_path / "lesson.toml"
    lesson.write_text('title = "t"\nlesson = "{validation.gap.ratio.median}x"\n[train]\nsteps = 10\n'
                      '[[event]]\nat_step = 0\nsay = "{validation.seeds}"\n'
                      '[[expect]]\nkind = "no_divergence"\nid = "gap"\n'
                      'because = "on {validation.gap.pass_rate:.0%}"\n')
    scenario = load_scenario(lesson)
    assert (scenario.lesson, scenario.events[0].say, scenario.expectations[0].because) == \
        ("5x", "0-9", "on 90%")
    raw = load_scenario(lesson, fill_figures=False)
    assert raw.lesson == "{validation.gap.ratio.median}x"


def test_every_placeholder_in_the_builtin_lessons_resolves():
    quoted = 0
    for name in builtin_names():
        text = resolve(name).read_text(encoding="utf-8")
        quoted += len(PLACEHOLDER.findall(text))
        load_scenario(name)          # raises ScenarioError naming the placeholder if one is missing
    if quoted:
        assert (resolve(builtin_names()[0]).parent / "validation.json").is_file()


def test_many_seeds_list_each_failed_expectation_once(tmp_path, capsys):
    from nnsim import headless

    lesson = tmp_path / "impossible.toml"
    lesson.write_text('title = "t"\n[data]\nkind = "circle"\nn_points = 100\n[train]\nsteps = 10\n'
                      '[[expect]]\nkind = "final_above"\nmetric = "val_acc"\nthreshold = 1.01\n')
    seeds = list(range(14))
    status = headless.check_scenarios([str(lesson)], seeds, workers=1, progress=False)
    failed = capsys.readouterr().out.split("failed:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert status == 1
    assert len(failed) == 1
    assert failed[0].startswith(f"  impossible 1 final_above: 14 of 14 seeds "
                                f"({', '.join(map(str, seeds[:12]))}, …); seed 0: ")
    assert failed[0].endswith("(needed >= 1.01)")

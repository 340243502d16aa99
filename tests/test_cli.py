"""The nnsim command line: broken files, seeds, list/show, headless runs and their files."""

import argparse
import csv
import dataclasses
import errno
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
import warnings
import types
from pathlib import Path

import pytest

from conftest import LESSON, interruptible
from nnsim import headless
from nnsim.__main__ import main, parse_seeds
from nnsim.core.config import TrainConfig
from nnsim.core.scenario import builtin_names, load_scenario

HERE = Path(__file__).parent
BROKEN = sorted((HERE / "broken_scenarios").glob("*.toml"))
COMPARE = HERE / "scenarios" / "compare.toml"
OWN_DATA = HERE / "scenarios" / "own-data.toml"


def header(path: Path, name: str) -> list[str]:
    """``# expect-key: ...`` lines at the top of a broken file say what its error must name."""
    prefix = f"# {name}: "
    return [line[len(prefix):].strip() for line in path.read_text().splitlines()
            if line.startswith(prefix)]


def test_the_corpus_covers_the_issue_list():
    names = {p.stem for p in BROKEN}
    assert {"bad-toml", "unknown-top-key", "train-typo", "wrong-type", "negative-lr", "bad-split",
            "expect-unknown-variant", "event-unknown-variant", "expect-missing-key",
            "expect-unknown-kind", "event-no-time", "missing-csv", "bad-csv",
            "table-not-table", "missing-title"} <= names
    assert all(header(p, "expect-key") for p in BROKEN)


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_a_broken_scenario_gives_one_line_and_status_2(path, capsys):
    status = main(["run", str(path), "--quiet"])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    [key] = header(path, "expect-key")
    assert lines[0].startswith(f"{path}: {key}"), lines[0]
    for text in header(path, "expect-text"):
        assert text in lines[0]
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize("command", [["show"], ["check", "--quiet"]])
def test_other_commands_report_broken_files_the_same_way(command, capsys):
    path = HERE / "broken_scenarios" / "train-typo.toml"
    assert main(command + [str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{path}: train.optimiser")


def test_broken_scenario_in_a_real_process():
    path = HERE / "broken_scenarios" / "negative-lr.toml"
    proc = subprocess.run([sys.executable, "-m", "nnsim", "run", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"{path}: train.lr: ")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv, hint", [
    (["run", str(COMPARE), "--set", "train.lrr=0.1"], "--set: train.lrr: unknown key (did you mean 'train.lr'?)"),
    (["run", str(COMPARE), "--set", "train.lr=-1"], "--set: train.lr: expected a learning rate > 0"),
    (["run", str(COMPARE), "--set", "model.layers=[0]"], "--set: model.layers"),
    (["run", "no-such-lesson"], "no-such-lesson: no built-in lesson"),
    (["show", "nowhere/lesson.toml"], "nowhere/lesson.toml: no such file"),
    (["run", str(COMPARE), "--set", "train.lr=1e-400"], "--set: train.lr: 1e-400 reads as 0.0"),
    (["run", str(COMPARE), "--set", "\n=0"], "--set: \\n=0: expected key=value"),
    (["run", str(COMPARE), "--set", "train.lr=1e400"], "--set: train.lr: expected a finite number, got inf"),
    (["run", str(COMPARE), "--set", "model.layers=" + "[" * 1000 + "]" * 1000],
     "--set: model.layers: lists or tables nested too deeply"),
])
def test_bad_command_line_values(argv, hint, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(hint), err


@pytest.mark.parametrize("argv", [["run"], ["check", "--seeds", "9-3"], ["run", str(COMPARE), "--seed", "-1"],
                                  ["frobnicate", "--bogus"]])
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["check", "--help"], ["show", "--help"],
                                  ["list", "--help"]])
def test_help(argv, capsys):
    assert main(argv) == 0
    assert "usage: nnsim" in capsys.readouterr().out


@pytest.mark.parametrize("text, seeds", [("0-9", list(range(10))), ("3", [3]), ("0,2,5", [0, 2, 5]),
                                         ("0-2,7", [0, 1, 2, 7]), ("4,4", [4]), ("5,0-2", [0, 1, 2, 5]),
                                         ("3-6,0-4", list(range(7))), ("0-2,4-5,3", list(range(6)))])
def test_parse_seeds(text, seeds):
    parsed = parse_seeds(text)
    assert list(parsed) == seeds and len(parsed) == len(seeds)
    assert [parsed[i] for i in range(len(seeds))] == seeds and parsed[-1] == seeds[-1]


@pytest.mark.parametrize("text", ["", "a", "3-1", "1-", "-2", "1,,2", "²"])
def test_parse_seeds_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected seeds like 0-9"):
        parse_seeds(text)


def test_list_prints_every_builtin_name_first(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = builtin_names()
    assert names and [line.split()[0] for line in lines] == names
    for name, line in zip(names, lines):
        scenario = load_scenario(name)
        assert (scenario.summary or scenario.title) in line


def test_show(capsys):
    assert main(["show", str(COMPARE)]) == 0
    out = capsys.readouterr().out
    scenario = load_scenario(COMPARE)
    assert scenario.title in out
    assert "n_points = 200   # default 500" in out          # what the lesson changes, with the default
    assert "divergence_factor = 1000000.0\n" in out          # and every default key
    for v in scenario.variants:
        assert v.name in out
    assert 'train.optimizer = "sgd"' in out
    assert "at epoch 20 [sgd]: train.lr = 0.02" in out
    assert "final_below: metric = \"train_loss\", variant = \"adam\", than = \"sgd\"" in out
    assert "because: Adam adapts" in out


def test_tui_without_the_dashboard_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "nnsim.tui.app", None)   # importing it fails
    assert main([str(COMPARE)]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_tui_gets_the_scenario_and_options(monkeypatch):
    calls = []
    fake = types.ModuleType("nnsim.tui.app")
    fake.run_app = lambda scenario, **kwargs: calls.append((scenario, kwargs))
    monkeypatch.setitem(sys.modules, "nnsim.tui.app", fake)
    assert main([str(COMPARE), "--seed", "4", "--replay", "--set", "train.lr=0.3"]) == 0
    assert calls == [(str(COMPARE), {"seed": 4, "overrides": (("train.lr", 0.3),),
                                     "replay": True, "autoplay": False, "served": False,
                                     "data_folder": None})]
    assert main(["tests/broken_scenarios/negative-lr.toml"]) == 2     # checked before the TUI starts
    assert main([str(COMPARE), "--set", "train.lr=-1"]) == 2           # and so is --set
    assert len(calls) == 1


# ----------------------------------------------------------------------------- real runs

def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def compare_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    status = main(["run", str(COMPARE), "--seed", "3", "--out", str(out), "--quiet"])
    return status, out


def test_run_writes_metrics_and_summary(compare_out):
    status, out = compare_out
    assert status in (0, 1)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "summary.json"]   # no temp files
    scenario = load_scenario(COMPARE, seed=3)
    rows = read_csv(out / "metrics.csv")
    n_layers = len(scenario.base.model.layers) + 1
    assert list(rows[0]) == (["step", "epoch", "variant", "train_loss", "val_loss", "train_acc",
                              "val_acc", "batch_loss", "batch_loss_std", "lr"]
                             + [f"grad_norm_{i}" for i in range(n_layers)]
                             + [f"update_ratio_{i}" for i in range(n_layers)])
    summary = json.loads((out / "summary.json").read_text())
    assert [v["variant"] for v in summary["variants"]] == [v.name for v in scenario.variants]
    assert summary["seed"] == 3
    for v in scenario.variants:
        mine = [r for r in rows if r["variant"] == v.name]
        steps = [int(r["step"]) for r in mine]
        assert steps == sorted(steps) and steps[-1] == v.config.train.steps
        # one row per check: step 0 and every eval_every steps (the run is short: no downsampling)
        assert len(mine) == v.config.train.steps // v.config.train.eval_every + 1
        final = next(s for s in summary["variants"] if s["variant"] == v.name)
        assert final["step"] == v.config.train.steps
        assert float(mine[-1]["val_loss"]) == final["val_loss"]
    # rows by variant, then step
    order = [r["variant"] for r in rows]
    assert order == sorted(order, key=[v.name for v in scenario.variants].index)
    # the event at epoch 20 raised sgd's learning rate; adam's never changed
    lrs = {r["variant"]: set() for r in rows}
    for r in rows:
        lrs[r["variant"]].add(float(r["lr"]))
    assert len(lrs["sgd"]) == 2 and len(lrs["adam"]) == 1
    assert len(summary["expectations"]) == len(scenario.expectations)
    assert summary["passed"] == all(e["passed"] for e in summary["expectations"])
    assert status == (0 if summary["passed"] else 1)


def test_same_seed_same_bytes_however_the_threads_run(compare_out, tmp_path):
    _, first = compare_out
    again = tmp_path / "again"
    assert main(["run", str(COMPARE), "--seed", "3", "--out", str(again), "--quiet", "--jobs", "1"]) \
        == compare_out[0]
    for name in ("metrics.csv", "summary.json"):
        assert (again / name).read_bytes() == (first / name).read_bytes()
    other = tmp_path / "other"
    main(["run", str(COMPARE), "--seed", "4", "--out", str(other), "--quiet"])
    assert (other / "metrics.csv").read_bytes() != (first / "metrics.csv").read_bytes()


def test_run_output_narrates_and_tabulates(compare_out, capsys):
    main(["run", str(COMPARE), "--quiet", "--set", "train.steps=200"])
    out = capsys.readouterr().out
    assert "[step 100, all] A third of the way" in out
    assert "[step 140, sgd] train.lr = 0.02" in out
    assert "stopped early at" in out and "test acc" in out
    table = [line.split() for line in out.splitlines() if line.startswith(("adam ", "sgd "))]
    assert [row[1] for row in table] == ["200", "200"]       # --set train.steps reached every variant
    assert "no_divergence:" in out and "because: Adam adapts" in out


def test_run_narrates_in_step_order_whichever_run_got_there_first(capsys):
    """Each variant tells its lines as it gets there: one after another (or on threads of
    their own), momentum's slow SGD reached step 1000 before its control reached 150, and
    printed it first."""
    assert main(["run", "momentum", "--quiet", "--jobs", "1"]) == 0     # one run after another
    steps = [int(line.split(",")[0].removeprefix("[step "))
             for line in capsys.readouterr().out.splitlines() if line.startswith("[step ")]
    assert len(steps) >= 3 and steps == sorted(steps)


def test_progress_lines_when_not_a_terminal(capsys):
    main(["run", str(COMPARE), "--set", "train.steps=40"])
    err = capsys.readouterr().err
    assert "adam: step 40 of 40" in err and "sgd: step 40 of 40" in err


def test_set_applies_and_is_recorded(tmp_path):
    main(["run", str(COMPARE), "--set", "train.steps=50", "--set", "model.layers=[4]",
          "--out", str(tmp_path), "--quiet"])
    rows = read_csv(tmp_path / "metrics.csv")
    assert max(int(r["step"]) for r in rows) == 50
    assert [k for k in rows[0] if k.startswith("grad_norm_")] == ["grad_norm_0", "grad_norm_1"]
    assert [k for k in rows[0] if k.startswith("update_ratio_")] == ["update_ratio_0", "update_ratio_1"]
    # no update before the first step; after it, a positive size relative to the weights
    assert rows[0]["update_ratio_0"] == "nan" and 0 < float(rows[-1]["update_ratio_0"]) < 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["set"] == {"train.steps": 50, "model.layers": [4]}


def test_own_csv_data_and_a_single_run(tmp_path, capsys):
    assert main(["run", str(OWN_DATA), "--out", str(tmp_path), "--quiet"]) in (0, 1)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [v["variant"] for v in summary["variants"]] == ["base"]


def test_a_failed_expectation_exits_1(tmp_path, capsys):
    lesson = tmp_path / "impossible.toml"
    lesson.write_text('title = "No accuracy above 1"\n[data]\nkind = "circle"\nn_points = 100\n'
                      '[train]\nsteps = 20\n'
                      '[[expect]]\nkind = "final_above"\nmetric = "val_acc"\nthreshold = 1.01\n')
    assert main(["run", str(lesson), "--quiet"]) == 1
    assert "FAIL  final_above" in capsys.readouterr().out


def test_check_table(tmp_path, capsys):
    lesson = tmp_path / "impossible.toml"
    lesson.write_text('title = "t"\n[data]\nkind = "circle"\nn_points = 100\n[train]\nsteps = 20\n'
                      '[[expect]]\nkind = "final_above"\nmetric = "val_acc"\nthreshold = 1.01\n')
    status = main(["check", str(COMPARE), str(lesson), "--seeds", "0,1", "--quiet"])
    out = capsys.readouterr().out
    assert status == 1
    lines = out.splitlines()
    assert lines[0].split() == ["scenario", "seed", "0", "seed", "1"]
    assert lines[3].split() == ["impossible", "FAIL", "FAIL"]
    assert lines[2].split()[0] == "compare"
    assert "impossible seed 1: final_above:" in out


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_is_one_line_rewritten(tmp_path):
    from nnsim.headless import run_scenario

    out, err = io.StringIO(), Terminal()
    scenario = load_scenario(COMPARE, overrides=(("train.steps", 120),))
    assert run_scenario(scenario, out=out, err=err) in (0, 1)
    assert "\n" not in err.getvalue()                      # never a new line, only \r rewrites
    assert "adam 120/120" in err.getvalue() and err.getvalue().endswith("\r\033[K")
    assert "\r" not in out.getvalue()
    quiet = Terminal()
    run_scenario(scenario, out=io.StringIO(), err=quiet, quiet=True)
    assert quiet.getvalue() == ""


def test_a_closed_pipe_ends_quietly():
    """`nnsim show x | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "nnsim", "show", "momentum"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()     # before nnsim writes a byte
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


# --- results that must not be silently wrong ------------------------------------------------

def scenario_file(folder: Path, text: str, name: str = "lesson.toml") -> Path:
    path = folder / name
    path.write_text('title = "A test lesson"\n' + text)
    return path


def test_an_event_ending_the_run_at_its_step_still_measures_the_test_split(tmp_path, capsys):
    path = scenario_file(tmp_path, """
[data]
kind = "circle"
n_points = 60
[train]
steps = 100
[[event]]
at_step = 15
set = { "train.steps" = 15 }
[[expect]]
kind = "final_below"
metric = "test_loss"
threshold = 100.0
""")
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 0
    assert "pending" not in capsys.readouterr().out
    [row] = json.loads((tmp_path / "out" / "summary.json").read_text())["variants"]
    assert row["step"] == 15 and row["test_loss"] is not None


def test_eval_every_past_the_end_reports_the_last_step(tmp_path):
    path = scenario_file(tmp_path, """
[data]
kind = "circle"
n_points = 60
[train]
steps = 25
eval_every = 1000
""")
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 0
    steps = [row["step"] for row in csv.DictReader(io.StringIO((tmp_path / "out" / "metrics.csv").read_text()))]
    assert steps == ["0", "25"]


def test_an_expectation_on_an_empty_test_split_is_refused(tmp_path, capsys):
    path = scenario_file(tmp_path, """
[data]
split = [0.8, 0.2, 0.0]
[[expect]]
kind = "final_below"
metric = "test_loss"
threshold = 1.0
""")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: expect[1].metric: test_loss needs a test split") and err.count("\n") == 1


def test_an_empty_test_split_reads_as_no_value_not_divergence(tmp_path, capsys):
    path = scenario_file(tmp_path, "[data]\nn_points = 60\nsplit = [0.8, 0.2, 0.0]\n[train]\nsteps = 20\n")
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "out")]) == 0
    assert "inf" not in capsys.readouterr().out
    [row] = json.loads((tmp_path / "out" / "summary.json").read_text())["variants"]
    assert row["test_loss"] is None and row["diverged_step"] is None


def test_a_directory_as_the_csv_gets_its_own_message(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    path = scenario_file(tmp_path, '[data]\nkind = "csv"\npath = "data"\ntarget_column = "y"\n')
    assert main(["show", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"{path}: data.path: a directory, not a CSV file")


def test_a_home_relative_csv_path_is_accepted(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "blobs.csv").write_text((HERE / "scenarios" / "two-blobs.csv").read_text())
    (tmp_path / "lessons").mkdir()
    path = scenario_file(tmp_path / "lessons", """
[data]
kind = "csv"
path = "~/blobs.csv"
target_column = "label"
[train]
steps = 10
""")
    assert main(["run", str(path), "--quiet"]) == 0, capsys.readouterr().err


# --- output and parser edges -----------------------------------------------------------------

@pytest.mark.parametrize("where, words", [
    ("a-file", "is a file, not a folder"),
    ("a-file/below", "a part of the path is a file, not a folder"),
])
def test_an_out_that_cannot_take_the_files_is_refused_before_training(tmp_path, capsys, where, words):
    (tmp_path / "a-file").write_text("")
    out = tmp_path / where
    assert main(["run", str(COMPARE), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"nnsim: --out {out}: {words}\n"
    assert "expectations hold" not in captured.out


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "locked"
    out.mkdir(mode=0o555)
    assert main(["run", str(COMPARE), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"nnsim: --out {out}: cannot write there")


def test_output_files_follow_the_umask(tmp_path, capsys):
    previous = os.umask(0o027)
    try:
        assert main(["run", str(COMPARE), "--quiet", "--out", str(tmp_path)]) in (0, 1)
    finally:
        os.umask(previous)
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o640}


def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    from nnsim.core import report

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report.os, "fsync", full)
    assert main(["run", str(COMPARE), "--quiet", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "nnsim: cannot write: No space left on device\n"
    assert list(tmp_path.iterdir()) == []


def test_an_ascii_terminal_gets_escapes_not_a_traceback(tmp_path):
    path = scenario_file(tmp_path, """
[data]
n_points = 60
[train]
steps = 20
[[event]]
at_step = 10
say = "A dash — and a ×"
""")
    proc = subprocess.run([sys.executable, "-m", "nnsim", "run", str(path), "--quiet"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr
    assert "A dash \\u2014 and a \\xd7" in proc.stdout


def test_a_scenario_nested_a_thousand_deep_is_one_line(tmp_path, capsys):
    path = scenario_file(tmp_path, "[data]\nsplit = " + "[" * 1000 + "]" * 1000 + "\n")
    assert main(["show", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}: lists or tables nested too deeply to read (a scenario needs a few levels)\n"


def test_extreme_values_print_no_numpy_warnings(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status = main(["run", "playground", "--quiet", "--set", "train.steps=30",
                       "--set", "model.output_bias=-1e308"])
    assert status in (0, 1) and "Warning" not in capsys.readouterr().err


# --- terminal hygiene, signals, long jobs ----------------------------------------------------

HOSTILE_TEXT = 'Evil \\u001b]0;window title\\u0007\\u001b[31mred\\u001b[0m \\u0007bell\\u009b2J'


def test_escape_sequences_in_a_scenario_never_reach_the_terminal(tmp_path, capsys):
    path = scenario_file(tmp_path, f"""
summary = "{HOSTILE_TEXT}"
[train]
steps = 20
[data]
n_points = 60
path = "{HOSTILE_TEXT}"
[[variant]]
name = "a"
label = "{HOSTILE_TEXT}"
[[event]]
at_step = 10
say = "{HOSTILE_TEXT}"
[[expect]]
kind = "no_divergence"
variant = "a"
because = "{HOSTILE_TEXT}"
""")
    assert main(["show", str(path)]) == 0
    assert main(["run", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Evil red bell" in out and "(Evil red bell)" in out
    assert not any(ord(c) < 32 and c != "\n" or 0x7f <= ord(c) < 0xa0 for c in out)


def test_escape_sequences_in_an_error_never_reach_the_terminal(tmp_path, capsys):
    path = scenario_file(tmp_path, '[train]\n"\\u001b[2Jlr" = 1\n')
    assert main(["show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"{path}: 'train.\\x1b[2Jlr': unknown key; valid keys: " \
        + ", ".join(sorted(f.name for f in dataclasses.fields(TrainConfig))) + "\n"


@pytest.mark.parametrize("signum, status, line", [(signal.SIGINT, 130, "nnsim: interrupted"),
                                                  (signal.SIGTERM, 143, "nnsim: terminated"),
                                                  (signal.SIGHUP, 129, "nnsim: hung up")])
def test_a_signal_mid_run_ends_it_with_one_line_and_no_files(tmp_path, signum, status, line):
    out = tmp_path / "out"
    # Warm the kernel cache first: this test is about a signal mid-run.
    subprocess.run([sys.executable, "-m", "nnsim", "run", "playground", "--quiet",
                    "--set", "train.steps=20"], capture_output=True)   # 1: expectations unmet
    proc = subprocess.Popen([sys.executable, "-m", "nnsim", "run", "playground", "--quiet",
                             "--set", "train.steps=50000000", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    assert proc.stdout.readline().startswith("playground:")
    assert proc.stdout.readline().startswith("1 run")     # training starts after this line
    time.sleep(0.5)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=180)
    assert (proc.returncode, err) == (status, line + "\n")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("signum, status, line", [(signal.SIGINT, 130, "nnsim: interrupted"),
                                                  (signal.SIGTERM, 143, "nnsim: terminated")])
def test_a_signal_during_the_first_compile_ends_it_with_one_line_and_no_files(tmp_path, signum,
                                                                             status, line):
    """A cold kernel cache of its own: the signal lands while Numba compiles, which the run
    cannot leave early; the command says so in one line and ends without waiting for it."""
    out = tmp_path / "out"
    cold = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "nnsim", "run", "playground", "--quiet",
                             "--out", str(out)], env=cold,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    assert proc.stdout.readline().startswith("playground:")
    assert proc.stdout.readline().startswith("1 run")
    time.sleep(1.0)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=180)
    assert (proc.returncode, err) == (status, line + "\n")
    assert not out.exists() or list(out.iterdir()) == []
    assert not list((tmp_path / "cache").rglob("*train_chunk*.nbc")), "it waited for the compile"
    assert list(out.iterdir()) == []


def test_check_sends_jobs_as_it_goes_and_tells_each_result(capsys):
    from nnsim.executor import LocalPool

    drawn, drawn_at_first_result = [], []

    class Counting(LocalPool):
        def play(self, jobs):
            def counted():
                for job in jobs:
                    drawn.append(job.seed)
                    yield job
            return super().play(counted())

    class Progress(io.StringIO):
        def write(self, text):
            if "hold" in text and not drawn_at_first_result:
                drawn_at_first_result.append(len(drawn))
            return super().write(text)

    err = Progress()
    seeds = list(range(12))
    assert headless.check_scenarios([str(COMPARE)], seeds, overrides=(("train.steps", 20),),
                                    executor=Counting(1), out=io.StringIO(), err=err) == 0
    assert drawn_at_first_result[0] <= 4 and sorted(set(drawn)) == seeds
    assert err.getvalue().count("hold\n") == len(seeds)


def test_the_live_progress_line_fits_the_terminal():
    err = Terminal()
    console = headless.Console(io.StringIO(), err, progress=True)
    config = load_scenario(COMPARE).variants[0].config
    for i in range(30):
        run = types.SimpleNamespace(name=f"variant-{i:02d}", step=10 * i, diverged=False,
                                    stopped_early=False, finished=i == 29, config=config)
        console.update(run)
    lines = [part.split("\r")[0] for part in err.getvalue().split("\033[K") if part]
    assert lines and max(len(line) for line in lines) <= 79


def test_run_shows_what_each_cleaning_rule_found_and_did(capsys):
    from nnsim.core.data import build_dataset

    main(["run", "data-cleaning", "--quiet", "--set", "train.steps=10"])
    out = capsys.readouterr().out
    table = out.split("data cleaning (records, over all splits):\n", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:              # variant, rule (may hold a space), 3 counts
        variant, rest = line.split(None, 1)
        rule, *counts = rest.rsplit(None, 3)
        rows[(variant, rule)] = counts
    scenario = load_scenario("data-cleaning")
    for variant in scenario.variants:
        report = build_dataset(variant.config.data, variant.config.train.seed).cleaning
        for rule, found, dropped, repaired in report.rows():
            assert rows[(variant.name, rule)] == [str(found), str(dropped), str(repaired)]
        total = rows[(variant.name, f"all ({report.mode})")]
        assert total == [str(report.bad_records), str(report.dropped_records), str(report.repaired_records)]
    assert rows[("drop", "all (drop)")][0] == rows[("drop", "all (drop)")][1] != "0"   # drop removes all it finds


def test_figures_of_the_new_kinds_are_the_logged_numbers(tmp_path):
    """What at_step, relate and a per-layer metric report is what metrics.csv holds."""
    main(["run", str(HERE / "scenarios" / "kinds.toml"), "--out", str(tmp_path), "--quiet"])
    rows = read_csv(tmp_path / "metrics.csv")
    figures = {e["id"]: e["figures"] for e in json.loads((tmp_path / "summary.json").read_text())["expectations"]}

    def logged(variant, step, column):
        return float(next(r[column] for r in rows if r["variant"] == variant and int(r["step"]) == step))

    assert figures["first-loss"]["value"] == logged("adam", 0, "train_loss")
    ahead = figures["adam-ahead"]
    assert (ahead["value"], ahead["other"]) == (logged("adam", 100, "val_loss"), logged("sgd", 100, "val_loss"))
    assert ahead["ratio"] == pytest.approx(ahead["value"] / ahead["other"])
    last = [r for r in rows if r["variant"] == "adam"][-1]
    assert figures["gap"]["ratio"] == pytest.approx(float(last["val_loss"]) / float(last["train_loss"]))
    output_layer = max(int(k.rsplit("_", 1)[1]) for k in last if k.startswith("update_ratio_"))
    assert figures["update-size"]["value"] == float(last[f"update_ratio_{output_layer}"]) > 0


def test_show_says_classes_is_not_read_for_two_class_data(capsys, tmp_path):
    assert main(["show", "learning-loop"]) == 0                 # gaussians: always two clusters
    assert "classes = 3   # not read" in capsys.readouterr().out
    blobs = tmp_path / "blobs.toml"
    blobs.write_text(LESSON.replace('kind = "spiral"', 'kind = "blobs"'))
    assert main(["show", str(blobs)]) == 0
    assert "classes = 3\n" in capsys.readouterr().out

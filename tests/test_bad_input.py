"""Bad input to the headless commands and the core's loaders, found by a hostile-use probe: each
is refused in one line (exit 2) naming the file or option, the key and what was expected, or
handled correctly, never a traceback, a hang or a half-written file."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import get_args

import pytest

from nnsim import headless
from nnsim.__main__ import main
from nnsim.core import budget, report
from nnsim.core.config import KEYS, ConfigError, DataConfig, RunConfig, with_value
from nnsim.core.data import build_dataset
from nnsim.core.data.csv_loader import MAX_CSV_BYTES, MAX_HEADER_BYTES, csv_header
from nnsim.core.data.records import DataError
from nnsim.core.run import Run
from nnsim.core.scenario import ScenarioError, load_scenario, parse_scenario
from nnsim.core.validation import Seeds, read_summary

HERE = Path(__file__).parent
COMPARE = HERE / "scenarios" / "compare.toml"
TINY = """\
title = "Tiny"
[data]
kind = "circle"
n_points = 200
[model]
layers = [3]
[train]
steps = 100
eval_every = 10
"""


def one_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def lesson(tmp_path: Path, extra: str = "", base: str = TINY) -> Path:
    path = tmp_path / "lesson.toml"
    path.write_text(base + textwrap.dedent(extra), encoding="utf-8")
    return path


def nnsim(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnsim", *argv], capture_output=True, text=True,
                          timeout=120, **kwargs)


# ----------------------------------------------------------------------------- 1. --seeds

def test_seeds_are_ranges_never_listed():
    """0-99999 twice was a quadratic de-duplication (minutes); 0-999999999999 a list of 10^12."""
    code = ("from nnsim.__main__ import parse_seeds\n"
            "s = parse_seeds('0-99999,0-99999,5-10'); print(len(s), s[-1])\n"
            "s = parse_seeds('0-999999999999'); print(len(s), s[123456789])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["100000", "99999", "1000000000000", "123456789"]


def test_seeds_merge_overlaps_and_run_in_order():
    seeds = Seeds([(7, 9), (0, 2), (1, 4), (5, 5)])
    assert seeds.ranges == ((0, 5), (7, 9)) and str(seeds) == "0-5,7-9"
    assert list(seeds) == [0, 1, 2, 3, 4, 5, 7, 8, 9] == [seeds[i] for i in range(len(seeds))]
    with pytest.raises(IndexError):
        seeds[9]


def test_check_runs_each_seed_once_in_order(tmp_path, capsys):
    path = lesson(tmp_path, '[[expect]]\nkind = "no_divergence"\n')
    assert main(["check", str(path), "--seeds", "2,0-1,1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[1:] == ["seed", "0", "seed", "1", "seed", "2"]
    assert "3 of 3 scenario x seed checks pass" in out


@pytest.mark.parametrize("text", ["0-1000000000000000000", "9" * 5000])
def test_seeds_past_the_largest_seed_are_refused(text, capsys):
    assert main(["check", str(COMPARE), "--seeds", text]) == 2
    assert "expected seeds from 0 to 999,999,999,999,999,999" in capsys.readouterr().err


def test_ctrl_c_while_the_arguments_are_read_is_one_line(monkeypatch, capsys):
    def interrupted(text):
        raise KeyboardInterrupt
    monkeypatch.setattr("nnsim.__main__.parse_seeds", interrupted)
    assert main(["check", str(COMPARE), "--seeds", "0-9"]) == 130
    assert one_line(capsys) == "nnsim: interrupted"


# ----------------------------------------------------------------------------- 2. --summary

def refuse_to_run(monkeypatch):
    def ran(*args, **kwargs):
        raise AssertionError("ran before refusing the input")
    monkeypatch.setattr(headless, "check_scenarios", ran)
    monkeypatch.setattr(headless, "run_scenario", ran)


def test_summary_from_a_device_or_a_pipe_is_refused_before_it_is_read(tmp_path, monkeypatch, capsys):
    refuse_to_run(monkeypatch)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)          # opening it to read would wait for a writer for ever
    for path in ("/dev/zero", str(fifo)):
        assert main(["check", str(COMPARE), "--summary", path]) == 2
        assert one_line(capsys) == (f"nnsim: --summary {path}: expected a regular file (or a new one), "
                                    "not a device, pipe or socket")


GOOD_SUMMARY = {"format": 1, "scenarios": {"x": {"seeds": "0", "runs": 1, "expectations": {"1": {
    "kind": "reaches", "asks": "", "passed": 1, "runs": 1, "pass_rate": 1.0, "figures": {
        "step": {"measured": 1, "infinite": 0, "median": 3.0, "p5": "inf", "p95": None}}}}}}}


@pytest.mark.parametrize("change, where", [
    (lambda s: s.update(scenarios=[1]), "scenarios: expected an object"),
    (lambda s: s["scenarios"]["x"].update(seeds=3), "scenarios.x.seeds"),
    (lambda s: s["scenarios"]["x"]["expectations"]["1"].update(passed="all"),
     "scenarios.x.expectations.1.passed: expected a whole number"),
    (lambda s: s["scenarios"]["x"]["expectations"]["1"]["figures"]["step"].update(median="oops"),
     "scenarios.x.expectations.1.figures.step.median: expected a number"),
    (lambda s: s["scenarios"]["x"]["expectations"]["1"].update(figures=[]),
     "scenarios.x.expectations.1.figures: expected an object"),
    (lambda s: s.update(format=2), "format: expected 1"),
])
def test_a_summary_of_the_wrong_structure_is_refused_before_anything_runs(change, where, tmp_path,
                                                                           monkeypatch, capsys):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(GOOD_SUMMARY))
    assert read_summary(path)["scenarios"]["x"]["runs"] == 1        # the control: it reads
    doc = json.loads(json.dumps(GOOD_SUMMARY))
    change(doc)
    path.write_text(json.dumps(doc))
    refuse_to_run(monkeypatch)
    assert main(["check", str(COMPARE), "--summary", str(path)]) == 2
    line = one_line(capsys)
    assert line.startswith(f"nnsim: --summary {path}: not a validation summary") and where in line


# ----------------------------------------------------------------------------- 3. huge numbers

BIG = "1" + "0" * 300


@pytest.mark.parametrize("setting, expected", [
    ("data.noise=1e999", "--set: data.noise: expected a finite number, got inf"),
    (f"train.steps={BIG}", "--set: train.steps: expected at most 100,000,000, got an integer of 301 digits"),
    (f"train.lr={BIG}0000000000", "--set: train.lr: expected a finite number, got an integer of 311 digits"),
    (f"data.noise={BIG}{BIG}", "--set: data.noise: expected a finite number"),
    ("train.eval_every=18446744073709551616", "--set: train.eval_every: expected at most 100,000,000"),
    ("train.seed=18446744073709551616", "--set: train.seed: expected at most 999,999,999,999,999,999"),
    ("train.batch_size=18446744073709551616", "--set: train.batch_size: expected at most 1,000,000"),
    (f"model.layers=[8, {BIG}]", "--set: model.layers: expected at most 100,000"),
    ("train.steps=1" + "0" * 5000, "--set: train.steps: a number of thousands of digits"),
])
def test_huge_numbers_in_set_are_refused_in_one_line(setting, expected, monkeypatch, capsys):
    refuse_to_run(monkeypatch)
    assert main(["run", str(COMPARE), "--set", setting]) == 2
    assert one_line(capsys).startswith(expected)


@pytest.mark.parametrize("line, key", [("eval_every = 18446744073709551616", "train.eval_every"),
                                       ("eval_every = 1" + "0" * 5000, "")])
def test_huge_numbers_in_a_file_are_refused_in_one_line(line, key, tmp_path):
    path = lesson(tmp_path, base=TINY.replace("eval_every = 10", line))
    with pytest.raises(ScenarioError) as refused:
        load_scenario(path)
    assert refused.value.key == key and "\n" not in str(refused.value)


def test_every_integer_setting_has_a_bound_the_kernels_can_hold():
    integers = [key for key in KEYS.values() if key.type is int or int in get_args(key.type)]
    assert {key.name for key in integers} >= {"train.eval_every", "train.steps", "train.seed",
                                              "model.layers", "data.n_points"}
    for key in integers:
        assert key.most is not None and 0 < key.most < 2**63, key.name
        too_big = [key.most + 1] if isinstance(key.default, tuple) else key.most + 1
        with pytest.raises(ConfigError, match=f"expected at most {key.most:,}"):
            with_value(RunConfig(), key.name, too_big)


# ----------------------------------------------------------------------------- 4. signals

def test_an_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    (tmp_path / "summary.json").write_text("before")

    def hung_up(fd):
        raise KeyboardInterrupt     # what a signal handler raises, mid-write
    monkeypatch.setattr(report.os, "fsync", hung_up)
    with pytest.raises(KeyboardInterrupt):
        report.write_atomically(tmp_path, "summary.json", "after" * 1000)
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    assert (tmp_path / "summary.json").read_text() == "before"


def test_sighup_during_the_out_write_ends_like_sigterm_and_leaves_nothing(tmp_path):
    """The signal arrives while the first file is being written (fsync), as a closing terminal's
    would; the default action ended the process there and left a .tmp file."""
    out = tmp_path / "out"
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        from nnsim.core import report
        def fsync(fd):
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(5)
        report.os.fsync = fsync
        from nnsim.__main__ import main
        sys.exit(main(["run", {str(COMPARE)!r}, "--quiet", "--set", "train.steps=20", "--out", {str(out)!r}]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 128 + signal.SIGHUP, proc.stderr
    assert proc.stderr.splitlines() == ["nnsim: hung up"]
    assert list(out.iterdir()) == []


# ----------------------------------------------------------------------------- 5. --out

@pytest.mark.parametrize("name", ["summary.json", "metrics.csv"])
def test_out_with_a_folder_in_the_way_of_a_file_is_refused_before_training(name, tmp_path, monkeypatch,
                                                                            capsys):
    (tmp_path / name).mkdir()
    refuse_to_run(monkeypatch)
    assert main(["run", str(COMPARE), "--out", str(tmp_path)]) == 2
    assert one_line(capsys) == f"nnsim: --out {tmp_path}: {name} there is a folder; expected a file or nothing"
    assert [p.name for p in tmp_path.iterdir()] == [name]


# ----------------------------------------------------------------------------- 6. stdout closed

@pytest.mark.parametrize("argv", [["list"], ["run", str(COMPARE), "--set", "train.steps=10"],
                                  ["show", "dropout"]])
def test_closed_stdout_is_one_line_and_status_2(argv):
    proc = nnsim(*argv, preexec_fn=lambda: os.close(1))
    assert proc.returncode == 2
    assert proc.stderr == "nnsim: standard output is closed; nothing could be shown\n"


# ----------------------------------------------------------------------------- 7. refused at load

@pytest.mark.parametrize("extra, key, words", [
    ('[[expect]]\nkind = "reaches"\nmetric = "val_loss"\nthreshold = 0.1\nwithin = -10\n',
     "expect[1].within", "expected a number of steps >= 0"),
    ('[[expect]]\nkind = "grad_ratio"\nbelow = 2.0\nlast = 100000000\n',
     "expect[1].last", "expected from 1 to 10 checks"),
    ('[[expect]]\nkind = "diverges"\nbefore_step = -1\n', "expect[1].before_step", ">= 0"),
    ('[[event]]\nat_epoch = 21\nsay = "late"\n', "event[1].at_epoch", "starts by train.steps (100)"),
    ('[[variant]]\nname = "a"\nseed_offset = 1000000000000000000\n', "variant[a].seed_offset", "from 0 to"),
])
def test_expectations_and_events_that_cannot_be_met_are_refused(extra, key, words, tmp_path):
    with pytest.raises(ScenarioError) as refused:
        load_scenario(lesson(tmp_path, extra))
    assert refused.value.key == key and words in refused.value.message


def test_at_the_edge_they_load():
    """The negative control: 140 training rows in batches of 32 are 5 steps an epoch, so epoch
    20 starts at step 100, the end; within = 0 means no limit; last = 10 is every check after
    step 0's (which comes before any gradient)."""
    text = TINY + ('[[event]]\nat_epoch = 20\nsay = "the end"\n'
                   '[[expect]]\nkind = "reaches"\nmetric = "val_loss"\nthreshold = 0.1\nwithin = 0\n'
                   '[[expect]]\nkind = "grad_ratio"\nbelow = 2.0\nlast = 10\n')
    scenario = parse_scenario(text, path=Path("edge.toml"))
    assert scenario.events[0].at_epoch == 20 and len(scenario.expectations) == 2


@pytest.mark.parametrize("base, extra, key", [
    (TINY.replace('kind = "circle"', 'kind = "plane"'),
     '[[expect]]\nkind = "final_above"\nmetric = "val_acc"\nthreshold = 0.9\n', "expect[1].metric"),
    (TINY.replace('kind = "circle"', 'kind = "houses"'),
     '[[expect]]\nkind = "reaches"\nmetric = "train_acc"\nthreshold = 0.9\n', "expect[1].metric"),
    (TINY.replace('n_points = 200', 'n_points = 200\nfeatures = ["x1", "x2", "x1"]'), "", "data.features"),
    (TINY.replace('"Tiny"', '""'), "", "title"),
    (TINY.replace('"Tiny"', '"  "'), "", "title"),
])
def test_scenarios_that_say_nothing_sensible_are_refused(base, extra, key, tmp_path):
    with pytest.raises(ScenarioError) as refused:
        load_scenario(lesson(tmp_path, extra, base=base))
    assert refused.value.key == key


def test_duplicate_feature_columns_are_refused(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    base = 'title = "own"\n[data]\nkind = "csv"\npath = "d.csv"\ntarget_column = "y"\nfeature_columns = ["a", "a"]\n'
    with pytest.raises(ScenarioError) as refused:
        load_scenario(lesson(tmp_path, base=base))
    assert refused.value.key == "data.feature_columns" and "'a' twice" in refused.value.message


# ----------------------------------------------------------------------------- 8. a BOM

def test_a_scenario_file_with_a_bom_loads(tmp_path, capsys):
    path = tmp_path / "bom.toml"
    path.write_text("\ufeff" + TINY, encoding="utf-8")
    assert load_scenario(path).title == "Tiny"
    assert main(["show", str(path)]) == 0


# ----------------------------------------------------------------------------- 9. CSV files

def stray_quote_csv(path: Path) -> Path:
    """One stray quote on line 3 makes the rest of the file one field past the csv limit."""
    path.write_text("a,y\n1,0\n\"2,1\n" + "3,0\n" * 40_000)
    return path


def test_a_field_past_the_csv_limit_is_one_line_naming_the_file_and_line(tmp_path, capsys):
    data = stray_quote_csv(tmp_path / "d.csv")
    path = lesson(tmp_path, base='title = "own"\n[data]\nkind = "csv"\npath = "d.csv"\ntarget_column = "y"\n')
    assert main(["run", str(path), "--quiet"]) == 2
    line = one_line(capsys)
    assert line.startswith(f"{path}: data.path: {data}: the record from line 3: a field longer than")


def bad_csv(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.csv"
    if kind == "stray-quote":
        stray_quote_csv(path)
    elif kind == "header-stray-quote":
        path.write_text('a,"y\n' + "1,0\n" * 400_000)     # the header never ends within 1 MiB
    elif kind == "binary":
        path.write_bytes(b"a,y\n\xff\xfe\x00\x01" * 10)
    elif kind == "empty":
        path.write_text("")
    elif kind == "header-only":
        path.write_text("a,y\n")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "too-big":
        with path.open("wb") as file:
            file.truncate(MAX_CSV_BYTES + 1)         # sparse: nothing is written
    elif kind == "missing":
        pass
    return path


CSV_PROBLEMS = ["stray-quote", "header-stray-quote", "binary", "empty", "header-only", "fifo", "folder",
                "too-big", "missing"]


@pytest.mark.parametrize("kind", CSV_PROBLEMS)
def test_csv_header_refuses_every_bad_file_as_a_config_error(kind, tmp_path):
    path = bad_csv(tmp_path, kind)
    with pytest.raises(ConfigError) as refused:
        csv_header(path)
    assert refused.value.key == "data.path" and str(path) in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("kind", [k for k in CSV_PROBLEMS if k != "header-stray-quote"])
def test_loading_a_bad_csv_is_a_data_error(kind, tmp_path):
    path = bad_csv(tmp_path, kind)
    with pytest.raises(DataError):
        Run({"data": {"kind": "csv", "path": str(path), "target_column": "y"}})


def test_csv_header_reads_only_the_start_of_a_file(tmp_path):
    """Past MAX_HEADER_BYTES the file may be anything: it is never read."""
    path = tmp_path / "long.csv"
    path.write_bytes(b"a,b,y\n" + b"1,2,0\n" * (MAX_HEADER_BYTES // 6) + b"\xff\xfe" * 1000)
    assert csv_header(path) == ["a", "b", "y"]


# ----------------------------------------------------------------------------- 10. memory

def test_a_csv_file_is_counted_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_text("a,y\n" + "1,0\n2,1\n" * 50_000)       # 400 kB: at most 9 MiB to load
    monkeypatch.setattr("nnsim.core.run.available_bytes", lambda: 16 * 2**20)

    def read(*args):
        raise AssertionError("the file was read")
    monkeypatch.setattr("nnsim.core.run.build_dataset", read)
    with pytest.raises(ConfigError) as refused:
        Run({"data": {"kind": "csv", "path": str(path), "target_column": "y"}})
    assert refused.value.key == "data.path" and "reading this 391 KiB file takes about 9 MiB" in refused.value.message
    monkeypatch.setattr("nnsim.core.run.available_bytes", lambda: 40 * 2**20)
    with pytest.raises(AssertionError, match="was read"):     # with twice the memory it would be read
        Run({"data": {"kind": "csv", "path": str(path), "target_column": "y"}})


def test_loading_a_csv_takes_no_more_than_its_estimate(tmp_path):
    """The bytes-per-byte factor, measured where it is worst: one-digit cells."""
    path = tmp_path / "dense.csv"
    path.write_text("a,b,c,d,y\n" + "1,2,3,4,0\n5,6,7,8,1\n" * 50_000)
    tracemalloc.start()         # numpy and array report their buffers to it
    try:
        build_dataset(DataConfig(kind="csv", path=str(path), target_column="y", normalize="zscore"), 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size * 10 < peak <= budget.file_load_bytes(path.stat().st_size)


def test_the_address_space_limit_is_part_of_what_is_available(monkeypatch):
    monkeypatch.setattr(budget.resource, "getrlimit", lambda which: (3 * 2**30, budget.resource.RLIM_INFINITY))
    limited = budget.available_bytes()
    assert 0 < limited < 3 * 2**30 and limited == budget.address_space_bytes()
    monkeypatch.setattr(budget.resource, "getrlimit",
                        lambda which: (budget.resource.RLIM_INFINITY, budget.resource.RLIM_INFINITY))
    assert budget.address_space_bytes() is None and budget.available_bytes() == budget.machine_bytes()


def test_a_network_past_ulimit_v_is_refused_in_one_line():
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3_000_000 * 1024, resource.RLIM_INFINITY))
    proc = nnsim("run", "playground", "--quiet", "--set", "model.layers=[8000,8000]", preexec_fn=limit)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert "playground.toml: model.layers: this run needs about 4.4 GiB" in line

"""``nnsim sweep`` on this machine: its grid and seeds, its table against the runs' own
summaries, ``nnsim run`` reproducing a row bit for bit, and Ctrl-C. The Dask cluster's tests
are in test_cluster.py."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pty
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import interruptible, poll_until
from nnsim.__main__ import main
from nnsim.core.scenario import ScenarioError
from nnsim.core.validation import Seeds
from nnsim.executor import Done, ExecutorError, Job, LocalPool
from nnsim.sweep import Sweep, parse_axis, run_sweep, split_values

LESSON = str(Path(__file__).parent / "scenarios" / "sweep-loop.toml")    # a tiny network, quick
STEPS = "train.steps=25"


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def nearest_rank(values: list[float], q: float) -> float:
    """The q-quantile as the value of rank ceil(n q): an independent reference for the table."""
    ordered = sorted(values)
    return ordered[max(math.ceil(len(ordered) * q), 1) - 1]


# ----------------------------------------------------------------------------- the grid

def test_a_list_of_values_and_lists_inside_it():
    assert parse_axis("train.lr=0.01, 0.1,1").values == (0.01, 0.1, 1)
    assert parse_axis("model.layers=[8,8],[16]").values == ([8, 8], [16])
    assert split_values('"a,b",[1,[2,3]],x') == ['"a,b"', "[1,[2,3]]", "x"]
    assert parse_axis("train.optimizer=sgd,adam").values == ("sgd", "adam")


def test_a_linear_range_gives_whole_numbers_when_it_can():
    assert parse_axis("train.steps=100:500:5").values == (100, 200, 300, 400, 500)
    assert parse_axis("train.lr=0:1:5").values == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert parse_axis("train.lr=0.1:0.3:3").values == (0.1, 0.2, 0.3)    # not 0.30000000000000004
    assert not parse_axis("train.lr=0:1:5").log


def test_a_log_range_spaces_its_values_evenly_in_log10():
    axis = parse_axis("train.lr=1e-4:10:log13")
    assert len(axis.values) == 13 and axis.log
    assert axis.values[0] == 1e-4 and axis.values[-1] == 10.0
    steps = [math.log10(b / a) for a, b in zip(axis.values, axis.values[1:])]
    assert all(abs(step - 5 / 12) < 1e-3 for step in steps)
    assert parse_axis("train.lr=1e-3:1:log4").values == (0.001, 0.01, 0.1, 1.0)


def test_listed_log_spaced_values_get_a_log_axis_and_others_do_not():
    assert parse_axis("train.lr=0.001,0.01,0.1,1").log
    assert not parse_axis("train.lr=0.1,0.2,0.3").log
    assert not parse_axis("train.lr=0.001,0.002,1").log


@pytest.mark.parametrize("text, key, expected", [
    ("train.lr=0:1:log5", "train.lr", "a log range between positive numbers"),
    ("train.lr=1:1:5", "train.lr", "two ends to differ"),
    ("train.lr=0.1:1:1", "train.lr", "from 2 to 1000 values"),
    ("train.lr=0.1,0.1", "train.lr", "listed twice"),
    ("train.lrr=0.1,0.2", "train.lrr", "unknown key"),
    ("train.lr=0.1,(", "train.lr", "cannot read the value"),
    ("train.lr=1:2:log100000", "train.lr", "from 2 to 1000 values"),
    ("train.lr=1:1.001:log900", "train.lr", "repeat once rounded"),
])
def test_bad_values_are_refused_naming_the_key(text, key, expected):
    with pytest.raises(ScenarioError, match=re.escape(expected)) as refused:
        parse_axis(text)
    assert (refused.value.path, refused.value.key) == ("--set", key)


@pytest.mark.parametrize("argv, expected", [
    (["--set", "train.lr=-1,0.1"], "--set: train.lr: expected"),          # the config's own check
    (["--set", "train.lr=0.1", "--set", "train.lr=0.2"], "--set: train.lr: expected each key once"),
    (["--set", "train.lr=0:1:log3"], "--set: train.lr: expected a log range"),
    (["--set", "train.steps=1.5"], "--set: train.steps: expected"),
    (["--set", "train.lr=0.1", "--variant", "nope"], "--variant: no variant 'nope'"),
    ([], "nnsim: sweep: expected at least one --set"),
])
def test_bad_input_is_one_line_and_exit_2_before_anything_runs(argv, expected, tmp_path, capsys):
    status = main(["sweep", LESSON, *argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_help_documents_the_ranges(capsys):
    assert main(["sweep", "--help"]) == 0
    out = capsys.readouterr().out
    assert "1e-4:10:log13" in out and "A:B:N" in out and "--scheduler" in out


# ----------------------------------------------------------------------------- the runs

@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """Two rates x three seeds of the learning loop, on two local processes."""
    out = tmp_path_factory.mktemp("sweep")
    stdout, stderr = io.StringIO(), io.StringIO()
    sys_out, sys_err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    try:
        status = main(["sweep", LESSON, "--set", STEPS, "--set", "train.lr=0.1,3.0", "--seeds",
                       "0-2", "--jobs", "2", "--out", str(out)])
    finally:
        sys.stdout, sys.stderr = sys_out, sys_err
    return status, stdout.getvalue(), out


def test_a_sweep_writes_one_row_per_run_in_grid_and_seed_order(swept):
    status, out, folder = swept
    assert status == 0
    rows = read_csv(folder / "sweep.csv")
    assert [(r["train.lr"], r["seed"]) for r in rows] == [
        (lr, str(seed)) for lr in ("0.1", "3.0") for seed in range(3)]
    assert {r["train.steps"] for r in rows} == {"25"} and {r["steps"] for r in rows} == {"25"}
    assert sorted(os.listdir(folder)) == ["sweep.csv", "sweep.json"]     # no temporary file left


def test_nnsim_run_of_a_row_reproduces_it_bit_for_bit(swept, tmp_path, capsys):
    _, _, folder = swept
    for row in read_csv(folder / "sweep.csv")[2:4]:       # one row of each rate
        out = tmp_path / f"run-{row['train.lr']}-{row['seed']}"
        main(["run", LESSON, "--set", f"train.steps={row['train.steps']}", "--set",
              f"train.lr={row['train.lr']}", "--seed", row["seed"], "--quiet", "--out", str(out)])
        run = json.loads((out / "summary.json").read_text())["variants"][0]
        for metric in ("val_loss", "train_loss", "val_acc", "train_acc", "test_loss", "test_acc"):
            expected = run[metric]
            assert row[metric] == (repr(float(expected)) if expected is not None else "nan"), metric
        assert row["diverged"] == ("true" if run["diverged_step"] is not None else "false")
    capsys.readouterr()


def test_the_table_gives_each_points_median_and_band_of_its_runs(swept, tmp_path, capsys):
    """The runs' own summaries (nnsim run), the percentiles by nearest rank, against the table."""
    _, out, folder = swept
    summary = json.loads((folder / "sweep.json").read_text())
    table = {line.split()[1]: line.split() for line in out.splitlines()
             if line.startswith("25 ")}
    for lr in ("0.1", "3.0"):
        losses = []
        for seed in range(3):
            run_out = tmp_path / f"{lr}-{seed}"
            main(["run", LESSON, "--set", STEPS, "--set", f"train.lr={lr}", "--seed", str(seed),
                  "--quiet", "--out", str(run_out)])
            losses.append(json.loads((run_out / "summary.json").read_text())["variants"][0]["val_loss"])
        point = next(p for p in summary["points"] if repr(p["set"]["train.lr"]) == lr)
        figures = point["metrics"]["val_loss"]
        assert [figures["median"], figures["p5"], figures["p95"]] == [
            nearest_rank(losses, q) for q in (0.5, 0.05, 0.95)]
        assert point["runs"] == 3 and point["diverged"] == 0
        assert table[lr][3:6] == [f"{nearest_rank(losses, q):.4g}" for q in (0.5, 0.05, 0.95)]
    capsys.readouterr()


def test_a_one_key_sweep_plots_the_metric_against_the_value(tmp_path, capsys):
    assert main(["sweep", LESSON, "--set", STEPS, "--set", "train.lr=0.01:1:log3", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "val_loss against train.lr" in out and "median" in out and "95%" in out
    assert "0.100" in out        # the middle of a log axis from 0.01 to 1
    assert "\x1b[" not in out     # not a terminal: no colours


def test_the_pool_size_does_not_change_a_number(swept, tmp_path, capsys):
    _, _, folder = swept
    out = tmp_path / "one"
    assert main(["sweep", LESSON, "--set", STEPS, "--set", "train.lr=0.1,3.0", "--seeds", "0-2",
                 "--jobs", "1", "--out", str(out)]) == 0
    assert (out / "sweep.csv").read_bytes() == (folder / "sweep.csv").read_bytes()
    capsys.readouterr()


def test_every_variant_runs_unless_one_is_named(tmp_path, capsys):
    compare = str(Path(__file__).parent / "scenarios" / "compare.toml")
    for named, expected in (([], ["adam", "sgd"]), (["--variant", "sgd"], ["sgd"])):
        out = tmp_path / "-".join(expected)
        assert main(["sweep", compare, "--set", "train.steps=20", "--set", "train.lr=0.01,0.1",
                     "--jobs", "1", "--out", str(out), *named]) == 0
        rows = read_csv(out / "sweep.csv")
        assert [(r["train.lr"], r["variant"]) for r in rows] == [
            (lr, v) for lr in ("0.01", "0.1") for v in expected]
        header = capsys.readouterr().out.split("\n\n")[1].splitlines()[0].split()
        assert ("variant" in header) == (len(expected) > 1)


def test_a_local_worker_that_dies_ends_the_sweep_in_one_line_with_nothing_written(tmp_path):
    class KillingAWorker(LocalPool):
        def play(self, jobs):
            for count, item in enumerate(super().play(jobs)):
                if count == 0:
                    os.kill(next(iter(self.pool._processes)), signal.SIGKILL)
                yield item

    sweep = Sweep(LESSON, [parse_axis("train.steps=3000"), parse_axis("train.lr=0.01:1:6")],
                  Seeds([(0, 9)]))
    out = tmp_path / "out"
    with pytest.raises(ExecutorError, match="a local worker process ended unexpectedly"):
        with KillingAWorker(2) as executor:
            run_sweep(sweep, executor, out_dir=out, out=io.StringIO(), err=io.StringIO())
    assert not out.exists()


def test_a_job_that_fails_in_its_worker_comes_back_as_its_message(tmp_path):
    """A data file the worker cannot find (it was there when the sweep was checked)."""
    gone = json.dumps(str(tmp_path / "gone.csv"))
    settings = ("data.kind=csv", f"data.path={gone}", "data.target_column=label")
    job = Job(LESSON, Path(LESSON).read_text(), LESSON, False, settings, seed=0)
    with LocalPool(1) as executor:
        [(index, done)] = list(executor.play([job]))
    assert (index, done.runs) == (0, []) and "gone.csv" in done.error and "no such CSV file" in done.error


class Failing:
    """An executor whose second job fails: what the sweep reports of a failed run."""

    workers, where = 1, "a test double"

    def threads_per_job(self, jobs):
        return 1

    def play(self, jobs):
        with LocalPool(1) as pool:
            for index, done in pool.play(jobs):
                yield index, Done(error="ValueError: planted") if index == 1 else done


def test_a_failed_run_is_counted_listed_and_left_out_of_the_csv(tmp_path):
    sweep = Sweep(LESSON, [parse_axis(STEPS), parse_axis("train.lr=0.1,3.0")], Seeds([(0, 1)]))
    out, err = io.StringIO(), io.StringIO()
    assert run_sweep(sweep, Failing(), out_dir=tmp_path, out=out, err=err) == 1
    assert "1 failed:\n  train.steps=25 train.lr=0.1 seed 1: ValueError: planted\n" in out.getvalue()
    rows = read_csv(tmp_path / "sweep.csv")
    assert [(r["train.lr"], r["seed"]) for r in rows] == [("0.1", "0"), ("3.0", "0"), ("3.0", "1")]
    summary = json.loads((tmp_path / "sweep.json").read_text())
    assert [p["runs"] for p in summary["points"]] == [1, 2]
    assert summary["failed"] == ["train.steps=25 train.lr=0.1 seed 1: ValueError: planted"]


def test_scheduler_without_dask_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)       # import distributed fails
    assert main(["sweep", LESSON, "--set", STEPS, "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'nnsim[cluster]'" in err


def test_ctrl_c_cancels_every_run_and_writes_nothing(tmp_path):
    """On a terminal (a pty: the progress line shows), Ctrl-C to the whole process group once
    runs are done: exit 130, one line, no file, and no worker process left behind. The sweep is
    far longer than the test waits (1,200 runs), so on a loaded machine, where this process may
    not run for seconds after the first runs are counted, it is still running when interrupted;
    and it takes Ctrl-C as a terminal's foreground job does, even in a suite started in the
    background (which hands its children SIGINT ignored: the sweep then ran all 1,200 runs)."""
    out = tmp_path / "out"
    main_fd, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "nnsim", "sweep", LESSON, "--set",
                             "train.steps=3000", "--set", "train.lr=0.01:1:6", "--seeds", "0-199",
                             "--jobs", "2", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=terminal, start_new_session=True,
                            preexec_fn=interruptible)
    os.close(terminal)
    seen = b""

    def read(wait: float) -> bytes:
        try:
            return os.read(main_fd, 4096) if select.select([main_fd], [], [], wait)[0] else b""
        except OSError:          # the pty closes with its last writer
            return b""

    def progress_shown():
        nonlocal seen
        seen += read(0.1)
        return b" done, 0 failed, ETA" in seen

    try:
        poll_until(progress_shown, "the first runs to finish")
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    while chunk := read(5.0):
        seen += chunk
    os.close(main_fd)
    assert proc.returncode == 130
    assert seen.decode().replace("\x1b[K", "").split("\r")[-2].strip() == "nnsim: interrupted"
    assert b"Traceback" not in seen
    assert list(out.iterdir()) == []

    def group_gone():
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        return False

    poll_until(group_gone, "the worker processes to end")

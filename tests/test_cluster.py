"""``nnsim sweep`` and ``nnsim check`` on a Dask cluster (a ``LocalCluster`` of two worker
processes): the same bytes as the local pool, a killed worker's runs redone and counted once,
Ctrl-C cancelling what is out, an unreachable scheduler in one line. They need the cluster
extra and skip without it: ``pip install '.[cluster]'``; ``pytest -m cluster`` runs them."""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from conftest import poll_until

pytestmark = pytest.mark.cluster
distributed = pytest.importorskip(
    "distributed", reason="the cluster tests need Dask distributed: pip install '.[cluster]'")

from nnsim.__main__ import main                          # noqa: E402
from nnsim.executor import DaskCluster, LocalPool, Progress     # noqa: E402
from nnsim.sweep import Sweep, parse_axis, sweep_csv     # noqa: E402
from nnsim.core.validation import Seeds                  # noqa: E402

LESSON = str(Path(__file__).parent / "scenarios" / "sweep-loop.toml")
GRID = ["--set", "train.steps=40", "--set", "train.lr=0.1,3.0", "--seeds", "0-3"]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as local:
        yield local


def command(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def local_csv(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("local")
    assert command(["sweep", LESSON, *GRID, "--jobs", "2", "--out", str(folder)])[0] == 0
    return (folder / "sweep.csv").read_bytes()


def test_a_sweep_on_the_cluster_gives_the_local_pools_bytes(cluster, local_csv, tmp_path):
    status, out, _ = command(["sweep", LESSON, *GRID, "--scheduler", cluster.scheduler_address,
                              "--out", str(tmp_path)])
    assert status == 0 and "on the Dask cluster at tcp://" in out
    assert (tmp_path / "sweep.csv").read_bytes() == local_csv
    assert local_csv.count(b"\n") == 1 + 2 * 4


def test_check_on_the_cluster_gives_the_local_table(cluster):
    argv = ["check", LESSON, "--seeds", "0-2", "--quiet"]
    local = command(argv + ["--jobs", "2"])
    remote = command(argv + ["--scheduler", cluster.scheduler_address])
    assert local[0] == remote[0] == 0
    # the last line says how long it took; the table and the pass rates are the same
    assert local[1].splitlines()[:-1] == remote[1].splitlines()[:-1]


class KillingAWorker(DaskCluster):
    """Kills a busy worker process (SIGKILL) once the first result is in."""

    killed: list[int] = []

    def play(self, jobs):
        for count, (index, done) in enumerate(super().play(jobs)):
            if count == 0:
                busy = [worker for worker, keys in self.client.processing().items() if keys]
                assert busy, "no worker had a run in hand"
                pid = self.client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)
            yield index, done


def test_a_killed_workers_runs_are_redone_and_counted_once(cluster):
    # runs long enough (~0.1 s each) that most are still to do when the first result is in
    sweep = Sweep(LESSON, [parse_axis("train.steps=1500"), parse_axis("train.lr=0.1,3.0")],
                  Seeds([(0, 5)]))
    with LocalPool(2) as executor:
        local, failures, _ = sweep.run(executor, Progress(io.StringIO(), len(sweep)))
    with KillingAWorker(cluster.scheduler_address) as executor:
        remote, failures, _ = sweep.run(executor, Progress(io.StringIO(), len(sweep)))
    assert KillingAWorker.killed and failures == []
    assert sweep_csv(sweep, remote) == sweep_csv(sweep, local)
    assert len(remote) == 2 * 6


def test_ctrl_c_cancels_every_run_still_out(cluster):
    sweep = Sweep(LESSON, [parse_axis("train.steps=3000"), parse_axis("train.lr=0.01:1:6")],
                  Seeds([(0, 9)]))
    with pytest.raises(KeyboardInterrupt):
        with DaskCluster(cluster.scheduler_address) as executor:
            for _ in executor.play(sweep.jobs()):
                raise KeyboardInterrupt
    prefix = f"nnsim-{executor.token}-"
    poll_until(lambda: not any(str(key).startswith(prefix) for key in cluster.scheduler.tasks),
               "the scheduler to drop the sweep's runs")


def test_an_unreachable_scheduler_is_one_line_and_exit_2():
    with socket.socket() as probe:          # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, out, err = command(["sweep", LESSON, *GRID, "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(f"nnsim: --scheduler tcp://127.0.0.1:{port}: "
                                                   "cannot reach a Dask scheduler there")

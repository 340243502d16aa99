"""What a cluster costs a sweep: the same runs on the local process pool and on a local
two-worker Dask cluster (the cluster extra: ``pip install '.[cluster]'``).

Run from the repository root, against the installed package:

    python benchmarks/bench_sweep.py [--seeds 0-1] [--lessons a,b,...] [--workers 2]

The runs are ``nnsim check``'s jobs (every built-in lesson by default, each at every seed, its
expectations judged), played by ``nnsim.executor`` on
  - ``LocalPool(workers)``: spawned processes, one BLAS thread each;
  - ``DaskCluster`` on a ``LocalCluster(n_workers=workers, threads_per_worker=1)``.
Both engines are started and warmed first (their start is printed apart), then the same jobs
are timed from the first submit to the last result, on one engine then the other, for
``--rounds`` rounds (interleaved, so a change of load hits both). The figure is the cluster's
best wall time per job (a lesson at a seed) over the local pool's best (target: at most 1.1),
and from them what 19 lessons x 1,000 seeds would take on each. The results must be identical: the bench says so, or fails. Nothing here asserts
a timing.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time

from nnsim.__main__ import parse_seeds
from nnsim.core.scenario import builtin_names
from nnsim.executor import DaskCluster, Job, LocalPool, job_source

TARGET = 1.1


def jobs(lessons: list[str], seeds) -> list[Job]:
    sources = {name: job_source(name) for name in lessons}
    return [Job(name, *sources[name], (), seed, check=True) for name in lessons for seed in seeds]


def timed(executor, work: list[Job]) -> tuple[float, dict]:
    started = time.perf_counter()
    done = dict(executor.play(work))
    seconds = time.perf_counter() - started
    failed = [d.error for d in done.values() if d.error]
    if failed:
        raise SystemExit(f"a run failed: {failed[0]}")
    return seconds, {index: (d.runs, d.results) for index, d in done.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-1"))
    parser.add_argument("--lessons", default=",".join(builtin_names()))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per engine (the best counts)")
    args = parser.parse_args()
    lessons = args.lessons.split(",")
    work = jobs(lessons, args.seeds)
    print(f"{len(work)} jobs ({len(lessons)} lessons x seeds {args.seeds}), {args.workers} workers, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")

    import distributed

    started = time.perf_counter()
    with LocalPool(args.workers) as pool, \
            distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                     dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            DaskCluster(cluster.scheduler_address) as dask:
        print(f"both engines started and warmed in {time.perf_counter() - started:.1f} s")
        times: dict[str, list[float]] = {"local pool": [], "Dask cluster": []}
        for round_ in range(args.rounds):      # interleaved: a change of load hits both
            local_seconds, local = timed(pool, work)
            dask_seconds, remote = timed(dask, work)
            times["local pool"].append(local_seconds)
            times["Dask cluster"].append(dask_seconds)
            print(f"round {round_ + 1}: local pool {local_seconds:.1f} s, Dask cluster "
                  f"{dask_seconds:.1f} s, load {os.getloadavg()[0]:.1f}")

    if repr(sorted(remote.items())) != repr(sorted(local.items())):     # repr: NaN == NaN
        raise SystemExit("the cluster's results differ from the local pool's")
    per_run = {engine: min(seconds) / len(work) for engine, seconds in times.items()}
    for engine, seconds in per_run.items():
        every = seconds * len(builtin_names()) * 1000
        print(f"{engine:>12}: {seconds * 1000:7.0f} ms per lesson x seed, {len(work)} in "
              f"{seconds * len(work):6.1f} s; {len(builtin_names())} lessons x 1,000 seeds: "
              f"{every / 3600:.1f} h")
    ratio = per_run["Dask cluster"] / per_run["local pool"]
    print(f"cluster / local pool, per lesson x seed: {ratio:.3f} (target <= {TARGET}); results identical")


if __name__ == "__main__":
    main()

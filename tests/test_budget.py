"""The memory guard: a run's estimate against what it really allocates, and the refusal of a
network the machine cannot hold before any of it is allocated."""

from __future__ import annotations

import resource
import subprocess
import sys

import numpy as np
import pytest

from nnsim.core import ConfigError, Run
from nnsim.core.budget import Estimate, available_bytes, check_budget, run_bytes


def allocated_bytes(run: Run) -> int:
    """The bytes of every array ``Run._build`` keeps, found on the run itself."""
    arrays = [value for value in vars(run).values() if isinstance(value, np.ndarray)]
    arrays += list(run._workspace) + list(run._logits.values()) + list(run._scratch.values())
    arrays.append(run._history._rows)
    return sum(a.nbytes for a in arrays)


@pytest.mark.parametrize("config", [
    {"data": {"kind": "circle", "n_points": 200}, "model": {"layers": [64, 64]}},
    {"data": {"kind": "digits"}, "model": {"layers": [300]}, "train": {"batch_size": 512}},
    {"data": {"kind": "moons", "n_points": 3000}, "model": {"layers": [4]},
     "train": {"batch_size": 0, "early_stopping": 3}},
], ids=["wide", "digits", "full-batch"])
def test_the_estimate_covers_what_a_run_allocates(config):
    run = Run(config)
    n_train, n_val, n_test = (len(run.split(s)[1]) for s in ("train", "val", "test"))
    estimate = run_bytes(run.layout.widths, run._batch_rows, (n_train, n_val, n_test))
    actual = allocated_bytes(run)
    assert actual <= estimate.total < 3 * actual


def test_a_run_within_the_budget_passes_and_one_past_it_names_the_network():
    estimate = Estimate(parameters=6 * 2**30, activations=2**30, data=2**20)
    check_budget(estimate, available=20 * 2**30)
    check_budget(estimate, available=None)      # nothing known: no guess
    with pytest.raises(ConfigError) as refused:
        check_budget(estimate, available=13 * 2**30)
    assert refused.value.key == "model.layers"
    assert "7.0 GiB" in refused.value.message and "13.0 GiB available" in refused.value.message


def test_the_machine_reports_some_memory():
    assert available_bytes() > 2**20


@pytest.mark.parametrize("layers", ["[100000, 100000]", "[20000, 20000]"])
def test_a_network_too_big_for_the_machine_is_refused_before_it_allocates(layers):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run([sys.executable, "-m", "nnsim", "run", "digits", "--quiet",
                           "--set", f"model.layers={layers}"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert "digits.toml: model.layers: this run needs about" in line and "available" in line
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib < max(before, 1_000_000)      # never near the gigabytes it asked for


def test_runs_held_at_once_share_the_budget():
    """Thirty variants that each fit alone may not fit together: each takes its share."""
    estimate = Estimate(parameters=2**30, activations=0, data=0)
    check_budget(estimate, available=10 * 2**30)
    check_budget(estimate, available=10 * 2**30, alongside=5)
    with pytest.raises(ConfigError) as refused:
        check_budget(estimate, available=10 * 2**30, alongside=6)
    assert "with 5 other runs at once" in refused.value.message


def test_a_scenario_of_many_variants_is_refused_when_together_they_do_not_fit(tmp_path):
    """Each of four variants takes about 15% of the free memory: alone it fits, four at once
    would take 60%, over the half a scenario may take."""
    free = available_bytes()
    width = int((0.15 * free / 8 / 9) ** 0.5)           # one run's parameters ≈ 15% of it
    variants = "".join(f'\n[[variant]]\nname = "v{i}"\n' for i in range(4))
    lesson = tmp_path / "many.toml"
    lesson.write_text(f'title = "many"\n[data]\nkind = "circle"\n[model]\nlayers = [{width}, {width}]\n'
                      f'[train]\nsteps = 1\n{variants}')
    proc = subprocess.run([sys.executable, "-m", "nnsim", "run", str(lesson), "--quiet", "--jobs", "4",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert "model.layers" in line and "other runs at once" in line

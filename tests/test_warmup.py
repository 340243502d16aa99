"""core.warmup: the compile plan names the signatures nnsim really calls, helpers start only on a
cold cache and are waited for, and several processes compiling into one cache at once leave a
cache that loads and trains to the bits of a first start and of a warm one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nnsim.core import warmup
from nnsim.core.driver import ScriptedRun
from nnsim.core.landscape import landscape, step_line
from nnsim.core.lr_find import range_test
from nnsim.core.scenario import load_scenario
from nnsim.core.trace import trace_step


def planned() -> dict:
    """Every planned dispatcher with the signatures it has compiled or loaded so far."""
    return {id(dispatcher): (dispatcher, set(dispatcher.signatures))
            for group in warmup.GROUPS for dispatcher, _ in warmup.signatures(group)}


def test_a_session_calls_the_kernels_with_the_planned_signatures_only():
    """After the plan is compiled (or loaded), training, the pictures, the unit maps, a fresh
    sample, a trace, the step line, the range test and the landscape of two lessons add no
    signature to a planned kernel: a signature typed wrong
    in the plan would be compiled twice on a first start, once for nothing."""
    for group in warmup.GROUPS:
        warmup.ensure(group)                    # compiled by helpers: loaded here
    warmup.compile_groups(tuple(warmup.GROUPS))
    before = planned()
    for dispatcher, signatures in before.values():
        assert signatures, dispatcher
    for lesson in ("playground", "dropout"):
        scripted = ScriptedRun.build(load_scenario(lesson))
        runs = [s.run for s in scripted]
        for run in runs:
            run.record_trajectory(64)
            run.advance(30)
            run.pictures()
            run.unit_maps()
            run.evaluate_fresh(20)
            trace_step(run)
            step_line(run, points=5)
        range_test(runs[0], steps=5)
        landscape(runs, shape=(5, 5))
    after = planned()
    for key, (dispatcher, signatures) in before.items():
        assert after[key][1] == signatures, dispatcher.py_func.__qualname__


def test_every_planned_kernel_is_a_kernel_once_per_group():
    """The plan names existing kernels, none twice in a group, with known type words."""
    words = warmup._types()
    for group, entries in warmup.GROUPS.items():
        names = [(module, name) for module, name, _ in entries]
        assert len(set(names)) == len(names), group
        for _, _, signature in entries:
            assert set(signature) <= set(words), signature


class FakeHelper:
    def __init__(self, command, **options):
        self.command = command
        self.waited = 0

    def wait(self):
        self.waited += 1

    def poll(self):
        return 0 if self.waited else None      # running until waited for


@pytest.fixture
def fake_helpers(monkeypatch):
    """Helpers that start nothing; the plan's cache state as the test says."""
    started: list[FakeHelper] = []

    def popen(command, **options):
        started.append(FakeHelper(command, **options))
        return started[-1]

    monkeypatch.setattr(warmup.subprocess, "Popen", popen)
    monkeypatch.setattr(warmup, "_pending", {})
    monkeypatch.setattr(warmup, "_ready", set())
    monkeypatch.setattr(warmup, "_started", [])
    monkeypatch.delenv("NNSIM_HELPERS", raising=False)
    return started


def test_a_helper_starts_for_cold_groups_once_and_is_waited_for(fake_helpers, monkeypatch):
    monkeypatch.setattr(warmup, "cold", lambda groups: True)
    assert warmup.start(("pictures",)) and not warmup.first_start()    # not a first-step group
    warmup.wait("pictures")
    assert warmup.start(("train", "pictures"))
    assert not warmup.start(("train",))                 # already being compiled
    assert len(fake_helpers) == 2
    fake_helpers.pop(0)
    assert fake_helpers[0].command == [sys.executable, "-m", "nnsim.core.warmup", "train",
                                       "pictures"]
    assert warmup.compiling()
    warmup.wait("check")                                # no helper has it: returns at once
    warmup.wait("train")
    assert not warmup.compiling()                       # the status line stops saying so
    assert fake_helpers[0].waited == 1
    warmup.wait("train")                                # waited for once
    assert fake_helpers[0].waited == 1
    warmup.wait("pictures")                             # the same helper, still pending for it
    assert fake_helpers[0].waited == 2
    assert warmup._pending == {}


def test_a_first_run_starts_one_helper_per_first_step_group_and_ensure_waits(fake_helpers,
                                                                           monkeypatch):
    monkeypatch.setattr(warmup, "cold", lambda groups: True)
    monkeypatch.setattr(warmup, "_begun", False)
    assert not warmup.first_start()
    warmup.begin()
    assert warmup.first_start()
    warmup.begin()                                      # once per process
    assert [helper.command[3:] for helper in fake_helpers] == [["check"], ["train"]]
    warmup.ensure("later")                              # started and waited for
    assert fake_helpers[-1].command[3:] == ["later"] and fake_helpers[-1].waited == 1
    warmup.ensure("later")                              # the cache is not asked again
    assert len(fake_helpers) == 3 and fake_helpers[-1].waited == 1


def test_ready_says_no_while_a_helper_compiles_and_yes_once_it_has_ended(fake_helpers,
                                                                          monkeypatch):
    """The dashboard asks ``ready`` before drawing the network pane's maps: a first start
    must not make training wait for them, nor start a second helper."""
    monkeypatch.setattr(warmup, "cold", lambda groups: True)
    assert not warmup.ready("pictures")
    assert not warmup.ready("pictures")
    assert [helper.command[3:] for helper in fake_helpers] == [["pictures"]]
    assert fake_helpers[0].waited == 0                  # asked, never waited for
    fake_helpers[0].waited = 1                          # the helper has ended
    assert warmup.ready("pictures")
    monkeypatch.setattr(warmup, "cold", lambda groups: False)
    assert warmup.ready("train") and len(fake_helpers) == 1   # in the cache: no helper


def test_no_helper_for_a_warm_cache_or_when_turned_off(fake_helpers, monkeypatch):
    monkeypatch.setattr(warmup, "cold", lambda groups: False)
    assert not warmup.start(("train",))
    monkeypatch.setattr(warmup, "cold", lambda groups: True)
    monkeypatch.setenv("NNSIM_HELPERS", "0")
    assert not warmup.start(("train",))
    assert fake_helpers == []


def test_cold_asks_the_cache_for_each_groups_last_kernel(monkeypatch):
    asked = []
    monkeypatch.setattr(warmup, "cached", lambda dispatcher, signature: asked.append(
        dispatcher.py_func.__name__) or dispatcher.py_func.__name__ != "unit_outputs")
    assert not warmup.cold(("check", "train"))
    assert asked == ["learning_rate", "train_chunk"]
    assert warmup.cold(("train", "pictures"))


TRAIN_AND_REPORT = """
import json, sys
from numba.core import event
from nnsim.core import warmup
from nnsim.core.run import Run
from nnsim.core.scenario import load_scenario
compiled = []
class Compiled(event.Listener):
    def on_start(self, event):
        compiled.append(event.data["dispatcher"].py_func.__name__)
    def on_end(self, event):
        pass
event.register("numba:compile", Compiled())
cold = warmup.cold(("check", "train"))
run = Run(load_scenario("playground").base)
run.advance(200)
print(json.dumps({"cold": cold, "compiled": compiled, "params": run.params.tolist(),
                  "loss": run.history.train_loss.tolist()}))
"""


def in_fresh_process(cache: str, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", TRAIN_AND_REPORT], capture_output=True, text=True,
                         check=True, env={**os.environ, "NUMBA_CACHE_DIR": cache, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_helpers_compiling_into_one_cache_at_once_leave_it_loadable_and_exact(tmp_path):
    """Three helpers compile the first step's kernels into one empty cache at the same time, in
    different orders; a fresh process then compiles nothing and trains the playground to the very
    bits of a first start in an empty cache of its own (its helpers compile, it loads) and of a
    warm start there."""
    shared = str(tmp_path / "shared")
    env = {**os.environ, "NUMBA_CACHE_DIR": shared}
    helpers = [subprocess.Popen([sys.executable, "-m", "nnsim.core.warmup", *groups], env=env)
               for groups in (("check", "train"), ("train", "check"), ("train",))]
    assert [helper.wait() for helper in helpers] == [0, 0, 0]
    loaded = in_fresh_process(shared)
    assert not loaded["cold"] and loaded["compiled"] == []
    first = in_fresh_process(str(tmp_path / "own"))
    assert first["cold"] and first["compiled"] == []    # its helpers compiled, it loaded
    warm = in_fresh_process(str(tmp_path / "own"))
    assert not warm["cold"] and warm["compiled"] == []
    assert loaded["params"] == first["params"] == warm["params"]
    assert loaded["loss"] == first["loss"] == warm["loss"]

"""Helpers for the scenario and expectation tests: a lesson parsed from text, and synthetic
runs (histories and outcomes made up to order) for judging expectations without training.
Not a test module: test modules import from here, never from one another."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnsim.core.config import config_from_dict
from nnsim.core.expectations import Outcome, check_all, parse_expectation
from nnsim.core.scenario import parse_scenario
from nnsim.core.snapshot import History, Snapshot


def parse(text: str, **kwargs):
    """The scenario in ``text``, as if read from ``lesson.toml``."""
    return parse_scenario(text, path=Path("lesson.toml"), **kwargs)


def history(steps, val_loss=None, train_loss=None, val_acc=None, train_acc=None, grad_norms=None,
            n_layers=3):
    steps = np.asarray(steps, dtype=float)
    n = len(steps)

    def column(values, fill):
        return np.asarray(values, dtype=float) if values is not None else np.full(n, fill)

    return History(step=steps, epoch=steps // 10, lr=np.full(n, 0.01),
                   train_loss=column(train_loss, 0.5), val_loss=column(val_loss, 0.5),
                   train_acc=column(train_acc, 0.5), val_acc=column(val_acc, 0.5),
                   batch_loss=column(None, 0.5), batch_loss_std=column(None, 0.1),
                   grad_norms=(np.asarray(grad_norms, float) if grad_norms is not None
                               else np.ones((n, n_layers))),
                   update_ratios=np.ones((n, n_layers)))


def outcome(name="a", hist=None, *, diverged_step=None, stopped_early=False, best_step=None,
            finished=True, test=(0.4, 0.8), weights=None, lr=0.01, layers=(8, 8)):
    hist = hist if hist is not None else history([0, 10, 20])
    n_layers = hist.grad_norms.shape[1]
    last = {k: float(getattr(hist, k)[-1]) for k in ("train_loss", "val_loss", "train_acc", "val_acc")}
    if diverged_step is not None:
        last["train_loss"] = last["val_loss"] = float("nan")
    snap = Snapshot(name=name, step=int(hist.step[-1]), epoch=int(hist.epoch[-1]), lr=lr,
                    measured_step=int(hist.step[-1]),
                    **last, grad_norms=hist.grad_norms[-1], update_ratios=np.ones(n_layers),
                    diverged=diverged_step is not None,
                    diverged_step=diverged_step, stopped_early=stopped_early, best_step=best_step,
                    finished=finished, history=hist)
    config = config_from_dict({"train": {"lr": lr, "early_stopping": 5}, "model": {"layers": list(layers)}})
    return Outcome(snapshot=snap, config=config, test=test if finished else None,
                   weights=weights if finished else None)


def expect(table, outcomes):
    configs = {name: o.config for name, o in outcomes.items()}
    expectation = parse_expectation(table, configs)
    [result] = check_all([expectation], outcomes)
    assert "\n" not in result.message
    return result


def runs(*outcomes):
    return {o.name: o for o in outcomes}

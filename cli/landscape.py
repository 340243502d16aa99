"""``nnsim landscape`` and ``nnsim lr-find``: the loss landscape and the learning-rate range test,
headless, as text or JSON.

The numbers come from ``core.landscape`` and ``core.lr_find``; this module drives the runs (as
``nnsim run`` does, events included) and lays the numbers out. The JSON holds every number
with Python's shortest round-trip repr (a value that is not finite is ``null``), so a grid point
can be recomputed from the weights, the directions and the data.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from .core.scenario import load_scenario
from .trace import _count

SHADES = " .:-=+*#%@"       # the text map: low loss to high
PATH_MARKS = "123456789abcdefghijklmnopqrstuvwxyz"     # each path's mark, in variant order
TEXT_GRID = 21              # grid points a side in the text output's default


def add_parsers(commands, scenario_help: str) -> None:
    landscape = commands.add_parser(
        "landscape", help="the training loss over a 2-D plane of weight space, with the runs' paths",
        description="Train the variants of a scenario to step N (default: train.steps), then "
                    "measure the training loss over a plane through the variant's weights: "
                    "the two principal directions of the weights' path (random filter-normalised "
                    "directions before there is one), with the path of every variant that shares "
                    "its start projected onto it. A text map, or every number as JSON.")
    _run_options(landscape, scenario_help, None, "train to this step first (default: the "
                                                 "scenario's train.steps)")
    landscape.add_argument("--grid", type=_count(2), default=TEXT_GRID, metavar="K",
                           help=f"K x K grid points (default {TEXT_GRID})")
    find = commands.add_parser(
        "lr-find", help="the learning-rate range test: loss against an exponentially growing rate",
        description="From a variant's weights at step N (default 0), train on a copy while the "
                    "rate grows exponentially from 1e-6 to 10, step after step, until the loss "
                    "diverges (Smith 2017; fastai's lr_find), and suggest the rate where the "
                    "loss falls fastest.")
    _run_options(find, scenario_help, 0, "train to this step first (default 0)")


def _run_options(parser, scenario_help: str, step: int | None, step_help: str) -> None:
    """SCENARIO, --variant, --step and --json: which run, when, and how to print it."""
    parser.add_argument("scenario", metavar="SCENARIO", help=scenario_help)
    parser.add_argument("--variant", metavar="NAME", help="whose weights (default: the first)")
    parser.add_argument("--step", type=_count(0), default=step, metavar="N", help=step_help)
    parser.add_argument("--json", action="store_true", help="every number as JSON, on stdout")


class _Refused(Exception):
    """A value on the command line that names no run or step of the scenario."""


def _runs_at(scenario, variant: str | None, step: int | None, path: bool):
    """Every variant's run driven to ``step`` (None: to its end; as ``nnsim run`` drives them;
    ``path``: each recording its weights at every check), and the index of ``variant``'s."""
    from .core.budget import available_bytes, trajectory_rows
    from .core.driver import ScriptedRun

    names = [v.name for v in scenario.variants]
    chosen = variant or names[0]
    if chosen not in names:
        raise _Refused(f"--variant: expected one of {', '.join(names)} for {scenario.name}, "
                       f"got {chosen!r}")
    index = names.index(chosen)
    end = scenario.variants[index].config.train.steps
    asked, step = step is not None, end if step is None else step
    if step > end:
        raise _Refused(f"--step: expected a step up to train.steps ({end}) of variant "
                       f"{chosen!r}, got {step}")
    runs = ScriptedRun.build(scenario) if path else \
        [ScriptedRun.build(scenario)[index]]    # one run: the range test needs no other
    for scripted in runs:
        if path:
            rows = trajectory_rows(scripted.run.layout.n_params, available_bytes(), len(runs))
            if rows:
                scripted.run.record_trajectory(rows)
        scripted.fire_due()
        while scripted.active and scripted.step < step:
            scripted.advance(step - scripted.step, stop_at=step)
            scripted.fire_due()
    run = runs[index if path else 0].run
    # Without --step, a run that ended early (diverged, stopped early) is taken where it ended.
    if (asked and run.step != step) or not np.isfinite(run.params).all():
        ended = f"diverged at step {run.diverged_step}" if run.diverged else \
            f"stopped at step {run.step}"
        raise _Refused(f"--step: variant {chosen!r} {ended}, before step {step}")
    return [scripted.run for scripted in runs], index if path else 0


def landscape_command(args) -> int:
    from .core.landscape import landscape    # loads the kernels

    return _command(args, True, lambda runs, index: landscape(runs, index, (args.grid, args.grid)),
                    landscape_json, landscape_text)


def lr_find_command(args) -> int:
    from .core.lr_find import range_test     # loads the kernels

    return _command(args, False, lambda runs, index: range_test(runs[index]),
                    lr_find_json, lr_find_text)


def _command(args, path: bool, measure, as_json, as_text) -> int:
    """Drive the runs, ``measure(runs, index)`` and print the result as JSON or text."""
    scenario = load_scenario(args.scenario)
    try:
        runs, index = _runs_at(scenario, args.variant, args.step, path)
    except _Refused as err:
        print(f"nnsim: {err}", file=sys.stderr)
        return 2
    result = measure(runs, index)
    if args.json:
        print(json.dumps(as_json(scenario.name, runs[index], result), indent=1))
    else:
        print("\n".join(as_text(scenario.name, result)))
    return 0


# --- JSON -----------------------------------------------------------------------------------

def _numbers(values) -> list:
    """A float array as JSON values: shortest round-trip floats, ``None`` where not finite."""
    array = np.asarray(values, dtype=float)
    if array.ndim > 1:
        return [_numbers(row) for row in array]
    return [float(v) if np.isfinite(v) else None for v in array]


def _per_layer(layout, flat: np.ndarray) -> list[dict]:
    return [{"W": _numbers(W), "b": _numbers(b)} for W, b in layout.unflatten(np.asarray(flat))]


def landscape_json(scenario: str, run, land) -> dict:
    """The landscape as plain JSON values; the README documents every field."""
    from .core.activations import ACTIVATION_NAME
    from .core.losses import LOSS_CODE
    from .core.model import ACTIVATION

    loss_name = {code: name for name, code in LOSS_CODE.items()}[run.train_state().loss_code]
    plane = land.plane
    return {
        "scenario": scenario, "variant": land.run, "step": land.step,
        "n_params": land.n_params, "loss_function": loss_name, "split": "train",
        "plane": plane.kind,
        "explained_variance": None if plane.kind != "pca" else plane.explained,
        "weights": [{**layer, "activation": ACTIVATION_NAME[code]} for layer, code in zip(
            _per_layer(run.layout, plane.origin), run.layout.table[:, ACTIVATION])],
        "directions": [_per_layer(run.layout, d) for d in plane.directions],
        "alphas": _numbers(land.alphas), "betas": _numbers(land.betas),
        "losses": _numbers(land.losses),
        "paths": [{"variant": path.name, "steps": path.steps.tolist(),
                   "a": _numbers(path.coordinates[:, 0]), "b": _numbers(path.coordinates[:, 1])}
                  for path in land.paths],
    }


def lr_find_json(scenario: str, run, test) -> dict:
    return {
        "scenario": scenario, "variant": test.run, "step": test.step,
        "current_rate": test.current_rate, "rates": _numbers(test.rates),
        "losses": _numbers(test.losses), "smoothed": _numbers(test.smoothed),
        "steepest_rate": test.suggestion,
        "diverged_rate": None if test.diverged is None else float(test.rates[test.diverged]),
        "suggestion": test.suggestion,
    }


# --- text -----------------------------------------------------------------------------------

def plane_in_words(land) -> str:
    """What the plane is, in one line (the pane says the same)."""
    if land.plane.kind == "pca":
        return (f"a 2-D slice through {land.n_params:,} dimensions: the two principal directions "
                f"of the path, {land.plane.explained:.0%} of its variance")
    return (f"a 2-D slice through {land.n_params:,} dimensions: two random filter-normalised "
            "directions (no path yet)")


def landscape_text(scenario: str, land) -> list[str]:
    """A shaded map of the grid (low loss light, high loss dense), each path in its number
    (1 the first variant's), the plane's origin (the variant's weights now) as O."""
    losses = np.log10(np.maximum(land.losses, 1e-300))
    finite = losses[np.isfinite(losses)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    level = np.clip((losses - lo) / ((hi - lo) or 1.0), 0, 1)
    rows = [[SHADES[int(v * (len(SHADES) - 1))] if np.isfinite(v) else "!" for v in row]
            for row in np.nan_to_num(level, nan=np.inf)]
    marks = {}
    for number, path in enumerate(land.paths, start=1):
        for a, b in path.coordinates:
            cell = _cell(land, a, b)
            if cell is not None:
                marks[cell] = PATH_MARKS[(number - 1) % len(PATH_MARKS)]
    marks[_cell(land, 0.0, 0.0)] = "O"
    for (j, i), mark in marks.items():
        rows[j][i] = mark
    lines = [f"nnsim landscape {scenario}, variant {land.run} at step {land.step}: "
             f"{plane_in_words(land)}",
             f"training loss {land.losses[np.isfinite(land.losses)].min(initial=np.inf):.4g} "
             f"(light) to {land.losses[np.isfinite(land.losses)].max(initial=-np.inf):.4g} "
             f"(dense), log scale; O: the weights now; "
             + ", ".join(f"{PATH_MARKS[i % len(PATH_MARKS)]}: {p.name}'s path"
                         for i, p in enumerate(land.paths)),
             f"a from {land.alphas[0]:.3g} to {land.alphas[-1]:.3g} (across), "
             f"b from {land.betas[0]:.3g} (bottom) to {land.betas[-1]:.3g} (top)"]
    lines += ["  " + " ".join(row) for row in rows[::-1]]
    return lines


def _cell(land, a: float, b: float) -> tuple[int, int] | None:
    """The grid cell (row, column) nearest (a, b), or None outside the grid."""
    if not (np.isfinite(a) and np.isfinite(b)):
        return None
    i = int(np.argmin(np.abs(land.alphas - a)))
    j = int(np.argmin(np.abs(land.betas - b)))
    step_a = abs(land.alphas[1] - land.alphas[0])
    step_b = abs(land.betas[1] - land.betas[0])
    if abs(land.alphas[i] - a) > step_a or abs(land.betas[j] - b) > step_b:
        return None
    return j, i


def range_in_words(test) -> str:
    """What the range test found, in one line (the modal says the same)."""
    end = ("the loss diverged at rate " + f"{test.rates[test.diverged]:.3g}"
           if test.diverged is not None else f"the loss never diverged up to {test.rates[-1]:.3g}")
    steepest = (f"steepest descent at rate {test.suggestion:.3g}" if test.suggestion is not None
                else "the loss never fell")
    return f"{steepest}; {end}; the run trains at {test.current_rate:.3g}"


def lr_find_text(scenario: str, test) -> list[str]:
    lines = [f"nnsim lr-find {scenario}, variant {test.run} from step {test.step}: "
             f"{len(test.rates)} steps, the rate growing from {test.rates[0]:.3g}",
             range_in_words(test), "", f"{'rate':>12}  {'batch loss':>12}  {'smoothed':>12}"]
    shown = sorted(set(np.linspace(0, len(test.rates) - 1, 20).round().astype(int).tolist())
                   | {i for i in (test.steepest, test.diverged) if i is not None})
    for i in shown:
        note = "  steepest descent" if i == test.steepest else (
            "  diverged" if i == test.diverged else "")
        lines.append(f"{test.rates[i]:>12.3g}  {test.losses[i]:>12.4g}  {test.smoothed[i]:>12.4g}{note}")
    return lines

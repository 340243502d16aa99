"""What a finished experiment leaves behind: ``metrics.csv`` and ``summary.json``.

Written from histories and outcomes, whoever produced them, so ``nnsim run --out`` and the
dashboard's export give the same bytes for the same runs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Sequence

from .expectations import Outcome, Result
from .scenario import Scenario, Variant
from .snapshot import History

OUT_FILES = ("metrics.csv", "summary.json")     # what `nnsim run --out DIR` writes into DIR
SCALARS = ("train_loss", "val_loss", "train_acc", "val_acc", "batch_loss", "batch_loss_std", "lr")
LAYER_COLUMNS = ("grad_norm", "update_ratio")   # one column per layer each, 0 = first hidden layer


def metrics_csv(histories: Sequence[tuple[str, History]]) -> str:
    """One row per history row per run, by run then step; ``histories`` pairs a run's name with
    its history. Per layer: the gradient norm and the update/weight ratio (the size of the step
    taken over the size of the weights, CS231n's rule of thumb ~1e-3), both averaged over the
    steps since the previous check."""
    n_layers = max(h.grad_norms.shape[1] for _, h in histories)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", "epoch", "variant", *SCALARS]
                    + [f"{column}_{i}" for column in LAYER_COLUMNS for i in range(n_layers)])
    for name, h in histories:
        for i in range(len(h)):
            per_layer = []
            for values in (h.grad_norms[i], h.update_ratios[i]):
                per_layer += [repr(float(v)) for v in values] + [""] * (n_layers - len(values))
            writer.writerow([int(h.step[i]), int(h.epoch[i]), name]
                            + [repr(float(getattr(h, k)[i])) for k in SCALARS] + per_layer)
    return out.getvalue()


def summary_rows(runs: Sequence[tuple[Variant, Outcome]]) -> list[dict]:
    """Final numbers per variant (the rows of the summary table and of summary.json)."""
    rows = []
    for variant, outcome in runs:
        snap, test = outcome.snapshot, outcome.test or (math.nan, math.nan)
        rows.append({
            "variant": variant.name, "label": variant.label, "seed": variant.config.train.seed,
            "step": snap.step, "epoch": snap.epoch,
            "train_loss": snap.train_loss, "val_loss": snap.val_loss,
            "train_acc": snap.train_acc, "val_acc": snap.val_acc,
            "test_loss": float(test[0]), "test_acc": float(test[1]),
            "diverged_step": snap.diverged_step,
            "stopped_early_step": snap.step if snap.stopped_early else None,
            "best_step": snap.best_step,
        })
    return rows


def _plain(value):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def summary_json(scenario: Scenario, seed: int | None, overrides,
                 runs: Sequence[tuple[Variant, Outcome]], results: Sequence[Result]) -> str:
    doc = {
        "scenario": scenario.name,
        "title": scenario.title,
        "seed": seed,
        "set": {k: v for k, v in overrides},
        "variants": summary_rows(runs),
        "expectations": [{"id": r.id, "kind": r.kind, "passed": r.passed, "message": r.message,
                          "because": r.because, "details": list(r.details),
                          "figures": dict(r.figures)} for r in results],
        "passed": all(r.passed for r in results),
    }
    return json.dumps(_plain(doc), indent=2, allow_nan=False) + "\n"


def _umask() -> int:
    mask = os.umask(0o022)      # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def write_atomically(folder: Path, name: str, text: str) -> Path:
    """Write ``folder/name`` through a temporary file, so it is never seen half-written. On any
    exception, Ctrl-C and the signals the command line turns into one (SIGTERM, SIGHUP)
    included, the temporary file is removed and ``folder/name`` is left as it was."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    temp = None
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            os.fchmod(fd, 0o666 & ~_umask())     # mkstemp makes it 0600; a results file follows the umask
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
        raise
    return target

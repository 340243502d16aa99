"""``nnsim trace``: one training step's four phases as tables per layer, or as JSON.

The numbers come from ``core.trace`` (the kernels that train); this module only lays them out.
Tables show the first few examples and units, and say so; the JSON has every value, written
with Python's shortest round-trip repr, so it holds the float64 numbers exactly.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .core.scenario import load_scenario

MAX_COLUMNS = 8      # units (or inputs) shown side by side in a table
MAX_ROWS = 8         # rows of a weight table


def add_parser(commands, scenario_help: str) -> None:
    trace = commands.add_parser(
        "trace", help="one training step's forward pass, loss, backpropagation and update",
        description="Train a variant of a scenario to step N, then show step N phase by phase, "
                    "computed by the kernels that train: tables per layer, or every array as "
                    "JSON. Step N is the step taken after N steps.")
    trace.add_argument("scenario", metavar="SCENARIO", help=scenario_help)
    trace.add_argument("--variant", metavar="NAME", help="which variant (default: the first)")
    trace.add_argument("--step", type=_count(0), default=0, metavar="N",
                       help="the step to trace (default 0, the first)")
    trace.add_argument("--batch", type=_count(1), default=4, metavar="K",
                       help="examples of the batch the tables show (default 4; the JSON has all)")
    trace.add_argument("--json", action="store_true", help="every array as JSON, on stdout")


def _count(low: int):
    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        return int(text)
    return parse


def trace_command(args) -> int:
    from .core.trace import TraceError, run_to_step, trace_step   # loads the kernels

    scenario = load_scenario(args.scenario)
    names = [variant.name for variant in scenario.variants]
    variant = args.variant or names[0]
    if variant not in names:
        print(f"nnsim: --variant: expected one of {', '.join(names)} for {scenario.name}, "
              f"got {variant!r}", file=sys.stderr)
        return 2
    try:
        trace = trace_step(run_to_step(scenario, variant, args.step))
    except TraceError as err:
        print(f"nnsim: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(scenario.name, trace), indent=1))
    else:
        print("\n".join(as_text(scenario.name, trace, args.batch)))
    return 0


def as_json(scenario: str, trace) -> dict:
    """The trace as plain JSON values; the README documents every field."""
    return {
        "scenario": scenario, "variant": trace.run_name, "step": trace.step,
        "epoch": trace.epoch, "batch_rows": trace.batch_rows.tolist(),
        "inputs": trace.inputs.tolist(), "targets": trace.targets.tolist(),
        "logits": trace.logits.tolist(), "loss_function": trace.loss_function,
        "loss": trace.loss, "loss_after": trace.loss_after, "dL_dlogits": trace.dlogits.tolist(),
        "optimizer": trace.optimizer, "learning_rate": trace.learning_rate,
        "layers": [{
            "activation": layer.activation, "residual": layer.residual,
            "inputs": layer.inputs.tolist(), "pre_activations": layer.pre_activations.tolist(),
            "activations": layer.activations.tolist(),
            "dropout_mask": None if layer.dropout_mask is None else layer.dropout_mask.tolist(),
            "outputs": layer.outputs.tolist(),
            "W_before": layer.weights_before.tolist(), "b_before": layer.biases_before.tolist(),
            "dL_dW": layer.grad_weights.tolist(), "dL_db": layer.grad_biases.tolist(),
            "grad_norm": layer.grad_norm,
            "dL_doutputs": layer.grad_outputs.tolist(), "activation_slopes": layer.slopes.tolist(),
            "dL_dz": layer.deltas.tolist(),
            "W_update": (layer.weights_after - layer.weights_before).tolist(),
            "b_update": (layer.biases_after - layer.biases_before).tolist(),
            "W_after": layer.weights_after.tolist(), "b_after": layer.biases_after.tolist(),
        } for layer in trace.layers],
    }


def as_text(scenario: str, trace, examples: int) -> list[str]:
    """The four phases as tables, the first ``examples`` examples of the batch."""
    from .core.trace import LOSS_IN_WORDS
    shown = min(examples, len(trace.batch_rows))
    n_layers = len(trace.layers)
    lines = [f"nnsim trace {scenario}, variant {trace.run_name}: step {trace.step} (epoch "
             f"{trace.epoch}), a batch of {len(trace.batch_rows)} training examples "
             f"(rows {_list(trace.batch_rows[:shown])}{', ...' if shown < len(trace.batch_rows) else ''})"]
    if shown < len(trace.batch_rows):
        lines.append(f"The tables show the first {shown}; --batch K shows more, --json every value.")
    lines += ["", "1. Forward pass: each layer computes z = inputs @ W + b, then its activation."]
    lines += _table("inputs", trace.inputs[:shown], "example", "x")
    for i, layer in enumerate(trace.layers):
        kind = "output layer" if i == n_layers - 1 else f"hidden layer {i + 1}"
        lines += ["", f"Layer {i + 1} ({kind}): {layer.inputs.shape[1]} -> "
                      f"{layer.pre_activations.shape[1]}, {layer.activation}"
                      f"{', plus its input (residual)' if layer.residual else ''}"]
        lines += _table("z", layer.pre_activations[:shown], "example", "unit")
        if layer.activation != "linear":
            lines += _table(f"{layer.activation}(z)", layer.activations[:shown], "example", "unit")
        if layer.dropout_mask is not None:
            lines += _table("dropout mask (0 = dropped)", layer.dropout_mask[:shown], "example", "unit")
    lines += ["", f"2. Loss ({trace.loss_function}, {LOSS_IN_WORDS[trace.loss_function]}): "
                  f"{trace.loss:.6g} on this batch. Backpropagation starts from dL/dlogits."]
    lines += _table("logits", trace.logits[:shown], "example", "output")
    lines += _table("targets", trace.targets[:shown], "example", "output")
    lines += _table("dL/dlogits", trace.dlogits[:shown], "example", "output")
    lines += ["", "3. Backpropagation, from the output back: dL/dW (inputs x units) and dL/db."]
    for i in range(n_layers - 1, -1, -1):
        layer = trace.layers[i]
        lines += ["", f"Layer {i + 1}: |dL/dW| = {layer.grad_norm:.4g}"]
        lines += _table("dL/dW", layer.grad_weights, "input", "unit", rows=MAX_ROWS)
        lines += _table("dL/db", layer.grad_biases[None, :], "", "unit")
    lines += ["", f"4. Update ({trace.optimizer}, learning rate {trace.learning_rate:.4g}): "
                  "every weight and bias moves against its gradient."]
    for i, layer in enumerate(trace.layers):
        lines += ["", f"Layer {i + 1}"]
        lines += _table("W before", layer.weights_before, "input", "unit", rows=MAX_ROWS)
        lines += _table("W change", layer.weights_after - layer.weights_before, "input", "unit",
                        rows=MAX_ROWS)
        lines += _table("b change", (layer.biases_after - layer.biases_before)[None, :], "", "unit")
    return lines


def _table(title: str, matrix: np.ndarray, row_name: str, column_name: str,
           rows: int | None = None) -> list[str]:
    """A titled grid of ``matrix`` (at most ``rows`` rows and MAX_COLUMNS columns)."""
    n_rows, n_columns = matrix.shape
    cut = matrix[:rows, :MAX_COLUMNS]
    hidden = []
    if rows is not None and n_rows > rows:
        hidden.append(f"{n_rows - rows} more {row_name}s")
    if n_columns > MAX_COLUMNS:
        hidden.append(f"{n_columns - MAX_COLUMNS} more {column_name}s")
    lines = [f"  {title}" + (f" (not shown: {', '.join(hidden)})" if hidden else "")]
    label_width = max(len(row_name) + 4, 8)
    lines.append(" " * (4 + label_width) + "".join(f"{f'{column_name} {j + 1}':>11}"
                                                   for j in range(cut.shape[1])))
    for r, values in enumerate(cut):
        label = f"{row_name} {r + 1}" if row_name else ""
        lines.append(f"    {label:<{label_width}}" + "".join(f"{v:>11.4g}" for v in values))
    return lines


def _list(values) -> str:
    return ", ".join(str(int(v)) for v in values)

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

from .core.layers import layer_names
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
        "batch_start": trace.batch_start, "train_rows": trace.train_rows,
        "batch_size": trace.batch_size,
        "inputs": trace.inputs.tolist(), "targets": trace.targets.tolist(),
        "logits": trace.logits.tolist(), "loss_function": trace.loss_function,
        "example_losses": trace.example_losses.tolist(), "loss_divisor": trace.loss_divisor,
        "loss": trace.loss, "loss_after": trace.loss_after, "dL_dlogits": trace.dlogits.tolist(),
        "penalty": trace.penalty, "grad_norm_total": trace.grad_norm_total,
        "clip_scale": trace.clip_scale,
        "optimizer": trace.optimizer, "learning_rate": trace.learning_rate,
        "optimizer_t": trace.optimizer_t,
        "layers": [{
            "activation": layer.activation, "residual": layer.residual,
            "inputs": layer.inputs.tolist(), "pre_activations": layer.pre_activations.tolist(),
            "activations": layer.activations.tolist(),
            "dropout_mask": None if layer.dropout_mask is None else layer.dropout_mask.tolist(),
            "outputs": layer.outputs.tolist(),
            "W_before": layer.weights_before.tolist(), "b_before": layer.biases_before.tolist(),
            "dL_doutputs": layer.grad_outputs.tolist(), "activation_slopes": layer.slopes.tolist(),
            "dL_dz": layer.deltas.tolist(),
            "loss_dL_dW": layer.data_grad_weights.tolist(),
            "loss_dL_db": layer.data_grad_biases.tolist(),
            "penalty_dW": (None if layer.penalty_grad_weights is None
                           else layer.penalty_grad_weights.tolist()),
            "dL_dW": layer.grad_weights.tolist(), "dL_db": layer.grad_biases.tolist(),
            "grad_norm": layer.grad_norm,
            "first_moment_before": layer.first_before.tolist(),
            "first_moment_after": layer.first_after.tolist(),
            "second_moment_before": layer.second_before.tolist(),
            "second_moment_after": layer.second_after.tolist(),
            "W_update": (layer.weights_after - layer.weights_before).tolist(),
            "b_update": (layer.biases_after - layer.biases_before).tolist(),
            "W_after": layer.weights_after.tolist(), "b_after": layer.biases_after.tolist(),
        } for layer in trace.layers],
    }


MOMENTS = {   # the optimizer's moments an update reads: (title, LayerTrace field stem)
    "momentum": (("velocity", "first"),), "nesterov": (("velocity", "first"),),
    "rmsprop": (("running mean of gradient^2", "second"),),
    "adam": (("m", "first"), ("v", "second")), "adamw": (("m", "first"), ("v", "second")),
}


def as_text(scenario: str, trace, examples: int) -> list[str]:
    """The four phases as tables, the first ``examples`` examples of the batch."""
    shown = min(examples, len(trace.batch_rows))
    more = ", ..." if shown < len(trace.batch_rows) else ""
    lines = [f"nnsim trace {scenario}, variant {trace.run_name}: step {trace.step} (epoch "
             f"{trace.epoch}), {trace.batch_in_words} (rows {_list(trace.batch_rows[:shown])}{more})"]
    if shown < len(trace.batch_rows):
        lines.append(f"The tables show the first {shown}; --batch K shows more, --json every value.")
    lines += _forward_text(trace, shown) + _loss_text(trace, shown)
    lines += _backprop_text(trace, shown) + _update_text(trace)
    return lines


def _layer_name(trace, i: int) -> str:
    """``h2 (hidden layer 2)``, ``out (output layer)``: the name every view uses, and what it is."""
    name = layer_names(len(trace.layers))[i]
    return f"{name} (output layer)" if i == len(trace.layers) - 1 else f"{name} (hidden layer {i + 1})"


def _forward_text(trace, shown: int) -> list[str]:
    lines = ["", "1. Forward pass: each layer computes z = inputs @ W + b, then its activation."]
    lines += _table("inputs", trace.inputs[:shown], "example", "x")
    for i, layer in enumerate(trace.layers):
        lines += ["", f"{_layer_name(trace, i)}: {layer.inputs.shape[1]} -> "
                      f"{layer.pre_activations.shape[1]}, {layer.activation}"
                      f"{', plus its input (residual)' if layer.residual else ''}"]
        lines += _table("z", layer.pre_activations[:shown], "example", "unit")
        if layer.activation != "linear":
            lines += _table(f"{layer.activation}(z)", layer.activations[:shown], "example", "unit")
        if layer.dropout_mask is not None:
            lines += _table("dropout mask (0 = dropped)", layer.dropout_mask[:shown], "example", "unit")
    return lines


def _loss_text(trace, shown: int) -> list[str]:
    from .core.trace import EXAMPLE_GRADIENT_IN_WORDS, LOSS_IN_WORDS

    rows, divisor = len(trace.batch_rows), trace.loss_divisor
    over = f"{rows}" if divisor == rows else f"{rows} x {trace.logits.shape[1]} outputs"
    lines = ["", f"2. Loss ({trace.loss_function}, {LOSS_IN_WORDS[trace.loss_function]}): "
                 f"{trace.loss:.6g} on this batch, the mean of its {rows} examples' losses "
                 f"(their sum {trace.example_losses.sum():.6g} / {rows})."]
    lines += _table("logits", trace.logits[:shown], "example", "output")
    if trace.loss_function != "mse":
        lines += _table("p", trace.predictions[:shown], "example", "output")
    lines += _table("targets", trace.targets[:shown], "example", "output")
    lines += _table("each example's loss", trace.example_losses[None, :shown], "", "example")
    lines += ["", f"Backpropagation starts from dL/dlogits: each example's own gradient, "
                  f"{EXAMPLE_GRADIENT_IN_WORDS[trace.loss_function]}, / {divisor} (the loss is "
                  f"the mean over {over})."]
    lines += _table(EXAMPLE_GRADIENT_IN_WORDS[trace.loss_function], trace.example_dlogits[:shown],
                    "example", "output")
    lines += _table(f"dL/dlogits = that / {divisor}", trace.dlogits[:shown], "example", "output")
    return lines


def _backprop_text(trace, shown: int) -> list[str]:
    n_layers = len(trace.layers)
    lines = ["", "3. Backpropagation, from the output back: each layer's dL/dz = dL/d(outputs) "
                 "x mask x act'(z); dL/dW = inputs^T @ dL/dz and dL/db = dL/dz summed over the "
                 "batch; the layer below receives dL/dz @ W^T (plus dL/d(outputs) itself "
                 "through a skip connection)."]
    for i in range(n_layers - 1, -1, -1):
        layer = trace.layers[i]
        if i == n_layers - 1:
            lines += ["", f"{_layer_name(trace, i)}: dL/d(outputs) = dL/dlogits "
                          "= dL/dz (its activation is part of the loss)"]
        else:
            above = layer_names(n_layers)[i + 1]
            skip = (f" + dL/d(outputs) of {above} (its skip connection)"
                    if trace.layers[i + 1].residual else "")
            lines += ["", f"{_layer_name(trace, i)}, {layer.activation}: "
                          f"dL/d(outputs) = dL/dz of {above} @ {above}'s W^T{skip}"]
            lines += _table("dL/d(outputs)", layer.grad_outputs[:shown], "example", "unit")
            if layer.dropout_mask is not None:
                lines += _table("dropout mask", layer.dropout_mask[:shown], "example", "unit")
            lines += _table(f"act'(z) = {layer.activation}'(z)", layer.slopes[:shown], "example", "unit")
            lines += _table("dL/dz", layer.deltas[:shown], "example", "unit")
        lines += _table(f"dL/dW (|dL/dW| = {layer.grad_norm:.4g})", layer.data_grad_weights,
                        "input", "unit", rows=MAX_ROWS)
        lines += _table("dL/db", layer.data_grad_biases[None, :], "", "unit")
    return lines


def _update_text(trace) -> list[str]:
    from .core.trace import OPTIMIZER_IN_WORDS

    train = trace.train
    lines = []
    if trace.penalised:
        terms = [f"l2 x w (l2 = {train.l2:g})"] if train.l2 > 0 else []
        if train.l1 > 0 and not trace.l1_proximal:
            terms.append(f"l1 x sign(w) (l1 = {train.l1:g})")
        lines += ["", f"Penalties: every weight's gradient gains {' + '.join(terms)}; biases none. "
                      f"The penalty itself, {trace.penalty:.6g}, is not in the loss above."]
        for i, layer in enumerate(trace.layers):
            lines += _table(f"{layer_names(len(trace.layers))[i]}: penalty term", layer.penalty_grad_weights, "input",
                            "unit", rows=MAX_ROWS)
    if train.clip_norm > 0:
        lines += ["", f"Clipping: |gradient| over every parameter = {trace.grad_norm_total:.6g}"
                      + (f" > clip_norm {train.clip_norm:g}: every gradient x {trace.clip_scale:.6g}."
                         if trace.clip_scale < 1.0 else f" <= clip_norm {train.clip_norm:g}: "
                         "not shortened.")]
    if trace.penalised or trace.clip_scale < 1.0:
        for i, layer in enumerate(trace.layers):
            lines += _table(f"layer {i + 1}: the gradient the update uses", layer.grad_weights,
                            "input", "unit", rows=MAX_ROWS)
    lines += ["", f"4. Update ({trace.optimizer}, learning rate {trace.learning_rate:.4g}): "
                  f"w <- w - lr x step; {OPTIMIZER_IN_WORDS[trace.optimizer]}."]
    if trace.optimizer in ("adam", "adamw"):
        lines.append(f"Adam's step {trace.optimizer_t}: beta1 {train.beta1:g}, beta2 "
                     f"{train.beta2:g}, eps {train.eps:g}; m and v are divided by "
                     f"1 - beta^{trace.optimizer_t} before the step.")
    elif trace.optimizer in ("momentum", "nesterov"):
        lines.append(f"momentum {train.momentum:g}")
    elif trace.optimizer == "rmsprop":
        lines.append(f"decay {train.beta2:g}, eps {train.eps:g}")
    for i, layer in enumerate(trace.layers):
        lines += ["", f"Layer {i + 1}"]
        lines += _table("W before", layer.weights_before, "input", "unit", rows=MAX_ROWS)
        for title, stem in MOMENTS.get(trace.optimizer, ()):
            for when in ("before", "after"):
                lines += _table(f"{title} {when}", getattr(layer, f"{stem}_{when}"), "input",
                                "unit", rows=MAX_ROWS)
        lines += _table("W change", layer.weights_after - layer.weights_before, "input", "unit",
                        rows=MAX_ROWS)
        lines += _table("b change", (layer.biases_after - layer.biases_before)[None, :], "", "unit")
    if trace.l1_proximal:
        lines += ["", f"L1 (proximal): after the step every weight moved lr x l1 = "
                      f"{trace.learning_rate * train.l1:.4g} towards zero, stopping at zero "
                      "(included in W change)."]
    verdict = "lower" if trace.loss_after < trace.loss else "higher: the step overshot"
    lines += ["", f"Loss after the step, on the same batch (same dropout masks): "
                  f"{trace.loss_after:.6g} (was {trace.loss:.6g}), {verdict}."]
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

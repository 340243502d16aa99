"""The step-through's pictures: one ``StepTrace`` drawn as a network diagram and a phase's
numbers, as Rich text. Pure functions of the trace and of what the reader chose to look at,
so the screen only keeps state and keys, and a test can draw any phase without an app.

Colour says sign and size at once: blue for positive, orange for negative, bold for the
largest values on screen and dim for the smallest, so it reads in 16 colours and in 256 as well
as in true colour. Numbers are rounded to two or three figures; ``exact`` shows them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..core.layers import layer_names

if TYPE_CHECKING:       # core.trace loads the kernels (Numba): not before the first frame
    from ..core.trace import StepTrace

PHASES = ("forward", "loss", "backpropagation", "update")
MAX_UNITS = 8           # units of a layer the diagram shows
MAX_LAYERS = 4          # layers (besides the inputs) the diagram shows
POSITIVE, NEGATIVE = "#58a6ff", "#ff9f43"
FACTOR = "#a0a0a8"      # the chain-rule factor: neutral, it is not a signed quantity to compare


@dataclass(frozen=True)
class Look:
    """What the reader chose to look at: the phase, the example, the layers, exact numbers."""

    phase: int = 0          # index into PHASES
    example: int = 0        # row of the batch drawn in the diagram
    layer: int = 0          # the layer whose weights the story shows (the diagram follows it)
    exact: bool = False


def number(value: float, exact: bool = False) -> str:
    """``value`` rounded for reading (signed, 5-6 characters), or every digit when ``exact``."""
    if exact:
        return repr(float(value))
    if value == 0.0 or not np.isfinite(value):
        return f"{value:+.2f}" if value == 0.0 else str(value)
    if 0.01 <= abs(value) < 100:
        return f"{value:+.2f}"
    mantissa, exponent = f"{value:+.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def plain(value: float, exact: bool = False) -> str:
    """A loss or a rate: three figures, no sign."""
    return repr(float(value)) if exact else f"{value:.3g}"


def plain_pair(before: float, after: float, exact: bool = False) -> tuple[str, str]:
    """Two losses to as many figures as it takes to tell them apart (three at least): a loss
    that fell in its fifth figure must not read "0.668 → 0.668  lower"."""
    if not exact:
        for figures in range(3, 18):
            shown = f"{before:.{figures}g}", f"{after:.{figures}g}"
            if shown[0] != shown[1] or before == after:
                return shown
    return repr(float(before)), repr(float(after))


def styled(value: float, scale: float, exact: bool = False) -> Text:
    """``number(value)`` coloured by its sign and emphasised by its size relative to ``scale``."""
    colour = POSITIVE if value >= 0 else NEGATIVE
    share = abs(value) / scale if scale > 0 else 0.0
    weight = "bold " if share > 0.5 else ("dim " if share < 0.1 else "")
    return Text(number(value, exact), style=weight + colour)


def _scale(*arrays) -> float:
    finite = [np.abs(a[np.isfinite(a)]).max(initial=0.0) for a in arrays if np.size(a)]
    return float(max(finite, default=0.0))


def header(trace: StepTrace, look: Look, label: str = "") -> Text:
    """The title line: which run (by ``label``, the name the panes give it; none for a lesson
    of one run, as there), which step, which example of which batch."""
    rows = len(trace.batch_rows)
    short = f" (the last of epoch {trace.epoch}: {rows} left)" if rows < trace.batch_size else ""
    who = f"{label} · " if label else ""
    return Text.assemble(("Step-through ", "bold"), f"{who}step {trace.step} "
                         f"(epoch {trace.epoch}) · a batch of {rows}{short} · example "
                         f"{look.example + 1} (row {int(trace.batch_rows[look.example])})")


def phase_bar(look: Look) -> Text:
    """The four phases, the current one highlighted."""
    bar = Text()
    for i, name in enumerate(PHASES):
        if i:
            bar.append(" ▸ ", style="dim")
        bar.append(f" {i + 1}. {name} ", style="bold reverse" if i == look.phase else "dim")
    return bar


def _columns(trace: StepTrace, look: Look) -> range:
    """The layers the diagram draws: all, or MAX_LAYERS of them around the chosen layer; with
    exact numbers (each some 20 characters wide) the chosen layer alone."""
    if look.exact:
        return range(look.layer, look.layer + 1)
    start = max(0, min(look.layer, len(trace.layers) - MAX_LAYERS))
    return range(start, min(len(trace.layers), start + MAX_LAYERS))


def slice_note(trace: StepTrace, look: Look) -> str:
    """What the diagram leaves out, if anything (said under it)."""
    notes = []
    shown = _columns(trace, look)
    if len(shown) < len(trace.layers):
        names = layer_names(len(trace.layers))
        which = (names[shown.start] if len(shown) == 1
                 else f"{names[shown.start]}-{names[shown.stop - 1]}")
        notes.append(f"{which} of {len(trace.layers)} layers ([ ] move)")
    widths = [trace.inputs.shape[1]] + [layer.activations.shape[1] for layer in trace.layers]
    if max(widths) > MAX_UNITS:
        notes.append(f"the first {MAX_UNITS} units of each layer")
    return "shown: " + ", ".join(notes) if notes else ""


def diagram(trace: StepTrace, look: Look) -> Table:
    """The network, one column per layer and one cell per unit, showing for the drawn example
    what the phase computes at each unit."""
    e, exact = look.example, look.exact
    shown = _columns(trace, look)
    table = Table(box=None, padding=(0, 1), show_edge=False, expand=False)
    first_inputs = trace.layers[shown.start].inputs[e]
    names = layer_names(len(trace.layers))
    table.add_column(Text("inputs\n" if shown.start == 0 else f"{names[shown.start - 1]}\noutputs",
                          style="bold"), no_wrap=True)
    cells = [[styled(v, _scale(first_inputs), exact) for v in first_inputs[:MAX_UNITS]]]
    for i in shown:
        layer = trace.layers[i]
        last = i == len(trace.layers) - 1
        title = f"→ {names[i]}\n  {'' if last else layer.activation}"
        table.add_column(Text(title, style="bold"), no_wrap=True)
        cells.append([_unit(trace, i, j, look) for j in range(min(MAX_UNITS, layer.activations.shape[1]))])
    for row in range(max(len(column) for column in cells)):
        table.add_row(*(column[row] if row < len(column) else Text("") for column in cells))
    return table


def _unit(trace: StepTrace, i: int, j: int, look: Look) -> Text:
    """One unit's cell: forward z → a; loss (output) prediction vs target; backpropagation
    dL/dz with its act'(z) factor; update the bias before → after."""
    layer, e, exact = trace.layers[i], look.example, look.exact
    if look.phase == 0 or (look.phase == 1 and i < len(trace.layers) - 1):
        z, a = layer.pre_activations[:, j], layer.activations[:, j]
        cell = Text.assemble(styled(z[e], _scale(layer.pre_activations), exact))
        if layer.activation != "linear":
            cell.append("→", style="dim")
            cell.append_text(styled(a[e], _scale(layer.activations), exact))
        if layer.dropout_mask is not None and layer.dropout_mask[e, j] == 0.0:
            cell.append(" ✕", style="bold red")
        return cell
    if look.phase == 1:
        prediction, target = trace.predictions[e, j], trace.targets[e, j]
        cell = Text(f"p {plain(prediction, exact)}", style="bold")
        cell.append(f" y {plain(target, exact)}", style="dim")
        return cell
    if look.phase == 2:
        # One scale for every layer, so a gradient that vanishes on its way back fades.
        scale = _scale(*(other.deltas[e] for other in trace.layers))
        cell = Text.assemble(styled(layer.deltas[e, j], scale, exact))
        if i < len(trace.layers) - 1:
            cell.append(f" ×{plain(layer.slopes[e, j], exact)}", style=FACTOR)
        else:           # where dL/dlogits first appears: the example's own gradient ÷ B
            cell.append(f" ={plain(trace.example_dlogits[e, j], exact)}÷{trace.loss_divisor}",
                        style=FACTOR)
        return cell
    before, after = layer.biases_before[j], layer.biases_after[j]
    scale = _scale(layer.biases_before, layer.biases_after)
    cell = Text("b ", style="dim")
    cell.append_text(styled(before, scale, exact))
    cell.append("→", style="dim")
    cell.append_text(styled(after, scale, exact))
    return cell


def story(trace: StepTrace, look: Look) -> Group:
    """The phase in words and numbers, under the diagram."""
    return Group(*{0: _forward_story, 1: _loss_story, 2: _backprop_story,
                   3: _update_story}[look.phase](trace, look))


def _forward_story(trace: StepTrace, look: Look) -> list:
    layer = trace.layers[look.layer]
    e, exact = look.example, look.exact
    terms = [f"({number(w, exact)}×{number(x, exact)})"
             for w, x in zip(layer.weights_before[:MAX_UNITS, 0], layer.inputs[e, :MAX_UNITS])]
    more = " + …" if layer.inputs.shape[1] > MAX_UNITS else ""
    lines = [Text("Each unit adds up its inputs times their weights, plus its bias: the weighted "
                  "sum z; then its activation turns z into what it passes on (z→a).")]
    sum_line = Text(f"Example {e + 1}, {layer_names(len(trace.layers))[look.layer]}, unit 1: z = {' + '.join(terms)}"
                    f"{more} + ({number(layer.biases_before[0], exact)}) = "
                    f"{number(layer.pre_activations[e, 0], exact)}")
    if layer.activation != "linear":
        sum_line.append(f";  {layer.activation}(z) = {number(layer.activations[e, 0], exact)}")
    if layer.dropout_mask is not None:
        sum_line.append(f"; × dropout mask {plain(layer.dropout_mask[e, 0], exact)}")
    if layer.residual:
        sum_line.append(f"; + its input {number(layer.inputs[e, 0], exact)}")
    if layer.dropout_mask is not None or layer.residual:
        sum_line.append(f" = {number(layer.outputs[e, 0], exact)} passed on")
    lines.append(sum_line)
    if any(layer.dropout_mask is not None for layer in trace.layers):
        lines.append(Text("✕: dropped by this step's dropout mask (the others are scaled up).",
                          style="dim"))
    return lines


def _example_gradient(loss_function: str) -> str:
    """One example's own dℓ/dlogit in words, bracketed when it is a sum (it is divided next)."""
    from ..core.trace import EXAMPLE_GRADIENT_IN_WORDS   # a trace exists: the kernels are loaded

    words = EXAMPLE_GRADIENT_IN_WORDS[loss_function]
    return f"({words})" if " - " in words else words


def _loss_story(trace: StepTrace, look: Look) -> list:
    from ..core.trace import LOSS_IN_WORDS

    e, exact = look.example, look.exact
    rows = len(trace.batch_rows)
    own = _example_gradient(trace.loss_function)
    lines = [Text.assemble("Loss (", (trace.loss_function, "bold"), "): ",
                           LOSS_IN_WORDS[trace.loss_function], "."),
             Text(f"Example {e + 1}: logit {plain(trace.logits[e, 0], exact)}, prediction "
                  f"{plain(trace.predictions[e, 0], exact)}, target "
                  f"{plain(trace.targets[e, 0], exact)}: its loss "
                  f"{plain(trace.example_losses[e], exact)}."),
             Text.assemble(f"{trace.batch_in_words.capitalize()}. Its loss = the {rows} losses' sum "
                           f"{plain(trace.example_losses.sum(), exact)} ÷ {rows} = ",
                           (plain(trace.loss, exact), "bold"))]
    table = Table(box=None, padding=(0, 1), show_edge=False)
    for title in ("example", "prediction", "target", "loss"):
        table.add_column(title, style="dim" if title == "example" else "", no_wrap=True)
    for row in sorted({*range(min(4, rows)), e}):
        style = "bold" if row == e else ""
        table.add_row(Text(str(row + 1), style=style),
                      Text(" ".join(plain(v, exact) for v in trace.predictions[row, :MAX_UNITS]), style=style),
                      Text(" ".join(plain(v, exact) for v in trace.targets[row, :MAX_UNITS]), style=style),
                      Text(plain(trace.example_losses[row], exact), style=style))
    lines.append(table)
    lines.append(Text(f"Backpropagation starts from example {e + 1}'s own gradient, {own} = "
                      f"{plain(trace.example_dlogits[e, 0], exact)}, ÷ {trace.loss_divisor} "
                      f"because the loss is the batch's mean: dL/dlogit = "
                      f"{plain(trace.dlogits[e, 0], exact)}."))
    return lines


def _backprop_story(trace: StepTrace, look: Look) -> list:
    e, exact = look.example, look.exact
    lines = [Text("From the output back, the chain rule: each unit's dL/dz = dL/da × mask × "
                  "act'(z) (drawn: dL/dz, then the ×act'(z) factor that carried it); a unit's "
                  "dL/da is the sum over the units above of their dL/dz × the weight between.")]
    lines.append(Text(f"Example {e + 1}, out: dL/dz = "
                      f"{_example_gradient(trace.loss_function)} ÷ {trace.loss_divisor} = "
                      f"{plain(trace.example_dlogits[e, 0], exact)} ÷ {trace.loss_divisor} = "
                      f"{plain(trace.layers[-1].deltas[e, 0], exact)}"))
    for i in range(len(trace.layers) - 2, -1, -1):
        if i in _columns(trace, look):
            lines.append(_chain_line(trace, i, e, exact))
    norms = Text("‖dL/dW‖ from the output back: ")
    for i in range(len(trace.layers) - 1, -1, -1):
        norms.append(plain(trace.layers[i].grad_norm, exact), style="bold")
        norms.append(f" ({layer_names(len(trace.layers))[i]})" + (" ← " if i else ""), style="dim")
    lines.append(norms)
    i = look.layer
    layer, name = trace.layers[i], layer_names(len(trace.layers))[i]
    lines.append(Text(f"{name}, weight in1→u1: dL/dW = Σ over the batch of input × dL/dz; "
                      f"example {e + 1}'s: {plain(layer.inputs[e, 0], exact)} × "
                      f"{plain(layer.deltas[e, 0], exact)} = "
                      f"{plain(layer.inputs[e, 0] * layer.deltas[e, 0], exact)}; the batch's: "
                      f"{plain(layer.data_grad_weights[0, 0], exact)}"))
    lines.append(Text(f"dL/dW of {name} (its inputs × its units):", style="bold"))
    lines.append(_matrix(layer.data_grad_weights, exact))
    return lines


def _chain_line(trace: StepTrace, i: int, e: int, exact: bool) -> Text:
    """Hidden layer ``i``'s unit 1 for example ``e``: dL/da from the layer above, then the mask
    and act'(z) that make it dL/dz."""
    layer, above = trace.layers[i], trace.layers[i + 1]
    terms = [f"({plain(dz, exact)}×{plain(w, exact)})"
             for dz, w in zip(above.deltas[e, :MAX_UNITS], above.weights_before[0, :MAX_UNITS])]
    more = " + …" if len(above.deltas[e]) > MAX_UNITS else ""
    skip = (f" + skip {plain(above.grad_outputs[e, 0], exact)}" if above.residual else "")
    line = Text(f"{layer_names(len(trace.layers))[i]}, unit 1: dL/da = {' + '.join(terms)}{more}{skip} = "
                f"{plain(layer.grad_outputs[e, 0], exact)}")
    if layer.dropout_mask is not None:
        line.append(f"; × mask {plain(layer.dropout_mask[e, 0], exact)}")
    line.append(f"; × {layer.activation}'(z) {plain(layer.slopes[e, 0], exact)}", style="")
    line.append(f" → dL/dz = {plain(layer.deltas[e, 0], exact)}")
    return line


def _update_story(trace: StepTrace, look: Look) -> list:
    from ..core.trace import OPTIMIZER_IN_WORDS    # a trace exists: the kernels are loaded

    exact = look.exact
    i = look.layer
    layer, name = trace.layers[i], layer_names(len(trace.layers))[i]
    change = layer.weights_after - layer.weights_before
    verdict = ("lower" if trace.loss_after < trace.loss else
               "the same" if trace.loss_after == trace.loss else
               "HIGHER: the step overshot (too big a learning rate?)")
    loss_before, loss_after = plain_pair(trace.loss, trace.loss_after, exact)
    lines = [Text(f"Step taken: the run is at step {trace.step + 1}, with these weights.",
                  style="italic"),
             Text.assemble("Update (", (trace.optimizer, "bold"), "): w ← w − lr × step, lr = ",
                           plain(trace.learning_rate, exact), "; ",
                           OPTIMIZER_IN_WORDS[trace.optimizer], "."),
             *_followed_weight(trace, i, exact),
             Text.assemble("Same batch again: loss ", loss_before, " → ",
                           (loss_after, "bold"), f"  {verdict}")]
    if exact:
        lines.append(Text(f"{name}'s weights:", style="bold"))
        lines.append(_weight_list({"before": layer.weights_before, "after": layer.weights_after,
                                   "change": change}))
        return lines
    grids = [(f"{name}'s weights before:", layer.weights_before),
             ("after:", layer.weights_after), ("their change, −lr × step:", change)]
    if trace.optimizer != "sgd":      # the optimizer's part: how far it is from plain SGD
        grids.append(("plain SGD's change would be −lr × gradient:",
                      -trace.learning_rate * layer.grad_weights))
    for title, values in grids:
        lines.append(Text(title, style="bold"))
        lines.append(_matrix(values, exact))
    return lines


def _followed_weight(trace: StepTrace, i: int, exact: bool) -> list[Text]:
    """Layer ``i``'s weight in1→u1 through the update: its gradient, the penalties and the
    clipping when they are set, the optimizer's arithmetic, before → after."""
    def f(value):
        return plain(value, exact)

    layer, train, lr = trace.layers[i], trace.train, trace.learning_rate
    w, g = layer.weights_before[0, 0], layer.data_grad_weights[0, 0]
    lines = [Text(f"{layer_names(len(trace.layers))[i]}, weight in1→u1 = {f(w)}: its gradient {f(g)}",
                  style="bold")]
    if layer.penalty_grad_weights is not None:
        terms = [f"L2 {f(train.l2)}×{f(w)}"] if train.l2 > 0 else []
        if train.l1 > 0 and not trace.l1_proximal:
            terms.append(f"L1 {f(train.l1)}×sign(w)")
        lines.append(Text(f"  + {' + '.join(terms)} = {f(layer.penalty_grad_weights[0, 0])} → "
                          f"{f(g + layer.penalty_grad_weights[0, 0])} (the penalty "
                          f"{f(trace.penalty)} is not in the loss)"))
    if train.clip_norm > 0:
        clipped = trace.clip_scale < 1.0
        lines.append(Text(f"  ‖gradient‖ of every parameter {f(trace.grad_norm_total)} "
                          + (f"> clip {f(train.clip_norm)}: × {f(trace.clip_scale)} → "
                             f"{f(layer.grad_weights[0, 0])}" if clipped
                             else f"≤ clip {f(train.clip_norm)}: unchanged")))
    g = layer.grad_weights[0, 0]
    m0, m1 = layer.first_before[0, 0], layer.first_after[0, 0]
    v0, v1 = layer.second_before[0, 0], layer.second_after[0, 0]
    t = trace.optimizer_t
    step = {
        "sgd": f"step = g = {f(g)}",
        "momentum": f"velocity = {f(train.momentum)}×{f(m0)} + {f(g)} = {f(m1)} = step",
        "nesterov": f"velocity = {f(train.momentum)}×{f(m0)} + {f(g)} = {f(m1)}; step = "
                    f"{f(g)} + {f(train.momentum)}×{f(m1)}",
        "rmsprop": f"s = {f(train.beta2)}×{f(v0)} + {f(1 - train.beta2)}×{f(g)}² = {f(v1)}; "
                   f"step = {f(g)} ÷ (√{f(v1)} + {f(train.eps)})",
    }.get(trace.optimizer, f"m = {f(train.beta1)}×{f(m0)} + {f(1 - train.beta1)}×{f(g)} = "
                           f"{f(m1)}; v = {f(train.beta2)}×{f(v0)} + {f(1 - train.beta2)}×"
                           f"{f(g)}² = {f(v1)}; step = ({f(m1)} ÷ {f(1 - train.beta1 ** t)}) ÷ "
                           f"(√({f(v1)} ÷ {f(1 - train.beta2 ** t)}) + {f(train.eps)})")
    lines.append(Text(f"  {step}"))
    change = layer.weights_after[0, 0] - w
    after = (f"  Δw = {f(change)}: w {f(w)} → {f(layer.weights_after[0, 0])}")
    if trace.optimizer == "adamw" and train.weight_decay > 0:
        after += f" (with the decay −lr×{f(train.weight_decay)}×w)"
    if trace.l1_proximal:
        after += f" (with L1 moving it {f(lr * train.l1)} towards zero)"
    lines.append(Text(after))
    return lines


def _matrix(values: np.ndarray, exact: bool) -> Table:
    """A weight-shaped table (inputs as rows, units as columns), coloured. Exact numbers are
    too wide for a grid: one weight a row."""
    if exact:
        return _weight_list({"value": values})
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column("", style="dim", no_wrap=True)
    cut = values[:MAX_UNITS, :MAX_UNITS]
    for j in range(cut.shape[1]):
        table.add_column(f"u{j + 1}", justify="right", no_wrap=True)
    scale = _scale(cut)
    for r in range(cut.shape[0]):
        table.add_row(f"in{r + 1}", *(styled(value, scale) for value in cut[r]))
    return table


def _weight_list(columns: dict[str, np.ndarray]) -> Table:
    """Every weight of a layer on its own row, with every digit, one column per array."""
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column("weight", style="dim", no_wrap=True)
    for title in columns:
        table.add_column(title, no_wrap=True)
    scales = [_scale(values) for values in columns.values()]
    first = next(iter(columns.values()))
    for (r, c), _ in np.ndenumerate(first):
        table.add_row(f"in{r + 1}→u{c + 1}", *(styled(values[r, c], scale, True) for values, scale
                                                in zip(columns.values(), scales)))
    return table

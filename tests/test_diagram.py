"""The step-through's pictures without an app: what a big network's slice says it leaves out,
and how colour carries sign and size."""

from __future__ import annotations

import io

from rich.console import Console

from nnsim.core import Run
from nnsim.core.trace import trace_step
from nnsim.tui import diagram
from nnsim.tui.diagram import MAX_LAYERS, MAX_UNITS, NEGATIVE, POSITIVE, Look

DEEP_WIDE = {"data": {"kind": "circle", "n_points": 60},
             "model": {"layers": [12, 6, 6, 6, 6]},
             "train": {"batch_size": 4, "steps": 10}}


def shown_text(renderable) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_a_big_network_shows_a_slice_and_says_so():
    trace = trace_step(Run(DEEP_WIDE))
    n_layers = len(trace.layers)
    assert n_layers > MAX_LAYERS
    note = diagram.slice_note(trace, Look())
    assert f"h1-h{MAX_LAYERS} of {n_layers} layers" in note and f"first {MAX_UNITS} units" in note
    first = shown_text(diagram.diagram(trace, Look()))
    assert "→ h1" in first and "→ out" not in first and f"h{MAX_LAYERS + 1}" not in first
    assert len(first.strip().splitlines()) == 2 + MAX_UNITS      # two title rows, 8 of 12 units
    last = Look(layer=n_layers - 1)
    assert (f"h{n_layers - MAX_LAYERS + 1}-out of {n_layers} layers"
            in diagram.slice_note(trace, last))
    assert "→ out" in shown_text(diagram.diagram(trace, last))


def test_a_small_network_is_drawn_whole():
    trace = trace_step(Run({**DEEP_WIDE, "model": {"layers": [3]}}))
    assert diagram.slice_note(trace, Look()) == ""


def test_colour_is_sign_and_emphasis_is_size():
    big, small, negative = (diagram.styled(v, scale=1.0) for v in (0.9, 0.01, -0.3))
    assert POSITIVE in str(big.style) and "bold" in str(big.style)
    assert POSITIVE in str(small.style) and "dim" in str(small.style)
    assert NEGATIVE in str(negative.style) and not {"bold", "dim"} & set(str(negative.style).split())


def test_rounded_numbers_are_short_and_exact_ones_round_trip():
    for value in (0.123456789, -3.14159e-7, 42.0, -0.5):
        assert len(diagram.number(value)) <= 6
        assert float(diagram.number(value, exact=True)) == value


def test_a_loss_pair_is_shown_to_the_figures_that_tell_it_apart():
    from nnsim.tui.diagram import plain_pair

    assert plain_pair(0.6681, 0.6679) == ("0.6681", "0.6679")       # not "0.668 → 0.668"
    assert plain_pair(0.6681, 0.5) == ("0.668", "0.5")
    assert plain_pair(0.25, 0.25) == ("0.25", "0.25")
    before, after = plain_pair(1.0, 1.0 + 2 ** -52)
    assert before != after and float(before) == 1.0


def test_the_header_names_the_run_as_the_panes_do():
    """It said "Step-through base", an inner name shown nowhere else, for the playground."""
    from nnsim.tui.diagram import header

    trace = trace_step(Run({**DEEP_WIDE, "model": {"layers": [3]}}))
    assert header(trace, Look()).plain.startswith("Step-through step 0 ")
    assert header(trace, Look(), "plain SGD, lr 0.1").plain.startswith(
        "Step-through plain SGD, lr 0.1 · step 0 ")

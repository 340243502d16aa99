"""What each layer is called, in every view a person reads: the panes, the lesson's checks, the
step-through, ``nnsim show``, ``check`` and ``trace``. A scenario file and the CSV columns count
layers by index instead (0 for the first hidden layer, -1 for the output layer)."""

from __future__ import annotations


def layer_names(n_layers: int) -> list[str]:
    """``h1 … hN`` for the hidden layers, ``out`` for the output layer."""
    return [f"h{i + 1}" for i in range(n_layers - 1)] + ["out"]

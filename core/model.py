"""A network's layout in one flat parameter buffer, and its initial weights.

Every weight and bias of a network lives in one contiguous float64 array. ``Layout.table``
tells the kernels where each layer's ``W`` (n_in, n_out, row-major) and ``b`` (n_out,) sit,
so gradients and optimizer moments share the layout, one kernel updates everything, and a
checkpoint is one array copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATION_CODE
from .config import ModelConfig

# Layout.table's columns. Whatever writes or reads the table (here, the kernels, the tests'
# reference) names a column by these constants, never by its position in a row.
W_OFFSET, B_OFFSET, N_IN, N_OUT, ACTIVATION, RESIDUAL, N_COLUMNS = range(7)


@dataclass(frozen=True)
class Layout:
    """Where each layer's parameters live in the flat buffer.

    ``table`` is ``(n_layers, N_COLUMNS)`` int64: weight offset, bias offset, n_in, n_out, activation
    code, residual flag (columns ``W_OFFSET`` ... ``RESIDUAL``). The last layer is the output
    layer; its activation is linear and the loss applies the output nonlinearity (sigmoid or softmax) so the gradient stays exact.
    """

    table: np.ndarray
    n_params: int
    widths: tuple[int, ...]     # n_inputs, hidden widths..., n_outputs

    @property
    def n_layers(self) -> int:
        return len(self.table)

    def unflatten(self, params: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-layer ``(W, b)`` views into ``params``."""
        out = []
        for row in self.table:
            w_off, n_in, n_out = row[W_OFFSET], row[N_IN], row[N_OUT]
            out.append((params[w_off:w_off + n_in * n_out].reshape(n_in, n_out),
                        params[row[B_OFFSET]:row[B_OFFSET] + n_out]))
        return out

    def weight_mask(self) -> np.ndarray:
        """True where the flat buffer holds a weight (not a bias)."""
        mask = np.zeros(self.n_params, dtype=bool)
        for row in self.table:
            mask[row[W_OFFSET]:row[B_OFFSET]] = True
        return mask


def build_layout(n_inputs: int, n_outputs: int, model: ModelConfig) -> Layout:
    """Lay out a dense network: hidden layers from ``model.layers``, then a linear output layer.

    A residual connection (``a = act(z) + a_prev``) is possible only where a hidden layer keeps
    its input width, so ``model.residual`` adds one exactly there.
    """
    widths = (n_inputs, *model.layers, n_outputs)
    table = np.zeros((len(widths) - 1, N_COLUMNS), dtype=np.int64)
    offset = 0
    for i, row in enumerate(table):
        n_in, n_out = widths[i], widths[i + 1]
        hidden = i < len(widths) - 2
        row[W_OFFSET], row[B_OFFSET] = offset, offset + n_in * n_out
        row[N_IN], row[N_OUT] = n_in, n_out
        row[ACTIVATION] = ACTIVATION_CODE[model.activation if hidden else "linear"]
        row[RESIDUAL] = model.residual and hidden and n_in == n_out
        offset += n_in * n_out + n_out
    return Layout(table, offset, widths)


def init_params(layout: Layout, model: ModelConfig, rng: np.random.Generator) -> np.ndarray:
    """Initial weights drawn from ``rng``; biases zero except the output bias.

    Xavier/Glorot (normal, variance 2 / (n_in + n_out)) suits tanh and sigmoid; He (variance
    2 / n_in) suits ReLU; zeros shows why symmetry must be broken.
    """
    params = np.zeros(layout.n_params)
    for W, b in layout.unflatten(params):
        n_in, n_out = W.shape
        if model.init == "normal":
            W[:] = rng.normal(0.0, model.init_std, W.shape)
        elif model.init == "xavier":
            W[:] = rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), W.shape)
        elif model.init == "he":
            W[:] = rng.normal(0.0, np.sqrt(2.0 / n_in), W.shape)
    layout.unflatten(params)[-1][1][:] = model.output_bias
    return params

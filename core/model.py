"""A network's layout in one flat parameter buffer, and its initial weights.

Every weight and bias of a network lives in one contiguous float64 array. ``Layout.table``
tells the kernels where each layer's ``W`` (n_in, n_out, row-major) and ``b`` (n_out,) sit,
so gradients and optimizer moments share the layout, one kernel updates everything, and a
checkpoint is one array copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import ACTIVATIONS, ModelConfig

# The kernels' activation codes (kernels.LINEAR ...) follow the order of the names in config.py.
ACTIVATION_CODE = {name: code for code, name in enumerate(ACTIVATIONS)}


@dataclass(frozen=True)
class Layout:
    """Where each layer's parameters live in the flat buffer.

    ``table`` is ``(n_layers, 6)`` int64: weight offset, bias offset, n_in, n_out, activation
    code, residual flag (columns ``kernels.W_OFFSET`` ... ``kernels.RESIDUAL``). The last layer is the output layer; its activation is linear and the
    loss applies the output nonlinearity (sigmoid or softmax) so the gradient stays exact.
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
        for w_off, b_off, n_in, n_out, _, _ in self.table:
            out.append((params[w_off:w_off + n_in * n_out].reshape(n_in, n_out),
                        params[b_off:b_off + n_out]))
        return out

    def weight_mask(self) -> np.ndarray:
        """True where the flat buffer holds a weight (not a bias)."""
        mask = np.zeros(self.n_params, dtype=bool)
        for w_off, _, n_in, n_out, _, _ in self.table:
            mask[w_off:w_off + n_in * n_out] = True
        return mask


def build_layout(n_inputs: int, n_outputs: int, model: ModelConfig) -> Layout:
    """Lay out a dense network: hidden layers from ``model.layers``, then a linear output layer.

    A residual connection (``a = act(z) + a_prev``) is possible only where a hidden layer keeps
    its input width, so ``model.residual`` adds one exactly there.
    """
    widths = (n_inputs, *model.layers, n_outputs)
    rows = []
    offset = 0
    for i in range(len(widths) - 1):
        n_in, n_out = widths[i], widths[i + 1]
        hidden = i < len(widths) - 2
        activation = ACTIVATION_CODE[model.activation] if hidden else ACTIVATION_CODE["linear"]
        residual = int(model.residual and hidden and n_in == n_out)
        rows.append((offset, offset + n_in * n_out, n_in, n_out, activation, residual))
        offset += n_in * n_out + n_out
    return Layout(np.array(rows, dtype=np.int64), offset, widths)


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

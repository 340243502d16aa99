"""A bounded record of a run's checks, so a run of a million steps holds constant memory."""

from __future__ import annotations

import numpy as np

from .snapshot import History, frozen

_SCALARS = ("step", "epoch", "lr", "train_loss", "val_loss", "train_acc", "val_acc", "batch_loss",
            "batch_loss_std")


class HistoryBuffer:
    """Rows of per-check metrics in one preallocated array.

    When the buffer fills, every other row is dropped and from then on only every
    ``stride``-th check is kept. Which checks survive depends only on their index, so the
    record is the same however a run's steps were chunked.
    """

    def __init__(self, n_layers: int, capacity: int = 2048):
        self.n_layers = n_layers
        self._rows = np.empty((capacity, len(_SCALARS) + 2 * n_layers))
        self.clear()

    def clear(self) -> None:
        self._length = 0
        self._stride = 1
        self._checks = 0

    def append(self, step, epoch, lr, train_loss, val_loss, train_acc, val_acc, batch_loss,
               batch_loss_std, grad_norms, update_ratios) -> None:
        """Record one check (or skip it, once the record has been thinned)."""
        check = self._checks
        self._checks += 1
        if check % self._stride:
            return
        if self._length == len(self._rows):
            kept = self._rows[0:self._length:2]
            self._length = len(kept)
            self._rows[:self._length] = kept
            self._stride *= 2
            if check % self._stride:
                return
        row = self._rows[self._length]
        row[:len(_SCALARS)] = (step, epoch, lr, train_loss, val_loss, train_acc, val_acc,
                               batch_loss, batch_loss_std)
        row[len(_SCALARS):len(_SCALARS) + self.n_layers] = grad_norms
        row[len(_SCALARS) + self.n_layers:] = update_ratios
        self._length += 1

    def view(self) -> History:
        rows = self._rows[:self._length]
        columns = {name: frozen(rows[:, i]) for i, name in enumerate(_SCALARS)}
        for name in ("step", "epoch"):
            columns[name] = frozen(columns[name], dtype=np.int64)
        n = len(_SCALARS)
        return History(
            **columns,
            grad_norms=frozen(rows[:, n:n + self.n_layers]),
            update_ratios=frozen(rows[:, n + self.n_layers:]),
        )

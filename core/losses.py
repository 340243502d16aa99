"""The losses, each with its gradient with respect to the logits, as one kernel.

The codes are this module's; ``LOSS_CODE`` maps the names the rest of nnsim uses onto them by
name, so neither list can drift from the other.
"""

import math

from .config import LOSSES
from .jit import kernel

MSE, BCE, SOFTMAX, MSE_SIGMOID = range(4)
# The losses by name: the config's choices but "auto" (which picks one by the data's task), and
# "mse_sigmoid", what "mse" computes on a binary task (the sigmoid output against 0/1 labels).
LOSS_CODE = dict(zip((*(name for name in LOSSES if name != "auto"), "mse_sigmoid"),
                     (MSE, BCE, SOFTMAX, MSE_SIGMOID), strict=True))


@kernel
def output_loss(loss_code, logits, targets, dlogits):
    """Mean loss over the batch and its gradient with respect to the logits.

    Sigmoid and softmax are folded into their cross-entropies (log-sum-exp form), so a
    confident wrong answer costs a large finite loss, never log(0). ``MSE_SIGMOID`` is the
    squared error of a sigmoid output against 0/1 labels: its gradient carries the factor
    σ'(s), which all but vanishes on a confident wrong answer — the lesson of loss-functions.
    """
    rows, outputs = logits.shape     # (B, K)
    total = 0.0
    if loss_code == MSE_SIGMOID:
        scale = 2.0 / (rows * outputs)
        for i in range(rows):
            for j in range(outputs):
                p = 1.0 / (1.0 + math.exp(-logits[i, j]))
                diff = p - targets[i, j]
                total += diff * diff
                dlogits[i, j] = scale * diff * p * (1.0 - p)
        return total / (rows * outputs)
    if loss_code == MSE:
        scale = 2.0 / (rows * outputs)
        for i in range(rows):
            for j in range(outputs):
                diff = logits[i, j] - targets[i, j]
                total += diff * diff
                dlogits[i, j] = scale * diff
        return total / (rows * outputs)
    if loss_code == BCE:
        for i in range(rows):
            for j in range(outputs):
                s = logits[i, j]
                y = targets[i, j]
                total += max(s, 0.0) - s * y + math.log1p(math.exp(-abs(s)))
                dlogits[i, j] = (1.0 / (1.0 + math.exp(-s)) - y) / rows
        return total / rows
    for i in range(rows):
        largest = logits[i, 0]
        for j in range(1, outputs):
            largest = max(largest, logits[i, j])
        sum_exp = 0.0
        for j in range(outputs):
            sum_exp += math.exp(logits[i, j] - largest)
        log_sum_exp = largest + math.log(sum_exp)
        for j in range(outputs):
            total += targets[i, j] * (log_sum_exp - logits[i, j])
            dlogits[i, j] = (math.exp(logits[i, j] - log_sum_exp) - targets[i, j]) / rows
    return total / rows

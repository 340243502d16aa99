"""Matrix products of the forward and backward passes, and a reproducible sum of squares.

Tiny layers (a Playground network) run faster as plain loops than through a BLAS call's fixed
overhead; wide ones go to BLAS through ``np.dot`` on contiguous arrays.
"""

import numpy as np

from .jit import inline_kernel, kernel

# Below this many multiply-adds, plain loops beat a BLAS call's fixed overhead (measured with
# benchmarks/bench_train.py).
BLAS_MIN_WORK = 8192


@kernel
def matmul(a, b, out):
    """out = a @ b: (B, n_in) @ (n_in, n_out) -> (B, n_out)."""
    rows, inner = a.shape
    cols = b.shape[1]
    if rows * inner * cols >= BLAS_MIN_WORK:
        np.dot(a, b, out)
        return
    for i in range(rows):
        for j in range(cols):
            out[i, j] = 0.0
        # i-p-j order: the innermost loop runs along rows of b and out, contiguous in memory.
        for p in range(inner):
            a_ip = a[i, p]
            for j in range(cols):
                out[i, j] += a_ip * b[p, j]


@kernel
def matmul_at_b(a, d, out):
    """out = aᵀ @ d: (B, n_in)ᵀ @ (B, n_out) -> (n_in, n_out), the weight gradient."""
    rows, inner = a.shape
    cols = d.shape[1]
    if rows * inner * cols >= BLAS_MIN_WORK:
        np.dot(a.T, d, out)
        return
    out[:, :] = 0.0
    for i in range(rows):
        for p in range(inner):
            a_ip = a[i, p]
            for j in range(cols):
                out[p, j] += a_ip * d[i, j]


@kernel
def matmul_a_bt(d, w, out):
    """out = d @ wᵀ: (B, n_out) @ (n_in, n_out)ᵀ -> (B, n_in), the gradient sent back."""
    rows, cols = d.shape
    inner = w.shape[0]
    if rows * inner * cols >= BLAS_MIN_WORK:
        np.dot(d, w.T, out)
        return
    for i in range(rows):
        for p in range(inner):
            total = 0.0
            for j in range(cols):
                total += d[i, j] * w[p, j]
            out[i, p] = total


@inline_kernel
def sum_of_squares(a, start, stop):
    """Σ a[start:stop]² with four running sums, so the loop vectorises without ``reassoc``
    and the order of additions, hence the result, is fixed."""
    s0 = s1 = s2 = s3 = 0.0
    k = start
    while k + 4 <= stop:
        s0 += a[k] * a[k]
        s1 += a[k + 1] * a[k + 1]
        s2 += a[k + 2] * a[k + 2]
        s3 += a[k + 3] * a[k + 3]
        k += 4
    while k < stop:
        s0 += a[k] * a[k]
        k += 1
    return (s0 + s1) + (s2 + s3)

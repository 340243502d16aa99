"""The one place that sets Numba's options; every kernel in nnsim compiles with these.

- ``nogil``: a kernel call releases the GIL, so the UI thread stays responsive and several
  runs train on separate threads at once.
- ``cache``: compiled code is stored beside the sources, so a warm start skips compilation.
  Numba checks only the calling kernel's own file for changes: after editing a kernel that
  another file's kernels call (a phase, an optimizer), delete ``core/__pycache__/*.nb?``.
- ``error_model="numpy"``: division by zero gives inf/nan like NumPy instead of raising,
  because divergence is a lesson outcome that the kernels detect and report.
- ``fastmath``: only flags that keep NaN/Inf semantics (``nnan``/``ninf`` would let LLVM delete
  the ``isfinite`` checks that detect divergence) and keep a sum's order fixed (``reassoc``
  would let it depend on how the vectoriser splits the loop). ``contract`` does let LLVM fuse
  a multiply and an add into one fused multiply-add, rounded once instead of twice, wherever
  the CPU has the instruction (x86 FMA3, ARMv8).

What is bit-reproducible, then: on one machine with one installation, the same configuration
and seed give the same bits every time, however the steps are chunked and whichever thread
runs them. Across machines, results are bit-identical only with the same CPU features (whether
there is FMA, and the vector width: Numba compiles for the host CPU, and OpenBLAS, which the
wide layers' ``np.dot`` calls, picks its kernels by CPU) and the same versions of Numba and
llvmlite (LLVM decides where to fuse), of NumPy/SciPy's OpenBLAS and of the C library's
``exp``. Elsewhere the numbers differ in the last bits and, through training, a little more.
"""

from numba import njit

FASTMATH_FLAGS = {"nsz", "arcp", "contract"}

JIT_OPTIONS = dict(nogil=True, cache=True, error_model="numpy", fastmath=FASTMATH_FLAGS)


def kernel(fn):
    """Compile ``fn`` as an nnsim kernel (nopython, no GIL, cached)."""
    return njit(**JIT_OPTIONS)(fn)


def inline_kernel(fn):
    """Compile ``fn`` like ``kernel``, and have Numba inline its body at every call from
    another kernel: for the short phases a training step strings together, where the calls
    (every field of every array argument passed one by one) cost a tiny network ~8% of its
    step (benchmarks/bench_train.py)."""
    return njit(**JIT_OPTIONS, inline="always")(fn)


def quick_kernel(fn):
    """Compile ``fn`` like ``kernel`` but keep the GIL across a call from Python: for entry
    points that run for a microsecond, where giving the GIL up and taking it back (which can
    wait a whole switch interval while the UI thread draws) costs more than the call."""
    return njit(**{**JIT_OPTIONS, "nogil": False})(fn)

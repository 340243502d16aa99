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

Within one process, the order in which kernels are loaded matters too. A kernel loaded from the
cache calls the copy of a callee that the process loaded first, and copies optimised inside
different callers need not round alike (measured: ``optimizer_step`` on its own and inside
``train_step`` give Adam updates a last bit apart). nnsim's processes load a Run's kernels, then
its training kernel, then the step-through's, so every copy they call is one that training
calls; nothing calls ``optimizer_step`` from Python. tests/conftest.py loads them in that order
before any test calls a kernel by itself.
"""

from numba import njit
from numba.core.caching import IndexDataCacheFile

try:
    import fcntl
except ImportError:         # Windows: Numba's own saving, unlocked
    fcntl = None

FASTMATH_FLAGS = {"nsz", "arcp", "contract"}

JIT_OPTIONS = dict(nogil=True, cache=True, error_model="numpy", fastmath=FASTMATH_FLAGS)


class LockedCacheFile(IndexDataCacheFile):
    """Numba's cache index and data files, saved under a lock so that processes sharing one
    cache directory (``nnsim check --jobs``, ``nnsim serve``'s sessions) cannot corrupt it.

    Numba reads a kernel's index, picks the first free data file for a new signature and
    writes the index, then the data, unlocked: two processes saving two signatures of one
    kernel at once can both pick ``.1.nbc``, and the index can then name the other one's
    machine code. Here the index is read, the data written and then the index written, all
    under an exclusive ``flock`` of ``<index>.lock``; a reader never needs the lock, because
    an index only ever names data written in full (each file is replaced atomically).
    """

    def save(self, key, data):
        with open(self._index_path + ".lock", "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            overloads = self._load_index()
            data_name = overloads.get(key)
            if data_name is None:
                taken = set(overloads.values())
                data_name = next(name for name in map(self._data_name, range(1, len(taken) + 2))
                                 if name not in taken)
            self._save_data(data_name, data)
            overloads[key] = data_name
            self._save_index(overloads)


def _jit(fn, **options):
    dispatcher = njit(**{**JIT_OPTIONS, **options})(fn)
    cache = getattr(dispatcher, "_cache", None)         # None: NUMBA_DISABLE_JIT
    if fcntl is not None and cache is not None:
        cache._cache_file.__class__ = LockedCacheFile    # Numba's own class, save() replaced
    return dispatcher


def kernel(fn):
    """Compile ``fn`` as an nnsim kernel (nopython, no GIL, cached)."""
    return _jit(fn)


def inline_kernel(fn):
    """Compile ``fn`` like ``kernel``, and have Numba inline its body at every call from
    another kernel. For the short phases a training step strings together, where the calls
    (every field of every array argument passed one by one) cost a tiny network ~8% of its
    step (benchmarks/bench_train.py); and for small helpers (an activation, an optimizer, a
    random draw, a sum of squares), which compiled as calls cost a first start a compilation
    each, and one more for each constant argument a caller passes (``activate(RELU, z)``:
    Numba compiles a kernel again for every literal; benchmarks/README.md)."""
    return _jit(fn, inline="always")


def quick_kernel(fn):
    """Compile ``fn`` like ``kernel`` but keep the GIL across a call from Python: for entry
    points that run for a microsecond, where giving the GIL up and taking it back (which can
    wait a whole switch interval while the UI thread draws) costs more than the call."""
    return _jit(fn, nogil=False)

"""A first start: the kernels compiled in helper processes, two at once, and loaded here.

Numba compiles a kernel when it is first called and, with ``cache=True`` (``core.jit``), saves it
to its cache for the next process. On a first start that was two chains, one after the other:
``Run()``'s step-0 check compiled ``measure`` (with ``predict``, ``forward``, ``output_loss``),
the first ``advance`` compiled ``train_chunk`` (with ``backward``, ``optimizer_step``,
``shuffle``), each about half of the ~12 s of CPU time (benchmarks/README.md). Compiling holds a
process-wide lock, so threads cannot share it; processes can. The first ``Run`` a process builds
calls ``begin``: for each of the two chains the cache lacks, a helper process
(``python -m nnsim.core.warmup check``, ``... train``) compiles it into the same cache, both at
once, and ``Run`` waits for a chain's helper (``wait``) before its first call into it, then
loads what the helper saved. The dashboard adds the network pane's kernel beside them and, after
the first step, what the step-through and the landscape pane use (``ensure`` waits for those).

The kernels are compiled in helpers even when this process could compile one chain itself,
because code a process compiled is not always the code it would load: a kernel compiled here
calls the copy of a phase (``forward``) compiled on its own, a kernel loaded from the cache the
copy it was linked with, and with the ``contract`` fast-math flag the two may round a
multiply-add differently (measured: the playground's weights after 200 steps differed in the
last bits between the first start and every later one before this module). Loaded, a first
start computes the very bits of every later start. A helper that fails, or ``NNSIM_HELPERS=0``,
only costs that: the process compiles what it lacks itself, as Numba does by default.

Each group names its kernels with the one signature nnsim calls them with (every array float64,
int64 or uint64, C-contiguous), callees before their callers. "check" begins with the callees
``train_chunk`` shares with it and ``optimizer_step``, which the "train" helper then loads rather
than compiles again, when they were saved in time: that balances the two (measured with
benchmarks/bench_train.py --startup: 6.2 s to the first step, against 7.2 s with
``optimizer_step`` in "train", which compiled ``forward`` and ``output_loss`` a second time).
tests/test_warmup.py checks that a session's use of the kernels adds no signature to these.
Saving is safe from several processes at once (``core.jit.LockedCacheFile``).
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from importlib import import_module

# The groups, each a list of (module in nnsim.core, kernel, signature); a signature's words are
# the types ``_types`` names. "check" is what a Run's first check needs, "train" its first step,
# "pictures" the dashboard's network pane, "later" what a key or command may ask for later
# (the step-through and ``nnsim trace``, the landscape pane).
_F1, _F2, _I1, _I2, _U1 = "f8[:]", "f8[:, :]", "i8[:]", "i8[:, :]", "u8[:]"
_WS = "workspace"
_FORWARD = ("f8[:]", _I2, "i8", _F1, _F1, _F1, "f8")
GROUPS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "check": (
        ("phases", "forward", (*_FORWARD, "True", _U1)),
        ("losses", "output_loss", ("i8", _F2, _F2, _F2)),
        ("optimizers", "optimizer_step", ("i8", _F1, _F1, _F1, _F1, "i8", "f8", "f8", "f8", "f8",
                                          "f8", "f8", _F1)),
        ("kernels", "predict", (_F1, _I2, _F2, "i8", _WS, _F2)),
        ("kernels", "loss_and_accuracy", ("i8", _F2, _F2, _F2)),
        ("kernels", "measure", ("i8", _F1, _I2, _F2, _F2, "i8", _WS, _F2, _F2)),
        ("kernels", "learning_rate", (_F1, "i8", "i8")),
    ),
    "train": (
        ("streams", "shuffle", (_I1, _U1)),
        ("linalg", "matmul_at_b", (_F2, _F2, _F2)),
        ("linalg", "matmul_a_bt", (_F2, _F2, _F2)),
        ("phases", "backward", (_F1, _I2, "i8", _F1, _F1, _F1, _F1, _F1, _F1, "f8", _F1)),
        ("kernels", "train_chunk", (_F1, _F1, _F1, _F1, _F1, _F1, _I2, _F2, _F2, _I1, _I1, _U1,
                                    _F1, _I1, "i8", "i8", _WS, _F1, "i8", _F1, _F1, _F1)),
    ),
    "pictures": (
        ("kernels", "unit_outputs", (_F1, _I2, _F2, "i8", _WS, _F2)),
    ),
    "later": (
        ("kernels", "next_batch", (_F2, _F2, _I1, _I1, _U1, "i8", _WS)),
        ("kernels", "train_step", (_F1, _F1, _F1, _F1, _F1, _I2, "i8", _WS, _F1, _I1, _U1, _F1,
                                   _I1)),
        ("phases", "forward", (*_FORWARD, "bool", _U1)),
        ("phases", "loss", ("i8", _I2, "i8", _WS)),
        ("phases", "regularise", (_F1, _I2, _F1, "f8", "f8", "f8")),
        ("phases", "logits_view", (_I2, "i8", _F1)),
        ("activations", "activation_slopes", ("i8", _F2, _F2)),
        ("landscape", "grid_losses", ("i8", _F1, _F1, _F1, _F1, _F1, _I2, _F2, _F2, "i8", _WS,
                                      _F1, _F2, _F2, _F2)),
    ),
}
FIRST_STEP = ("check", "train")     # one helper each, as a process builds its first Run

_pending: dict[str, subprocess.Popen] = {}      # group -> the helper compiling it
_ready: set[str] = set()                        # groups ``ensure`` has seen in the cache
_started: list[tuple[str, ...]] = []            # every helper's groups, in order
_lock = threading.Lock()
_begun = False


def _types() -> dict:
    import numpy as np
    from numba import typeof, types

    from .phases import new_workspace

    return {"f8[:]": typeof(np.zeros(1)), "f8[:, :]": typeof(np.zeros((1, 1))),
            "i8[:]": typeof(np.zeros(1, np.int64)), "i8[:, :]": typeof(np.zeros((1, 1), np.int64)),
            "u8[:]": typeof(np.zeros(1, np.uint64)), "i8": types.int64, "f8": types.float64,
            "bool": types.boolean, "True": types.literal(True),
            "workspace": typeof(new_workspace((1, 1), 1))}


def signatures(group: str) -> list[tuple[object, tuple]]:
    """``group``'s (dispatcher, signature as Numba types) pairs, in compiling order."""
    words = _types()
    return [(getattr(import_module(f"{__package__}.{module}"), name),
             tuple(words[word] for word in signature))
            for module, name, signature in GROUPS[group]]


def cached(dispatcher, signature: tuple) -> bool:
    """Numba's cache holds ``dispatcher`` compiled for ``signature``, from the current source
    (an index written for an older source is empty to Numba, as here). Reads one small file."""
    cache = getattr(dispatcher, "_cache", None)
    if cache is None:                   # NUMBA_DISABLE_JIT: nothing to compile
        return True
    key = cache._index_key(signature, dispatcher.targetctx.codegen())
    return key in cache._cache_file._load_index()


def cold(groups: tuple[str, ...]) -> bool:
    """The last kernel of one of ``groups`` is not in the cache yet (a group's last kernel calls
    the others, so it is saved last)."""
    return any(not cached(*signatures(group)[-1]) for group in groups)


def compile_groups(groups: tuple[str, ...]) -> None:
    """Compile (or load from the cache) every kernel of ``groups`` in this process, in order."""
    for group in groups:
        for dispatcher, signature in signatures(group):
            dispatcher.compile(signature)


def start(groups: tuple[str, ...]) -> bool:
    """A helper process compiling ``groups`` into the cache, in order, if they are not there yet
    and no helper has them already; whether one started."""
    with _lock:
        groups = tuple(group for group in groups if group not in _pending)
        if not groups or os.environ.get("NNSIM_HELPERS") == "0" or not cold(groups):
            return False
        helper = subprocess.Popen([sys.executable, "-m", f"{__package__}.warmup", *groups],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        for group in groups:
            _pending[group] = helper
        _started.append(groups)
    return True


def begin() -> None:
    """Once per process, as its first Run is built: a helper for each first-step group the cache
    lacks, all at once."""
    global _begun
    if not _begun:
        _begun = True
        for group in FIRST_STEP:
            start((group,))


def first_start() -> bool:
    """This process has started a helper for a first-step group: the cache was empty."""
    return any(group in FIRST_STEP for groups in _started for group in groups)


def compiling() -> bool:
    """A helper is compiling kernels for this process right now."""
    return any(helper.poll() is None for helper in list(_pending.values()))


def ready(group: str) -> bool:
    """``group`` can be used now without waiting for a compile. If the cache lacks it, a helper
    is started, and until the helper ends this says no: the dashboard draws the network pane
    without its unit maps meanwhile, and trains on."""
    if group not in _ready:
        start((group,))
        helper = _pending.get(group)
        if helper is not None and helper.poll() is None:
            return False
        ensure(group)
    return True


def ensure(group: str) -> None:
    """``group`` in the cache before this process uses it: compiled by a helper (started now if
    none is) and waited for. Checks the cache once per process."""
    if group not in _ready:
        start((group,))
        wait(group)
        _ready.add(group)


def wait(group: str) -> None:
    """Block until the helper compiling ``group`` (if any) has finished; cheap when none is."""
    helper = _pending.get(group)
    if helper is not None:
        helper.wait()
        with _lock:
            if _pending.get(group) is helper:
                del _pending[group]


@atexit.register
def stop() -> None:
    """Stop every helper still compiling: this process is ending (and ``os._exit`` skips atexit:
    call it first). What a helper saved stays usable: its saves are whole files, replaced
    atomically."""
    for helper in set(_pending.values()):
        if helper.poll() is None:
            helper.terminate()


if __name__ == "__main__":       # a helper: python -m nnsim.core.warmup GROUP...
    compile_groups(tuple(sys.argv[1:]))

"""Training steps per second: nnsim's Numba kernels against plain NumPy and PyTorch CPU.

Run from the repository root, against the installed package:

    python benchmarks/bench_train.py [--startup]

(``--startup``: only the cold and warm first-step times.) Three networks, each trained with Adam on mini-batches drawn from a shuffled epoch order:

    tiny    2-8-8-1     batch 10  tanh, sigmoid + binary cross-entropy, "circle" data
    small   2-64-64-2   batch 32  ReLU, softmax cross-entropy, "blobs" with 2 classes
    medium  64-128-64-10 batch 64 ReLU, softmax cross-entropy, "digits"

Each is measured, in this one process, as
  - nnsim's kernel: ``kernels.train_chunk`` through a Run's prepared buffers (``Run._train``),
    CHUNK steps per call, so validation checks do not run;
  - nnsim's ``Run.advance`` with the default validation check every 10 steps;
  - a straightforward NumPy step (forward, loss, backward, Adam; the moments preallocated,
    otherwise the idiomatic code a user would write), from the same initial weights and data;
  - PyTorch CPU, 2 threads (nn.Sequential + torch.optim.Adam), float32 and float64, when
    torch is importable; and float32 with 1 thread, which a busy machine hurts less.
Every figure is the best of 3 timed runs of about 0.3 s each, after a warm-up. Then it times
``import nnsim.core`` + the playground's ``Run`` + its first trained step in fresh processes,
with a cold Numba cache (a new, empty ``NUMBA_CACHE_DIR``) and then warm (the same folder). Nothing here asserts a timing: the targets are printed beside the figures.
"""

import os

# One BLAS thread for nnsim and NumPy, set before NumPy loads its BLAS (nnsim's own default).
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from nnsim.core import Run  # noqa: E402
from nnsim.core import linalg  # noqa: E402

CHUNK = 500          # steps per train_chunk call when timing the kernel alone
RUN_SECONDS = 0.3    # length of one timed run
REPEATS = 3          # timed runs per figure; the best counts
TORCH_THREADS = 2

NETWORKS = {
    "tiny": {
        "label": "tiny 2-8-8-1 b10",
        "config": {"data": {"kind": "circle", "n_points": 500},
                   "model": {"layers": [8, 8], "activation": "tanh", "init": "xavier"},
                   "train": {"batch_size": 10, "optimizer": "adam", "lr": 0.01}},
    },
    "small": {
        "label": "small 2-64-64-2 b32",
        "config": {"data": {"kind": "blobs", "classes": 2, "n_points": 500},
                   "model": {"layers": [64, 64], "activation": "relu", "init": "he"},
                   "train": {"batch_size": 32, "optimizer": "adam", "lr": 0.01}},
    },
    "medium": {
        "label": "medium 64-128-64-10 b64",
        "config": {"data": {"kind": "digits", "normalize": "minmax"},
                   "model": {"layers": [128, 64], "activation": "relu", "init": "he"},
                   "train": {"batch_size": 64, "optimizer": "adam", "lr": 0.001}},
    },
}

# (row, network) -> target ratio of nnsim's kernel to that row.
TARGETS = {("numpy", "tiny"): 10.0, ("numpy", "medium"): 1.0,
           ("torch32", "tiny"): 50.0, ("torch32", "medium"): 2.0}
COLD_START_TARGET = 5.0    # seconds to the playground's first trained step, empty Numba cache
WARM_START_TARGET = 0.6    # the same with the kernels in the cache


# --- timing --------------------------------------------------------------------------------

def steps_per_second(run_steps) -> float:
    """Best rate of ``run_steps(n)`` (which returns the steps it ran) over REPEATS timed runs
    of about RUN_SECONDS each, after a warm-up that also sizes n."""
    n = 1
    while True:
        start = time.perf_counter()
        done = run_steps(n)
        elapsed = time.perf_counter() - start
        if elapsed > RUN_SECONDS / 10:
            break
        n *= 4
    n = max(1, int(n * RUN_SECONDS / elapsed))
    best = 0.0
    for _ in range(REPEATS):
        start = time.perf_counter()
        done = run_steps(n)
        best = max(best, done / (time.perf_counter() - start))
    return best


def flops_per_step(widths, batch) -> int:
    """6·B·Σ n_in·n_out: 2 FLOPs per multiply-add in the forward products, twice that in the
    backward (weight gradient and the gradient sent down). Activations, loss and the
    optimizer are not counted."""
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return 6 * batch * macs


# --- nnsim ---------------------------------------------------------------------------------

def nnsim_kernel_steps(config):
    """``run_steps(n)`` calling train_chunk through a Run's buffers, CHUNK steps per call.

    ``eval_every = CHUNK`` sizes the per-step output buffers; ``_train`` runs no checks."""
    run = Run(_with_train(config, eval_every=CHUNK))

    def run_steps(n):
        done = 0
        while done < n:
            done += run._train(min(CHUNK, n - done))
        if run.diverged:
            run.reset()
        return done
    return run_steps


def nnsim_advance_steps(config):
    """``run_steps(n)`` through ``Run.advance`` with the default checks (every 10 steps)."""
    run = Run(config)

    def run_steps(n):
        start = run.step
        run.advance(n, past_end=True)
        done = run.step - start
        if run.diverged:
            run.reset()
        return done
    return run_steps


def _with_train(config, **train):
    return {**config, "train": {**config["train"], **train}}


# --- NumPy ---------------------------------------------------------------------------------

def numpy_steps(run, activation, seed=0):
    """``run_steps(n)``: the same network as ``run`` from its initial weights, in NumPy."""
    x, y = run.split("train")
    params = [(W.copy(), b.copy()) for W, b in run.get_params()]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for layer in params for p in layer]
    batch = run.config.train.batch_size
    lr, beta1, beta2, eps = (run.config.train.lr, run.config.train.beta1,
                             run.config.train.beta2, run.config.train.eps)
    binary = y.shape[1] == 1
    rng = np.random.default_rng(seed)
    state = {"order": rng.permutation(len(x)), "cursor": 0, "t": 0}

    def act(z):
        return np.tanh(z) if activation == "tanh" else np.maximum(z, 0.0)

    def slope(a):
        return 1.0 - a * a if activation == "tanh" else (a > 0.0).astype(a.dtype)

    def step():
        start = state["cursor"]
        idx = state["order"][start:start + batch]
        state["cursor"] = start + batch
        if state["cursor"] >= len(x):
            state["order"], state["cursor"] = rng.permutation(len(x)), 0
        xb, yb = x[idx], y[idx]
        rows = len(xb)
        # forward
        acts = [xb]
        for i, (W, b) in enumerate(params):
            z = acts[-1] @ W + b
            acts.append(act(z) if i < len(params) - 1 else z)
        s = acts[-1]
        # loss and its gradient with respect to the logits
        if binary:
            loss = np.mean(np.maximum(s, 0.0) - s * yb + np.log1p(np.exp(-np.abs(s))))
            delta = (1.0 / (1.0 + np.exp(-s)) - yb) / rows
        else:
            shifted = s - s.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            loss = -np.sum(yb * log_p) / rows
            delta = (np.exp(log_p) - yb) / rows
        # backward
        grads = []
        for i in range(len(params) - 1, -1, -1):
            W = params[i][0]
            grads.append((acts[i].T @ delta, delta.sum(axis=0)))
            if i > 0:
                delta = (delta @ W.T) * slope(acts[i])
        grads.reverse()
        # Adam
        state["t"] += 1
        c1, c2 = 1.0 - beta1 ** state["t"], 1.0 - beta2 ** state["t"]
        flat = [g for layer in grads for g in layer]
        for p, g, (m, v) in zip((p for layer in params for p in layer), flat, moments):
            m *= beta1
            m += (1.0 - beta1) * g
            v *= beta2
            v += (1.0 - beta2) * g * g
            p -= lr * (m / c1) / (np.sqrt(v / c2) + eps)
        return loss

    def run_steps(n):
        for _ in range(n):
            step()
        return n
    return run_steps


def blas_threads(n):
    """A context that sets the BLAS thread count, or None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n, user_api="blas")


# --- PyTorch -------------------------------------------------------------------------------

def torch_steps(torch, run, activation, dtype, seed=0):
    """``run_steps(n)``: the same network in PyTorch (nn.Sequential + optim.Adam)."""
    nn = torch.nn
    x_np, y_np = run.split("train")
    params = run.get_params()
    layers = []
    for i, (W, b) in enumerate(params):
        linear = nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(params) - 1:
            layers.append(nn.Tanh() if activation == "tanh" else nn.ReLU())
    model = nn.Sequential(*layers).to(dtype)
    t = run.config.train
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), eps=t.eps)
    x = torch.tensor(x_np, dtype=dtype)
    if y_np.shape[1] == 1:
        y, loss_fn = torch.tensor(y_np, dtype=dtype), nn.BCEWithLogitsLoss()
    else:
        y, loss_fn = torch.tensor(y_np.argmax(axis=1)), nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    state = {"order": torch.randperm(len(x), generator=generator), "cursor": 0}

    def run_steps(n):
        for _ in range(n):
            start = state["cursor"]
            idx = state["order"][start:start + t.batch_size]
            state["cursor"] = start + t.batch_size
            if state["cursor"] >= len(x):
                state["order"], state["cursor"] = torch.randperm(len(x), generator=generator), 0
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
        return n
    return run_steps


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(TORCH_THREADS)
    return torch


# --- start-up time -------------------------------------------------------------------------

STARTUP_SCRIPT = textwrap.dedent("""
    import json, os, time
    t0 = time.perf_counter()
    import nnsim.core
    from nnsim.core.scenario import load_scenario
    t1 = time.perf_counter()
    run = nnsim.core.Run(load_scenario("playground").base)
    t2 = time.perf_counter()
    run.advance(1)
    t3 = time.perf_counter()
    times = os.times()
    print(json.dumps({"import": t1 - t0, "run": t2 - t1, "step": t3 - t2,
                      "cpu": time.process_time(), "helpers": times[2] + times[3]}))
""")


def startup_times(cache_dir):
    """Seconds to import nnsim.core, build the playground's Run and take its first trained step,
    in a new process whose Numba cache is ``cache_dir``; also the process's whole wall time
    and the CPU time it and its helper processes (core.warmup) had used by its first step."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], env=env, capture_output=True,
                         text=True, check=True)
    wall = time.perf_counter() - start
    times = json.loads(out.stdout.strip().splitlines()[-1])
    times["wall"] = wall
    return times


# --- report --------------------------------------------------------------------------------

def environment_lines(torch):
    lines = [f"python {platform.python_version()}, numpy {np.__version__}, "
             f"numba {_version('numba')}, torch {torch.__version__ if torch else 'absent'}; "
             f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})",
             f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']} (set by this script: "
             "it constrains the NumPy rows as well as nnsim), OPENBLAS_CORETYPE="
             f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}",
             f"nnsim linalg.BLAS_MIN_WORK = {linalg.BLAS_MIN_WORK} multiply-adds"]
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            if info.get("user_api") == "blas":
                lines.append(f"BLAS: {os.path.basename(info['filepath'])} {info.get('version')} "
                             f"{info.get('architecture', '')}, {info['num_threads']} thread(s)")
    except ImportError:
        lines.append("BLAS: (threadpoolctl not installed)")
    return lines


def _version(module):
    return __import__(module).__version__


def print_table(results, rows):
    names = list(NETWORKS)
    print(f"{'steps per second':34}" + "".join(f"{NETWORKS[n]['label']:>26}" for n in names))
    for key, label in rows:
        if key in results:
            print(f"{label:34}" + "".join(f"{results[key][n]:>26,.0f}" for n in names))


def print_ratios(results, rows):
    names = list(NETWORKS)
    print(f"{'nnsim kernel / ...':34}" + "".join(f"{NETWORKS[n]['label']:>26}" for n in names))
    for key, label in rows:
        if key not in results or key.startswith("nnsim"):
            continue
        cells = []
        for n in names:
            ratio = results["nnsim"][n] / results[key][n]
            target = TARGETS.get((key, n))
            cells.append(f"{ratio:.1f}x" + (f" (target >= {target:g}x)" if target else ""))
        print(f"{label:34}" + "".join(f"{c:>26}" for c in cells))


def main():
    if sys.argv[1:] == ["--startup"]:       # only the start-up figures
        print_startup()
        return
    rows = [("nnsim", f"nnsim kernel ({CHUNK} steps/call)"),
            ("advance", "nnsim Run.advance (check/10)"),
            ("numpy", "NumPy, 1 BLAS thread"),
            ("numpy2", "NumPy, 2 BLAS threads"),
            ("torch32", f"PyTorch f32, {TORCH_THREADS} threads"),
            ("torch64", f"PyTorch f64, {TORCH_THREADS} threads"),
            ("torch32_1", "PyTorch f32, 1 thread")]
    results = {key: {} for key, _ in rows}
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    for name, net in NETWORKS.items():
        config = net["config"]
        activation = config["model"]["activation"]
        results["nnsim"][name] = steps_per_second(nnsim_kernel_steps(config))
        results["advance"][name] = steps_per_second(nnsim_advance_steps(config))
        reference = Run(config)
        results["numpy"][name] = steps_per_second(numpy_steps(reference, activation))
        limits = blas_threads(2)
        if limits is None:
            results.pop("numpy2", None)
        else:
            with limits:
                results["numpy2"][name] = steps_per_second(numpy_steps(reference, activation))
    torch = import_torch()
    if torch is None:
        del results["torch32"], results["torch64"], results["torch32_1"]
    else:
        for name, net in NETWORKS.items():
            reference = Run(net["config"])
            activation = net["config"]["model"]["activation"]
            for key, dtype in (("torch32", torch.float32), ("torch64", torch.float64)):
                results[key][name] = steps_per_second(
                    torch_steps(torch, reference, activation, dtype))
        # One thread too: on a busy machine, 2 OpenMP threads wait on each other.
        torch.set_num_threads(1)
        for name, net in NETWORKS.items():
            results["torch32_1"][name] = steps_per_second(torch_steps(
                torch, Run(net["config"]), net["config"]["model"]["activation"], torch.float32))
        torch.set_num_threads(TORCH_THREADS)

    print("nnsim training benchmark: Adam, mini-batches from a shuffled order; "
          f"best of {REPEATS} runs of ~{RUN_SECONDS} s")
    for line in environment_lines(torch):
        print("  " + line)
    print(f"  load average (1 min) before the timings: {load_before:.1f}; other processes on "
          "these 2 cores slow every row, the multi-threaded rows most")
    print()
    print_table(results, rows)
    if torch is None:
        print("PyTorch: not installed, so no PyTorch rows "
              "(pip install torch to add them; 2 CPU threads are used)")
    print()
    print_ratios(results, rows)
    print()
    medium = NETWORKS["medium"]
    widths = Run(medium["config"]).layout.widths
    flops = flops_per_step(widths, medium["config"]["train"]["batch_size"])
    print(f"medium network GFLOP/s, counting 6*B*sum(n_in*n_out) = {flops / 1e6:.2f} MFLOP a step "
          "(2 per multiply-add forward, twice that backward):")
    for key, label in rows:
        if key in results:
            print(f"  {label:32}{results[key]['medium'] * flops / 1e9:8.2f}")
    print(f"(timed section: {time.perf_counter() - began:.0f} s; load average now "
          f"{os.getloadavg()[0]:.1f})")
    print()
    print_startup()


def print_startup():
    print("start-up: import nnsim.core + Run(playground) + advance(1), each in a new process "
          f"(load average now {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory(prefix="nnsim-numba-cache-") as cache_dir:
        for label, target in (("cold Numba cache", COLD_START_TARGET),
                              ("warm Numba cache", WARM_START_TARGET)):
            times = startup_times(cache_dir)
            total = times["import"] + times["run"] + times["step"]
            print(f"  {label}: first trained step {total:6.2f} s = import {times['import']:.2f}"
                  f" + Run {times['run']:.2f} + first step {times['step']:.2f} (CPU "
                  f"{times['cpu']:.2f} s + helpers {times['helpers']:.2f} s); process wall "
                  f"{times['wall']:.2f} s   "
                  f"(target < {target:g} s on an idle machine)")

if __name__ == "__main__":
    main()

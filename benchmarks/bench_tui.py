"""What the dashboard costs: training speed in the TUI against headless, key latency, start-up.

Run from the repository root, against the installed package:

    python benchmarks/bench_tui.py [SCENARIO ...]      (default: playground sgd-vs-adam learning-rate)

1. Speed. Each scenario is trained to its end (the playground to its train.steps) once headless,
   every variant one after the other through ``nnsim.headless.run_variant`` (what `nnsim run
   --jobs 1` does), and once in the dashboard, a headless Textual app of 200x50 and of 80x24
   drawing every visible pane at its usual rate. The ratio is the dashboard's wall time over
   the headless one; both include building the runs (and the app its start). Best of 3,
   interleaved. Then the steady state: steps/s of the playground past step 3000 for a few
   seconds, in the dashboard and through ``Run.advance`` chunked as `nnsim run` chunks.
2. Key latency. The playground trains at full speed at 200x50; a key event is posted to the
   app and the clock stops when the app has drawn a snapshot that shows its effect (space:
   paused; +: the doubled learning rate). Median and worst of 20 presses each.
3. Start-up at 80x24 in fresh processes, with an empty Numba cache and then warm: from launching
   Python to the first frame (the app mounted and laid out), the first snapshot drawn (step 0)
   and the first trained step drawn, and the CPU time by then. ``--startup`` runs only this part.
4. CPU of a paced dashboard (the playground at 30 and 300 steps/s), in a fresh process each:
   the share of one core it takes. ``--paced`` runs only this part.
5. The network pane: what one refresh costs (the worker's ``Run.unit_maps``, against the
   ``Run.snapshot`` it already takes each chunk; drawing the diagram, against drawing the
   decision boundary at the size the grid gives it), and its effect on training speed: the
   playground's steady steps/s headless with and without ``unit_maps`` after every chunk (as
   the worker publishes), and in the dashboard at 80x24 with the network tab shown against
   the loss tab, and the CPU of the paced dashboard (the playground at 30 steps/s, 80x24) with
   the network tab shown against the loss tab. ``--network`` runs only this part.
6. The landscape pane: what one measurement costs (the worker's ``core.landscape.valley``: the
   grid's losses and the step line, at the grid 80x24 and 160x48 give the map, against the
   ``Run.pictures`` the worker takes for every frame; drawing the map, against drawing the
   decision boundary at the same size), and the CPU of the paced dashboard (sgd-vs-adam at its
   lesson's pace, 80x24) with the landscape tab shown against the loss tab.
   ``--landscape`` runs only this part.
Nothing here asserts a timing; the issue's targets are printed beside the figures.
"""

import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time

from rich.console import Console

from nnsim.core.pacing import ChunkClock
from nnsim.core.scenario import load_scenario
from nnsim.headless import run_variant
from nnsim.tui.app import create_app

REPEATS = 3
PRESSES = 20
SIZES = ((200, 50), (80, 24))


def headless_seconds(name: str) -> tuple[float, int]:
    scenario = load_scenario(name, seed=0)
    started = time.perf_counter()
    steps = sum(run_variant(scenario, v).outcome.snapshot.step for v in scenario.variants)
    return time.perf_counter() - started, steps


async def until(pilot, condition, timeout: float = 300.0) -> None:
    """Poll with a plain sleep: ``pilot.pause`` forces a full screen update each call, which
    would load the app far more than a real terminal does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the dashboard did not get there")
        await asyncio.sleep(0.001)


async def tui_seconds(name: str, size: tuple[int, int]) -> tuple[float, int]:
    scenario = load_scenario(name, seed=0)
    playground = name == "playground"
    stop_at = scenario.variants[0].config.train.steps if playground else None
    app = create_app(name, seed=0, stop_at=stop_at)
    started = time.perf_counter()
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.frame is not None and app.frame.state not in ("starting", "running")
                    and app.frame.step > 0)
        elapsed = time.perf_counter() - started
        steps = sum(s.step for s in app.frame.snapshots)
    return elapsed, steps


STEADY_SECONDS = 4.0


def headless_rate(unit_maps: bool = False) -> tuple[float, float]:
    """Steps/s of the playground past its first 3000 steps, chunked as `nnsim run` chunks;
    ``unit_maps``: and the network pane's maps after every chunk, as the worker takes them.
    Also the share of the wall time those took (less noisy than the rate on a busy machine)."""
    from nnsim.core.run import Run

    run = Run(load_scenario("playground", seed=0).variants[0].config)
    run.advance(3000)
    clock, done, in_maps = ChunkClock(), 0, 0.0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < STEADY_SECONDS:
        t = time.perf_counter()
        before = run.step
        run.advance(clock.steps, past_end=True)
        if unit_maps:
            maps_started = time.perf_counter()
            run.unit_maps(run.boundary_shape)
            in_maps += time.perf_counter() - maps_started
        done += run.step - before
        clock.observe(run.step - before, time.perf_counter() - t)
    return done / elapsed, in_maps / elapsed


async def tui_rate(size: tuple[int, int], key: str = "") -> float:
    app = create_app("playground", seed=0)
    async with app.run_test(size=size) as pilot:
        if key:                                     # a tab to show while it trains
            await until(pilot, lambda: app.frame is not None)
            await pilot.press(key)
        await until(pilot, lambda: app.frame is not None and app.frame.step >= 3000)
        started, first = time.perf_counter(), app.frame.step
        await asyncio.sleep(STEADY_SECONDS)
        return (app.frame.step - first) / (time.perf_counter() - started)


def steady() -> None:
    print("   steady state, the playground past step 3000 (steps/s, best of interleaved runs)")
    rates: dict[object, list[float]] = {}
    for _ in range(REPEATS):
        rates.setdefault("headless", []).append(headless_rate()[0])
        for size in SIZES:
            rates.setdefault(size, []).append(asyncio.run(tui_rate(size)))
    base = max(rates["headless"])
    row = f"   {'playground':<22}{base:>9,.0f}   "
    for size in SIZES:
        row += f"{max(rates[size]):>11,.0f}   {base / max(rates[size]):>7.2f}"
    print(row)


def speed(names: list[str]) -> None:
    print("1. training speed, dashboard against headless (target: the dashboard costs < 20%)")
    print(f"   {'scenario':<22}{'headless':>12}{'TUI 200x50':>14}{'ratio':>8}{'TUI 80x24':>13}{'ratio':>8}")
    print("   whole lessons, wall time including building the runs (ratio: TUI time / headless time)")
    for name in names:
        headless_seconds(name)                      # warm the kernels and the data builders
        # Interleaved, best of REPEATS: other processes on the machine slow every kind alike.
        times: dict[object, list[float]] = {}
        for _ in range(REPEATS):
            base, steps = headless_seconds(name)
            times.setdefault("headless", []).append(base)
            for size in SIZES:
                tui, tui_steps = asyncio.run(tui_seconds(name, size))
                assert tui_steps == steps, (name, tui_steps, steps)
                times.setdefault(size, []).append(tui)
        base = min(times["headless"])
        row = f"   {name:<22}{base:>9.2f} s "
        for size in SIZES:
            row += f"{min(times[size]):>11.2f} s {min(times[size]) / base:>7.2f}"
        print(row + f"   ({steps:,} steps over {len(load_scenario(name).variants)} runs)")


async def latencies() -> tuple[list[float], list[float]]:
    app = create_app("playground", seed=0)
    pause_ms, lr_ms = [], []
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: app.frame is not None and app.frame.step > 500)
        for _ in range(PRESSES):
            await until(pilot, lambda: app.frame.state == "running")
            started = time.perf_counter()
            app.simulate_key("space")
            await until(pilot, lambda: app.frame.state == "paused")
            pause_ms.append(1000 * (time.perf_counter() - started))
            app.simulate_key("space")
        for i in range(PRESSES):
            key, factor = ("plus", 2.0) if i % 2 == 0 else ("minus", 0.5)
            target = app.frame.configs[0].train.lr * factor
            started = time.perf_counter()
            app.simulate_key(key)
            await until(pilot, lambda: app.frame.configs[0].train.lr == target)
            lr_ms.append(1000 * (time.perf_counter() - started))
    return pause_ms, lr_ms


def latency() -> None:
    pause_ms, lr_ms = asyncio.run(latencies())
    print("2. key press to a snapshot showing its effect, playground training at 200x50 (target < 100 ms)")
    for label, values in (("space (pause)", pause_ms), ("+ / - (learning rate)", lr_ms)):
        print(f"   {label:<24} median {statistics.median(values):6.1f} ms   worst {max(values):6.1f} ms")


STARTUP = """
import sys, time, asyncio, os
print("started", flush=True)
from nnsim.tui.app import create_app
async def main():
    app = create_app("playground", seed=0)
    async with app.run_test(size=(80, 24)) as pilot:
        print("first-frame", flush=True)
        # The dashboard draws a frame as it takes it (``Dashboard.show_frame``). No pilot
        # pauses: with the trainer at full speed they wait out a queue of frames (they made a
        # warm start 2.8 s here against 1.5 s seen in a terminal).
        while app.frame is None:
            await asyncio.sleep(0.001)
        print("first-snapshot", flush=True)
        while app.frame.step < 1:
            await asyncio.sleep(0.001)
        print("first-trained-step", flush=True)
        print(f"cpu {sum(os.times()[:4]):.2f}", flush=True)
asyncio.run(main())
"""
STARTUP_MARKS = ("first-frame", "first-snapshot", "first-trained-step")


def startup() -> None:
    """The dashboard at 80x24 in fresh processes: with an empty Numba cache (a new
    ``NUMBA_CACHE_DIR``), then warm (the same folder, best of REPEATS)."""
    print("3. start-up of the dashboard (playground, 80x24), from launching Python; load average "
          f"{os.getloadavg()[0]:.1f} (targets: first trained step < 5 s cold, < 0.6 s warm from "
          "the kernels; first frame < 1.5 s)")
    with tempfile.TemporaryDirectory(prefix="nnsim-numba-cache-") as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        for label, repeats in (("cold Numba cache", 1), ("warm Numba cache", REPEATS)):
            marks: dict[str, list[float]] = {}
            cpu = []
            for _ in range(repeats):
                started = time.perf_counter()
                child = subprocess.Popen([sys.executable, "-c", STARTUP], stdout=subprocess.PIPE,
                                         text=True, env=env)
                for line in child.stdout:
                    if line.startswith("cpu "):
                        cpu.append(float(line.split()[1]))
                    else:
                        marks.setdefault(line.strip(), []).append(time.perf_counter() - started)
                child.wait()
            shown = ", ".join(f"{mark} {min(marks[mark]):.2f} s" for mark in STARTUP_MARKS)
            print(f"   {label}: {shown} (CPU {min(cpu):.2f} s with its helper processes; "
                  f"best of {repeats})")


PACED = """
import asyncio, os, sys, time
from nnsim.tui.app import create_app
from nnsim.tui.requests import ScalePace
pace, width, height = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
scenario, tab = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else ("playground", "1")
async def main():
    app = create_app(scenario, seed=0, paced=True)
    async with app.run_test(size=(width, height)) as pilot:
        while app.frame is None or app.frame.step < 10:
            await asyncio.sleep(0.01)
        if pace:                                     # 0: the lesson's own pace
            app.trainer.send(ScalePace(pace / app.frame.pace))
        await pilot.press(tab)
        await asyncio.sleep(2.0)                     # settle at the new pace, the tab drawn
        cpu, wall, step = sum(os.times()[:2]), time.perf_counter(), app.frame.step
        await asyncio.sleep(10.0)
        cpu, wall = sum(os.times()[:2]) - cpu, time.perf_counter() - wall
        print(f"{cpu / wall:.4f} {(app.frame.step - step) / wall:.1f}")
asyncio.run(main())
"""


def paced_cpu() -> None:
    """CPU of the whole dashboard process (training and drawing) at a pace, in a fresh process
    so nothing else is counted; the app draws into Textual's headless driver, which builds every
    frame as a terminal would but writes nothing."""
    print("4. CPU use of a paced dashboard, share of one core over 10 s (target < 15% at 30 steps/s)")
    for pace in (30, 300):
        for width, height in SIZES:
            out = subprocess.run([sys.executable, "-c", PACED, str(pace), str(width), str(height)],
                                 check=True, capture_output=True, text=True).stdout.split()
            share, rate = float(out[0]), float(out[1])
            print(f"   {pace:>4} steps/s at {width}x{height}: {share:6.1%} of a core "
                  f"(measured {rate:,.0f} steps/s)")


def best_ms(action, repeats: int = 200) -> float:
    """The fastest of ``repeats`` calls, in ms (the least disturbed by other work)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return 1000 * best


def drawn(picture, width: int, height: int) -> None:
    console = Console(width=width, height=height, color_system="truecolor", file=io.StringIO())
    console.print(picture, height=height)


def network_pane() -> None:
    from nnsim.core.run import Run
    from nnsim.tui.frame import PlanePoints
    from nnsim.tui.panes.boundary import BoundaryPicture
    from nnsim.tui.panes.base import View
    from nnsim.tui.panes.network import NetworkPicture, choose_columns, zoom_picture
    from nnsim.tui.panes.network_fit import fit, zoom_box

    print("5. the network pane (target: a refresh well within the 100 ms frame budget)")
    print("   ms per refresh (best of 200 calls, 50 drawings)")
    print(f"   {'':<36}{'network':>8}   {'reference':>17}  {'ratio':>8}")
    for name, variant in (("playground", 0), ("relu", 1)):
        config = load_scenario(name, seed=0).variants[variant].config
        run = Run(config)
        run.advance(config.train.steps)
        shape = run.boundary_shape          # the grid the worker asks for (tui/frame.py)
        units_ms, pictures_ms = best_ms(lambda: run.unit_maps(shape)), best_ms(run.pictures)
        print(f"   {name + ' unit_maps':<36}{units_ms:>8.2f}   {pictures_ms:>8.2f} pictures  "
              f"{units_ms / pictures_ms:>8.2f}")
        units, pictures = run.unit_maps(shape), run.pictures()
        points = PlanePoints.of(run.dataset)
        boundary = BoundaryPicture(pictures.boundary, pictures.boundary_extent, run.dataset.task,
                                   points)
        # Each pane's drawing area at 80x24 (a tab) and in the 160x48 and 200x50 grids: the
        # diagram with the units chosen for it, and the cursor's zoom beside it if it fits
        # (the whole area with u: the zoom alone).
        for (width, height), (b_width, b_height) in (((76, 13), (76, 15)), ((86, 18), (42, 17)),
                                                    ((108, 19), (54, 18))):
            zoom = zoom_box(units.widths, width, height)
            f = fit(units.widths, width - zoom.width, height)
            f = f.with_units(choose_columns(units, f, (1, 0)))
            network = NetworkPicture(units, (1, 0), f, points)
            large = zoom_picture(units, len(units.widths) - 1, 0, points, View())

            def draw():
                drawn(network, width - zoom.width, height)
                if zoom.width:
                    drawn(zoom_picture(units, 1, 0, points, View()), zoom.width - 1, zoom.rows)

            draw_ms = best_ms(draw, 50)
            large_ms = best_ms(lambda: drawn(large, width, height), 50)
            boundary_ms = best_ms(lambda: drawn(boundary, b_width, b_height), 50)
            print(f"   {f'{name} drawn at {width}x{height}':<36}{draw_ms:>8.2f}   {boundary_ms:>8.2f} boundary  "
                  f"{draw_ms / boundary_ms:>8.2f}   (zoom {'beside' if zoom.width else 'none'}; "
                  f"the output large: {large_ms:.2f})")
    print("   training speed, the playground past step 3000 (steps/s, best of interleaved runs)")
    rates: dict[str, list[float]] = {}
    shares = []
    for _ in range(REPEATS):
        rates.setdefault("headless", []).append(headless_rate()[0])
        rate, share = headless_rate(unit_maps=True)
        rates.setdefault("headless + unit_maps", []).append(rate)
        shares.append(share)
        rates.setdefault("TUI 80x24, loss tab", []).append(asyncio.run(tui_rate((80, 24), "1")))
        rates.setdefault("TUI 80x24, network tab", []).append(asyncio.run(tui_rate((80, 24), "6")))
    for label, reference in (("headless + unit_maps", "headless"),
                             ("TUI 80x24, network tab", "TUI 80x24, loss tab")):
        print(f"   {label:<26}{max(rates[label]):>9,.0f}   {reference:<20}{max(rates[reference]):>9,.0f}"
              f"   ratio {max(rates[label]) / max(rates[reference]):.2f}")
    print(f"   unit_maps took {min(shares):.1%} of the wall time (least of {REPEATS} runs)")
    print("   CPU of the paced dashboard, the playground at 30 steps/s at 80x24 (share of one "
          "core over 10 s; best of interleaved runs)")
    paced_tabs("playground", 30, "6", "network tab")


def landscape_pane() -> None:
    from nnsim.core.landscape import valley
    from nnsim.core.run import Run
    from nnsim.tui.frame import PlanePoints
    from nnsim.tui.panes.boundary import BoundaryPicture
    from nnsim.tui.panes.landscape import LandscapePicture

    print("6. the landscape pane (measured only while on screen, at most every 0.5 s and within "
          "5% of the training thread)")
    print("   ms per measurement or drawing (best of 20 calls)")
    print(f"   {'':<40}{'landscape':>9}   {'reference':>17}  {'ratio':>8}")
    for name in ("sgd-vs-adam", "momentum"):
        scenario = load_scenario(name, seed=0)
        runs = [Run(v.config, name=v.name, alongside=len(scenario.variants))
                for v in scenario.variants]
        for run in runs:
            run.record_trajectory(128)
            run.advance(run.config.train.steps // 4)
        pictures_ms = best_ms(runs[0].pictures, 20)
        run = runs[0]
        boundary_pictures = run.pictures()
        boundary = BoundaryPicture(boundary_pictures.boundary, boundary_pictures.boundary_extent,
                                   run.dataset.task, PlanePoints.of(run.dataset))
        # The map's grid and drawing area: a tab at 80x24, the grid's cell at 160x48.
        for grid, (width, height) in (((26, 32), (36, 13)), ((16, 32), (42, 8))):
            valley_ms = best_ms(lambda: valley(runs, 0, grid), 20)
            print(f"   {f'{name} valley, grid {grid[0]}x{grid[1]}':<40}{valley_ms:>9.2f}   "
                  f"{pictures_ms:>8.2f} pictures  {valley_ms / pictures_ms:>8.2f}")
            picture = LandscapePicture(valley(runs, 0, grid).landscape, run.name,
                                       tuple(r.name for r in runs))
            draw_ms = best_ms(lambda: drawn(picture, width, height), 20)
            boundary_ms = best_ms(lambda: drawn(boundary, width, height), 20)
            print(f"   {f'{name} map drawn at {width}x{height}':<40}{draw_ms:>9.2f}   "
                  f"{boundary_ms:>8.2f} boundary  {draw_ms / boundary_ms:>8.2f}")
    print("   CPU of the paced dashboard, sgd-vs-adam at 80x24 (share of one core over 10 s; "
          "best of interleaved runs)")
    paced_tabs("sgd-vs-adam", 0, "7", "landscape tab")


def paced_tabs(scenario: str, pace: float, tab: str, label: str) -> None:
    """The paced dashboard's CPU at 80x24 with the pane of key ``tab`` shown against the loss
    tab, each in a fresh process, interleaved; ``pace`` 0: the lesson's own."""
    shares: dict[str, list[float]] = {}
    for _ in range(REPEATS):
        for key, name in (("1", "loss tab"), (tab, label)):
            out = subprocess.run([sys.executable, "-c", PACED, str(pace), "80", "24", scenario,
                                  key], check=True, capture_output=True, text=True).stdout.split()
            shares.setdefault(name, []).append(float(out[0]))
    for name, values in shares.items():
        print(f"   {name:<20}{min(values):6.1%} of a core   (runs: "
              f"{', '.join(f'{v:.1%}' for v in values)})")
    print(f"   ratio {min(shares[label]) / min(shares['loss tab']):.2f}")


PARTS = {"--landscape": landscape_pane, "--paced": paced_cpu, "--network": network_pane,
         "--startup": startup}


def main() -> None:
    args = sys.argv[1:]
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    if len(args) == 1 and args[0] in PARTS:
        PARTS[args[0]]()
        return
    for arg in args:
        if arg.startswith("-"):
            print(f"bench_tui.py: {arg}: expected lesson names, or one of {', '.join(PARTS)} "
                  "alone, or --help", file=sys.stderr)
            sys.exit(2)
    names = args or ["playground", "sgd-vs-adam", "learning-rate"]
    speed(names)
    steady()
    latency()
    startup()
    paced_cpu()
    network_pane()
    landscape_pane()


if __name__ == "__main__":
    main()

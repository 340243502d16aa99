"""The ``nnsim`` command: the dashboard, the headless ``list``, ``run``, ``check``, ``sweep``,
``show``, ``trace``, ``landscape``, ``lr-find``, and ``serve`` (the dashboard in web browsers).

Exit status: 0 success, 1 an expectation failed, 2 bad input (usage, scenario, data file, and
standard output closed at the start: nothing could be shown), 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP
(the runs stop, no file is left half-written), 141 the reader of the output went away mid-way
(``nnsim show x | head``: quietly, as ``cat`` does). A bad scenario or data file prints one line,
``file: key: what was expected``, never a traceback.
"""

import argparse
import os
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path

from . import __version__, landscape, trace
from .core import warmup
from .core.config import MAX_SEED, shown
from .core.scenario import ScenarioError, builtin_names, load_scenario, parse_override
from .core.report import OUT_FILES, write_atomically
from .core.text import one_line
from .core.validation import Seeds, SummaryError, Tally, merged, read_summary, to_json
from .executor import CLUSTER_HINT, ExecutorError, open_executor
from .sweep import METRICS as SWEEP_METRICS
from .serve import ServeError

COMMANDS = ("list", "run", "check", "sweep", "show", "trace", "landscape", "lr-find", "serve")
DEFAULT_SCENARIO = "playground"


class UsageError(Exception):
    """A command-line value that argparse cannot check by itself."""


class Terminated(Exception):
    """SIGTERM or SIGHUP (the terminal closed): end like Ctrl-C does (runs cancelled, no file
    half-written), not mid-stride as the default action would, leaving a temporary file."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


ENDING_SIGNALS = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


def _terminate(signum, frame):
    raise Terminated(signum)


def _end_now_if_still_training(status: int) -> int:
    """After an interrupt, a worker thread may still be inside a call it cannot leave early:
    Numba compiling the kernels on first use takes 15 s and more, and Python would wait for it
    before exiting. The runs are cancelled and no file is half-written (results are written
    whole, at the end), so once the line is out the process can end at once."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.current_thread()):
        warmup.stop()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def parse_seeds(text: str) -> Seeds:
    """``"0-9"``, ``"3"`` or ``"0,2,5"`` (and mixes like ``"0-2,7"``) as seeds in increasing
    order, each once; held as ranges, so ``0-999999999999`` costs nothing until it runs."""
    ranges = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
        if not match:
            raise argparse.ArgumentTypeError(f"expected seeds like 0-9, 3 or 0,2,5; got {shown(text)}")
        low, high = (_seed_number(digits, "seeds") for digits in (match[1], match[2] or match[1]))
        if high < low:
            raise argparse.ArgumentTypeError(f"expected seeds like 0-9, 3 or 0,2,5; got {shown(text)}")
        ranges.append((low, high))
    return Seeds(ranges)


def _seed_number(digits: str, what: str) -> int:
    """A seed's digits as a number, refused past MAX_SEED before Python reads thousands of them."""
    if len(digits) > len(str(MAX_SEED)) or int(digits) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected {what} from 0 to {MAX_SEED:,}; got {shown(digits)}")
    return int(digits)


def _seed(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to {MAX_SEED:,}, got {shown(text)}")
    return _seed_number(text, "a seed")


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return int(text)


MAX_WORKERS = 1024      # --jobs: threads at once, far past any machine's cores


def _workers(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {MAX_WORKERS}, got {shown(text)}")
    return int(text)


SWEEP_EPILOG = """\
values of --set KEY=VALUES:
  0.01,0.1,1          a list (TOML values: [8,8],[16] is two lists; a bare word is a string)
  100:500:5           a linear range: 5 values from 100 to 500 (100, 200, ... 500)
  1e-4:10:log13       a log range: 13 values spaced evenly in log10 from 1e-4 to 10,
                      rounded to 4 significant digits
  20                  one value: the same setting for every run
A value applies to the base and every variant, as `nnsim run --set` does: to sweep a setting the
variants differ in, pick one with --variant.

examples:
  nnsim sweep learning-rate --variant good --set train.lr=1e-3:10:log9 --seeds 0-19
  nnsim sweep momentum --set train.momentum=0,0.5,0.9 --set train.lr=0.01,0.1 --out sweep/
  nnsim sweep relu --set train.steps=200 --set train.lr=0.01:0.1:4 --scheduler tcp://10.0.0.5:8786

Every row of sweep.csv is reproduced bit for bit by `nnsim run SCENARIO --set KEY=VALUE ...
--seed N`. Exit status: 0 every run finished (diverging is an outcome), 1 a run failed,
2 bad input, an unreachable scheduler or a local worker process that died (nothing written),
130 Ctrl-C (nothing written).
"""

SCENARIO_HELP = "a built-in lesson's name (see `nnsim list`) or the path to a .toml file"


def command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnsim",
        description="Watch a neural network train, live in your terminal. `nnsim [SCENARIO] "
                    "[--seed N] [--replay] [--autoplay]` opens the dashboard (default: the "
                    f"{DEFAULT_SCENARIO}); the commands below work without it.",
        epilog="Exit status: 0 success, 1 an expectation failed, 2 bad input.")
    parser.add_argument("--version", action="version", version=f"nnsim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("list", help="the built-in lessons, one a line",
                        description="List the built-in lessons: name, then a one-line summary.")

    run = commands.add_parser(
        "run", help="run a scenario headless and check its expectations",
        description="Run every variant of a scenario to its end (the variants in parallel, one "
                    "thread each, --jobs at once), narrate its events, print a summary table per "
                    "variant and the expectation results.")
    run.add_argument("scenario", metavar="SCENARIO", help=SCENARIO_HELP)
    run.add_argument("--seed", type=_seed, metavar="N",
                     help="train.seed of every variant (plus the variant's seed_offset)")
    _add_set_option(run)
    run.add_argument("--out", type=Path, metavar="DIR",
                     help="write metrics.csv and summary.json into DIR")
    _add_pace_options(run)

    check = commands.add_parser(
        "check", help="verify lessons' expectations over seeds",
        description="Run lessons headless over the given seeds and verify their expectations; "
                    "prints a scenario x seed table of pass/fail. Exit status 1 if any fails.")
    check.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                       help=SCENARIO_HELP + " (default: every built-in lesson)")
    check.add_argument("--seeds", type=parse_seeds, default=Seeds([(0, 0)]), metavar="SEEDS",
                       help="seeds such as 0-9, 3 or 0,2,5, run in increasing order (default 0)")
    check.add_argument("--summary", type=Path, metavar="FILE",
                       help="write each expectation's pass rate and the median, 5th and 95th "
                            "percentile of its figures as JSON into FILE (scenarios already in "
                            "FILE and not checked now are kept): the figures lesson texts quote")
    _add_pace_options(check, "process")
    _add_scheduler_option(check)

    sweep = commands.add_parser(
        "sweep", help="a scenario over a grid of settings x seeds: medians and bands",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a scenario at every combination of the --set values, at every seed, "
                    "on a local pool of processes or a Dask cluster; print per grid point the "
                    "final metric's median and 5th-95th percentile across seeds and how many "
                    "runs diverged, and for a one-key sweep a plot of it against the value.",
        epilog=SWEEP_EPILOG)
    sweep.add_argument("scenario", metavar="SCENARIO", help=SCENARIO_HELP)
    sweep.add_argument("--set", action="append", default=[], metavar="KEY=VALUES", dest="axes",
                       help="a key and its values: V1,V2,... or a range A:B:N or A:B:logN "
                            "(see below); repeatable, the grid is every combination")
    sweep.add_argument("--seeds", type=parse_seeds, default=Seeds([(0, 0)]), metavar="SEEDS",
                       help="seeds such as 0-9, 3 or 0,2,5: every grid point runs at each (default 0)")
    sweep.add_argument("--variant", action="append", default=[], metavar="NAME",
                       help="run only this variant (repeatable; default: every variant)")
    sweep.add_argument("--metric", choices=SWEEP_METRICS, default=SWEEP_METRICS[0],
                       help=f"the final metric the table and plot show (default {SWEEP_METRICS[0]})")
    sweep.add_argument("--out", type=Path, metavar="DIR",
                       help="write sweep.csv (one row per run) and sweep.json (the table) into DIR")
    _add_pace_options(sweep, "process")
    _add_scheduler_option(sweep)

    show = commands.add_parser(
        "show", help="a lesson's text, configuration, variants, events and expectations",
        description="Print a scenario: its lesson text, the resolved configuration with "
                    "defaults, the variants and what they change, the events and the expectations.")
    show.add_argument("scenario", metavar="SCENARIO", help=SCENARIO_HELP)

    serve = commands.add_parser(
        "serve", help="the dashboard in web browsers, one app and one run per session",
        description="Serve the dashboard to web browsers (needs the web extra: "
                    "pip install 'nnsim[web]'). Every browser session gets its own process "
                    "and its own run of the scenario; closing the tab ends it.")
    serve.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, metavar="SCENARIO",
                       help=SCENARIO_HELP + f" (default: the {DEFAULT_SCENARIO})")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; "
                            "0.0.0.0 for every network interface)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument("--seed", type=_seed, metavar="N", help="train.seed of every variant")
    _add_set_option(serve)
    serve.add_argument("--data", type=Path, metavar="DIR",
                       help="a folder of CSV files students may train on, picked by name "
                            "(default: the built-in data sets only)")
    serve.add_argument("--max-sessions", type=_workers, metavar="N",
                       help="browser sessions at once; one more sees a 'class is full' page "
                            "(default: from this machine's cores and memory)")
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                       help="a host name browsers may use to reach the server, e.g. a reverse "
                            "proxy's (default: the address it listens on); repeatable")
    serve.add_argument("--public-url", metavar="URL",
                       help="where browsers reach the server through a reverse proxy, e.g. "
                            "https://class.example.org/nnsim (its host is allowed too)")
    trace.add_parser(commands, SCENARIO_HELP)
    landscape.add_parsers(commands, SCENARIO_HELP)
    return parser


def _add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="change a key of the base and every variant, e.g. train.lr=0.3 or "
                             "model.layers=[8,8] (a TOML value; a bare word is a string); repeatable")


def _add_pace_options(parser: argparse.ArgumentParser, each: str = "thread") -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--jobs", type=_workers, metavar="N",
                        help=f"runs training at once, one {each} each (default: one per CPU core)")


def _add_scheduler_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on the Dask cluster whose scheduler is at ADDRESS, e.g. "
                             f"tcp://10.0.0.5:8786, instead of this machine (the cluster extra: {CLUSTER_HINT})")


def tui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnsim",
        usage="nnsim [SCENARIO] [--seed N] [--set KEY=VALUE ...] [--replay] [--autoplay]\n"
              "       nnsim {list,run,check,show,serve} ...",
        description="Open the training dashboard on a lesson (default: the playground). "
                    "See `nnsim --help` for the headless commands.")
    parser.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, metavar="SCENARIO",
                        help=SCENARIO_HELP)
    parser.add_argument("--seed", type=_seed, metavar="N", help="train.seed of every variant")
    _add_set_option(parser)
    parser.add_argument("--replay", action="store_true",
                        help="play the scripted events as a demo, pausing at each narration")
    parser.add_argument("--autoplay", action="store_true", help="with --replay: never pause")
    # A session of `nnsim serve`: a student in a browser, who may name no path on the server.
    parser.add_argument("--served", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    return parser


def start_tui(args) -> int:
    overrides = tuple(parse_override(text) for text in args.overrides)
    load_scenario(args.scenario, seed=args.seed, overrides=overrides)   # a bad file: one line here
    try:
        from .tui.app import run_app
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("nnsim.tui"):
            raise
        print("nnsim: the dashboard is not installed yet; try `nnsim run "
              f"{args.scenario}` for a headless run", file=sys.stderr)
        return 1
    if args.served:
        from .serve import join_server
        join_server()
    return run_app(args.scenario, seed=args.seed, overrides=overrides, replay=args.replay,
                   autoplay=args.autoplay, served=args.served, data_folder=args.data) or 0


def check_out_dir(path: Path, names: tuple[str, ...] = ()) -> None:
    """Refuse an ``--out`` that could not take the files, before the run spends its time.

    The folder is created now (as the writer would) and a file is made and removed in it, so
    a read-only folder, a file in the way or a full disk shows before training, not after; so
    does a folder where one of ``names`` must go (a file cannot replace it).
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except FileExistsError:
        raise UsageError(f"--out {path}: is a file, not a folder") from None
    except NotADirectoryError:
        raise UsageError(f"--out {path}: a part of the path is a file, not a folder") from None
    except OSError as err:
        raise UsageError(f"--out {path}: cannot write there ({err.strerror})") from None
    for name in names:
        if (path / name).is_dir():
            raise UsageError(f"--out {path}: {name} there is a folder; expected a file or nothing")


def run_command(args) -> int:
    from . import headless   # loads the kernels; list and show do not need them

    overrides = tuple(parse_override(text) for text in args.overrides)
    scenario = load_scenario(args.scenario, seed=args.seed, overrides=overrides)
    if args.out is not None:
        check_out_dir(args.out, OUT_FILES)
    return headless.run_scenario(scenario, seed=args.seed, overrides=overrides, out_dir=args.out,
                                 quiet=args.quiet, workers=args.jobs)


def check_command(args) -> int:
    from . import headless

    names = args.scenarios or builtin_names()
    if not names:
        raise UsageError("no scenarios to check: no built-in lessons are installed")
    previous = read_previous_summary(args.summary) if args.summary else None
    tally = Tally()
    status = headless.check_scenarios(names, args.seeds, scheduler=args.scheduler, workers=args.jobs,
                                      progress=not args.quiet, tally=tally)
    if args.summary:
        target = args.summary.resolve()
        write_atomically(target.parent, target.name, to_json(merged(previous, tally.summary())))
        print(f"wrote {args.summary}")
    return status


def sweep_command(args) -> int:
    from .sweep import Sweep, SWEEP_FILES, parse_axis, run_sweep

    if not args.axes:
        raise UsageError("sweep: expected at least one --set KEY=VALUES (e.g. train.lr=1e-3:1:log7)")
    sweep = Sweep(args.scenario, [parse_axis(text) for text in args.axes], args.seeds,
                  variants=args.variant, metric=args.metric)
    if args.out is not None:
        check_out_dir(args.out, SWEEP_FILES)
    with open_executor(args.scheduler, args.jobs, jobs_hint=len(sweep)) as executor:
        return run_sweep(sweep, executor, out_dir=args.out, quiet=args.quiet)


def read_previous_summary(path: Path) -> dict | None:
    """The summary ``--summary`` will update, read and checked whole before anything runs
    (None: a new file). Only a regular file is read: ``/dev/zero`` or a pipe would be read for
    ever, and the file is replaced at the end, never written through."""
    if path.is_dir():
        raise UsageError(f"--summary {path}: is a folder, not a file")
    if not path.exists():
        check_out_dir(path.parent if str(path.parent) else Path("."))
        return None
    if not path.is_file():
        raise UsageError(f"--summary {path}: expected a regular file (or a new one), "
                         "not a device, pipe or socket")
    try:
        return read_summary(path)
    except SummaryError as err:
        raise UsageError(f"--summary {path}: not a validation summary written by nnsim check "
                         f"({err})") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UsageError(f"--summary {path}: cannot read it as a validation summary ({err})") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    for stream in (sys.stdout, sys.stderr):     # e.g. PYTHONIOENCODING=ascii: "—" becomes "\u2014"
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if sys.stdout is None:      # started with stdout closed (`nnsim list >&-`): say so, do nothing
        if sys.stderr is not None:
            print("nnsim: standard output is closed; nothing could be shown", file=sys.stderr)
        return 2
    headless_command = bool(argv) and (argv[0] in COMMANDS or argv[0] in ("-h", "--help",
                                                                          "--version"))
    try:
        args = (command_parser() if headless_command else tui_parser()).parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    except KeyboardInterrupt:
        print("nnsim: interrupted", file=sys.stderr)
        return 130
    previous_handlers = ({signum: signal.signal(signum, _terminate) for signum in ENDING_SIGNALS}
                         if headless_command else {})
    try:
        if not headless_command:
            return start_tui(args)
        if args.command == "list":
            from .describe import list_lessons
            print(list_lessons())
            return 0
        if args.command == "show":
            from .describe import show
            print(show(load_scenario(args.scenario)))
            return 0
        if args.command == "serve":
            from .serve import serve
            return serve(args.scenario, host=args.host, port=args.port, seed=args.seed,
                         overrides=tuple(args.overrides), data_folder=args.data,
                         max_sessions=args.max_sessions, allowed_hosts=tuple(args.allow_host),
                         public_url=args.public_url)
        if args.command == "trace":
            return trace.trace_command(args)
        if args.command == "landscape":
            return landscape.landscape_command(args)
        if args.command == "lr-find":
            return landscape.lr_find_command(args)
        if args.command == "sweep":
            return sweep_command(args)
        return run_command(args) if args.command == "run" else check_command(args)
    except ScenarioError as err:    # names, keys and cells from a file: printed without escapes
        print(one_line(str(err)), file=sys.stderr)
    except (UsageError, ServeError, ExecutorError) as err:
        print(one_line(f"nnsim: {err}"), file=sys.stderr)
    except KeyboardInterrupt:
        print("nnsim: interrupted", file=sys.stderr)
        return _end_now_if_still_training(130)
    except Terminated as ended:
        print(f"nnsim: {ENDING_SIGNALS[ended.signum]}", file=sys.stderr)
        return _end_now_if_still_training(128 + ended.signum)
    except BrokenPipeError:
        # The reader went away (`nnsim show x | head`): stop quietly, as cat does, and keep
        # Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:      # the results could not be written: a full disk, a folder gone
        where = f" {err.filename}" if err.filename else ""
        print(f"nnsim: cannot write{where}: {err.strerror or err}", file=sys.stderr)
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    return 2


if __name__ == "__main__":
    sys.exit(main())

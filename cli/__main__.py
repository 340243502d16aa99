"""The ``nnsim`` command: the dashboard, and the headless ``list``, ``run``, ``check``, ``show``,
``trace``.

Exit status: 0 success, 1 an expectation failed, 2 bad input (usage, scenario, data file).
A bad scenario or data file prints one line, ``file: key: what was expected``, never a traceback.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before numpy: one BLAS thread per run

import argparse  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from . import __version__, trace  # noqa: E402
from .core.scenario import ScenarioError, builtin_names, load_scenario, parse_override  # noqa: E402

COMMANDS = ("list", "run", "check", "show", "trace")
DEFAULT_SCENARIO = "playground"


class UsageError(Exception):
    """A command-line value that argparse cannot check by itself."""


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"3"`` or ``"0,2,5"`` (and mixes like ``"0-2,7"``) as a list of seeds."""
    seeds = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            raise argparse.ArgumentTypeError(f"expected seeds like 0-9, 3 or 0,2,5; got {text!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        seeds += [s for s in range(low, high + 1) if s not in seeds]
    return seeds


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a seed >= 0, got {text!r}")
    return int(text)


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of threads >= 1, got {text!r}")
    return int(text)


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
        description="Run every variant of a scenario to its end (on two threads), narrate its "
                    "events, print a summary table per variant and the expectation results.")
    run.add_argument("scenario", metavar="SCENARIO", help=SCENARIO_HELP)
    run.add_argument("--seed", type=_seed, metavar="N",
                     help="train.seed of every variant (plus the variant's seed_offset)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                     help="change a key of the base and every variant, e.g. train.lr=0.3 or "
                          "model.layers=[8,8] (a TOML value; a bare word is a string); repeatable")
    run.add_argument("--out", type=Path, metavar="DIR",
                     help="write metrics.csv and summary.json into DIR")
    _add_pace_options(run)

    check = commands.add_parser(
        "check", help="verify lessons' expectations over seeds",
        description="Run lessons headless over the given seeds and verify their expectations; "
                    "prints a scenario x seed table of pass/fail. Exit status 1 if any fails.")
    check.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                       help=SCENARIO_HELP + " (default: every built-in lesson)")
    check.add_argument("--seeds", type=parse_seeds, default=[0], metavar="SEEDS",
                       help="seeds such as 0-9, 3 or 0,2,5 (default 0)")
    _add_pace_options(check)

    show = commands.add_parser(
        "show", help="a lesson's text, configuration, variants, events and expectations",
        description="Print a scenario: its lesson text, the resolved configuration with "
                    "defaults, the variants and what they change, the events and the expectations.")
    show.add_argument("scenario", metavar="SCENARIO", help=SCENARIO_HELP)
    trace.add_parser(commands, SCENARIO_HELP)
    return parser


def _add_pace_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--jobs", type=_workers, default=2, metavar="N",
                        help="runs training at once, one thread each (default 2)")


def tui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnsim",
        usage="nnsim [SCENARIO] [--seed N] [--replay] [--autoplay]\n"
              "       nnsim {list,run,check,show} ...",
        description="Open the training dashboard on a lesson (default: the playground). "
                    "See `nnsim --help` for the headless commands.")
    parser.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, metavar="SCENARIO",
                        help=SCENARIO_HELP)
    parser.add_argument("--seed", type=_seed, metavar="N", help="train.seed of every variant")
    parser.add_argument("--replay", action="store_true",
                        help="play the scripted events as a demo, pausing at each narration")
    parser.add_argument("--autoplay", action="store_true", help="with --replay: never pause")
    return parser


def start_tui(args) -> int:
    load_scenario(args.scenario, seed=args.seed)   # a bad file is reported here, in one line
    try:
        from .tui.app import run_app
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("nnsim.tui"):
            raise
        print("nnsim: the dashboard is not installed yet; try `nnsim run "
              f"{args.scenario}` for a headless run", file=sys.stderr)
        return 1
    return run_app(args.scenario, seed=args.seed, replay=args.replay, autoplay=args.autoplay) or 0


def run_command(args) -> int:
    from . import headless   # loads the kernels; list and show do not need them

    overrides = tuple(parse_override(text) for text in args.overrides)
    scenario = load_scenario(args.scenario, seed=args.seed, overrides=overrides)
    return headless.run_scenario(scenario, seed=args.seed, overrides=overrides, out_dir=args.out,
                                 quiet=args.quiet, workers=args.jobs)


def check_command(args) -> int:
    from . import headless

    names = args.scenarios or builtin_names()
    if not names:
        raise UsageError("no scenarios to check: no built-in lessons are installed")
    scenarios = [[load_scenario(name, seed=seed) for seed in args.seeds] for name in names]
    return headless.check_scenarios(scenarios, args.seeds, workers=args.jobs,
                                    progress=not args.quiet)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    headless_command = bool(argv) and (argv[0] in COMMANDS or argv[0] in ("-h", "--help",
                                                                          "--version"))
    try:
        args = (command_parser() if headless_command else tui_parser()).parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
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
        if args.command == "trace":
            return trace.trace_command(args)
        return run_command(args) if args.command == "run" else check_command(args)
    except ScenarioError as err:
        print(err, file=sys.stderr)
    except UsageError as err:
        print(f"nnsim: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        print("nnsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`nnsim show x | head`): stop quietly, as cat does, and keep
        # Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Scenario files: one lesson per TOML file, parsed, validated and expanded into runs.

A scenario states a base configuration (``[data]``, ``[model]``, ``[train]``, the keys of
``config.py``), comparison runs (``[[variant]]``: a name and the keys it changes), scripted
events (``[[event]]``: at a step or epoch, set a value and/or say a line) and expectations
(``[[expect]]``, see ``expectations.py``). Every value check lives in ``config.py``; this
module only adds the file and the table to the dotted key of an error, so a mistake reads
``lesson.toml: variant[fast].train.lr: expected a learning rate > 0, got -1.0``.
"""

from __future__ import annotations

import importlib.resources
import inspect
import json
import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .config import (
    KEYS, LIVE_KEYS, MAX_SEED, MAX_VARIANTS, TABLES, ConfigError, RunConfig, config_from_dict,
    did_you_mean, shown, unknown_key_error, with_value, with_values,
)
from .data.dataset import training_rows_before_loading
from .expectations import COMMON_KEYS, KINDS, Expectation, parse_expectation, unknown_variant
from .text import plain
from .narration import RUN_FIGURE, NarrationError, check_figures
from .validation import PlaceholderError, fill

VALIDATION_FILE = "validation.json"     # beside the lessons: the figures their texts quote
TOP_KEYS = ("title", "summary", "lesson", "view", "data", "model", "train", "variant", "event", "expect")
VIEW_KEYS = ("seconds",)
DEFAULT_SECONDS = 30.0     # the dashboard plays a lesson's train.steps in about this long
VARIANT_KEYS = ("name", "label", "seed_offset", "data", "model", "train")
EVENT_KEYS = ("at_step", "at_epoch", "variant", "set", "say")
BASE_RUN = "base"          # the one run of a scenario without variants
TOO_DEEP = "lists or tables nested too deeply to read (a scenario needs a few levels)"
TOO_LONG = "a number of thousands of digits; every setting is bounded far below that (scenarios/README.md, Limits)"
BOM = "\ufeff"             # some editors start a UTF-8 file with it; TOML does not allow it
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")     # an expectation's id: no dots, it is part of a placeholder


class ScenarioError(ConfigError):
    """A scenario (or a command-line override) is wrong: ``path: key: message`` on one line."""

    def __init__(self, path: str, key: str, message: str):
        super().__init__(key, message)
        self.path = str(path)

    def __str__(self) -> str:
        return ": ".join(part for part in (self.path, self.key, self.message) if part)


@dataclass(frozen=True)
class Variant:
    """One run of a scenario: the base configuration with the variant's overrides applied."""

    name: str
    label: str
    overrides: dict            # the nested tables as written in the file ({} for "base")
    seed_offset: int
    config: RunConfig          # resolved: base + overrides + command-line overrides + seed


@dataclass(frozen=True)
class Event:
    """A scripted moment: at ``at_step`` (or ``at_epoch``) set values and/or say a line."""

    index: int                 # 1-based position in the file
    at_step: int | None
    at_epoch: int | None
    variant: str | None        # None: every variant
    set: tuple[tuple[str, Any], ...]
    say: str

    def applies_to(self, variant: str) -> bool:
        return self.variant is None or self.variant == variant

    def describe(self) -> str:
        when = f"step {self.at_step}" if self.at_step is not None else f"epoch {self.at_epoch}"
        who = f" [{self.variant}]" if self.variant else ""
        changes = ", ".join(f"{k} = {toml_value(v)}" for k, v in self.set)
        parts = [p for p in (changes, f'"{self.say}"' if self.say else "") if p]
        return f"at {when}{who}: " + "; ".join(parts)


@dataclass(frozen=True)
class Scenario:
    name: str                  # built-in name or the file's stem
    path: Path
    title: str
    summary: str
    lesson: str
    base: RunConfig            # the base tables (with command-line overrides and seed)
    variants: tuple[Variant, ...]
    events: tuple[Event, ...]
    expectations: tuple[Expectation, ...]
    seconds: float = DEFAULT_SECONDS    # [view] seconds: how long the dashboard takes to play it

    @property
    def base_dir(self) -> Path:
        """Where a relative ``data.path`` is resolved: the scenario file's folder."""
        return self.path.parent

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def schedule(self, variant: str, steps_per_epoch: int) -> list[tuple[int, Event]]:
        """The events of one variant as ``(step, event)``, in firing order.

        ``steps_per_epoch`` turns an epoch into a step: ``run.steps_per_epoch``, which is
        ceil(training rows / batch size), 1 for the full batch.
        """
        timed = [(e.at_step if e.at_step is not None else e.at_epoch * steps_per_epoch, e)
                 for e in self.events if e.applies_to(variant)]
        return sorted(timed, key=lambda pair: (pair[0], pair[1].index))

    def negative_control(self, expectation: Expectation) -> "Scenario":
        """The runs ``expectation`` reads with its ``control`` applied: the same experiment with
        the effect it states removed, which must fail it. A check that passes either way proves
        nothing. The settings apply after the variants' own, as ``--set`` does, and hold for the
        whole run: an event of the script no longer sets those keys."""
        runs, controlled = expectation.runs(), {key for key, _ in expectation.control}
        variants = tuple(replace(v, config=with_values(v.config, expectation.control))
                         for v in self.variants if v.name in runs)
        events = tuple(replace(e, set=tuple((k, v) for k, v in e.set if k not in controlled))
                       for e in self.events)
        return replace(self, base=with_values(self.base, expectation.control), variants=variants,
                       events=events)


# ----------------------------------------------------------------------------- finding files

def builtin_names() -> list[str]:
    """The built-in lessons: the ``*.toml`` files of the ``nnsim.scenarios`` package."""
    folder = importlib.resources.files("nnsim.scenarios")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def resolve(name_or_path: str | Path) -> Path:
    """A built-in lesson's file, or the path to a user's ``.toml`` file."""
    text = str(name_or_path)
    looks_like_path = text.endswith(".toml") or "/" in text or "\\" in text
    if looks_like_path or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise ScenarioError(text, "", "no such file")
        return path
    builtin = importlib.resources.files("nnsim.scenarios") / f"{text}.toml"
    if not builtin.is_file():
        names = builtin_names()
        hint = did_you_mean(text, names)
        raise ScenarioError(text, "", f"no built-in lesson or .toml file of that name{hint}; "
                                      f"built-in lessons: {', '.join(names) or 'none'}")
    return Path(str(builtin))


# ----------------------------------------------------------------------------- parsing

def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is a TOML value or a bare word."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key or not raw:
        raise ScenarioError("--set", text, "expected key=value, e.g. train.lr=0.3")
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except RecursionError:
        raise ScenarioError("--set", key, TOO_DEEP) from None
    except tomllib.TOMLDecodeError:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.+-]*", raw):
            raise ScenarioError("--set", key, f"cannot read the value {shown(raw)}: expected a number, "
                                              "true/false, a word, a \"string\" or a [list]") from None
        value = raw
    except ValueError:          # Python reads no integer of more than 4,300 digits
        raise ScenarioError("--set", key, TOO_LONG) from None
    if value == 0 and isinstance(value, float) and re.search(r"[1-9]", re.split(r"[eE]", raw)[0]):
        raise ScenarioError("--set", key, f"{raw} reads as 0.0: it is below the smallest number "
                                          "a 64-bit float holds (about 5e-324)")
    if key not in KEYS:
        hint = did_you_mean(key, KEYS)
        raise ScenarioError("--set", key, f"unknown key{hint}; the keys are those of [data], "
                                          "[model] and [train] in scenarios/README.md")
    return key, value


def load_scenario(name_or_path: str | Path, *, seed: int | None = None,
                  overrides: tuple[tuple[str, Any], ...] = (), fill_figures: bool = True) -> Scenario:
    """Read, validate and expand a scenario (a built-in name or a path).

    ``seed`` replaces ``train.seed`` of every variant (each adds its ``seed_offset``);
    ``overrides`` (from ``parse_override``) apply to the base and every variant, after the
    variant's own overrides. The texts' ``{validation.…}`` placeholders are filled from the
    ``validation.json`` beside the file (``fill_figures=False`` leaves them as written: ``nnsim
    check`` measures those figures). Raises ``ScenarioError`` naming the file and the dotted key.
    """
    path = resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(str(path), "", f"cannot read the file: {err}") from None
    return parse_scenario(text, path=path, seed=seed, overrides=overrides, fill_figures=fill_figures)


def parse_scenario(text: str, *, path: Path, seed: int | None = None,
                   overrides: tuple[tuple[str, Any], ...] = (), fill_figures: bool = True) -> Scenario:
    """``load_scenario`` on text already read (``path`` names it in errors and anchors data)."""
    doc = _read_toml(text, path)
    try:
        return _Parser(path, fill_figures).scenario(doc, plain(path.stem), seed, tuple(overrides))
    except RecursionError:      # the table walk recurses once per level
        raise ScenarioError(str(path), "", TOO_DEEP) from None


def _read_toml(text: str, path: Path) -> dict:
    """The TOML document, or one line saying why it cannot be read (a leading BOM is dropped)."""
    try:
        return tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as err:
        raise _toml_error(path, err) from None
    except RecursionError:      # tomllib recurses once per level
        raise ScenarioError(str(path), "", TOO_DEEP) from None
    except ValueError:          # Python reads no integer of more than 4,300 digits
        raise ScenarioError(str(path), "", TOO_LONG) from None


def _toml_error(path: Path, err: tomllib.TOMLDecodeError) -> ScenarioError:
    message = str(err)
    where = re.search(r"\s*\(at line (\d+), column \d+\)$", message)
    if where:
        return ScenarioError(str(path), f"line {where.group(1)}", message[:where.start()])
    return ScenarioError(str(path), "", message)


class _Parser:
    """Walks one parsed TOML document; every error names ``self.path`` and the key."""

    def __init__(self, path: Path, fill_figures: bool = True):
        self.path = path
        self.fill_figures = fill_figures

    def filled(self, key: str, text: str) -> str:
        """``text`` with its ``{validation.…}`` figures from the ``validation.json`` beside the file."""
        if not self.fill_figures:
            return text
        try:
            return fill(text, plain(self.path.stem), self.path.parent / VALIDATION_FILE)
        except PlaceholderError as err:
            raise self.error(key, str(err)) from None

    def error(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(str(self.path), key, message)

    def config_error(self, prefix: str, err: ConfigError) -> ScenarioError:
        key = f"{prefix}.{err.key}" if prefix and err.key else (prefix or err.key)
        return self.error(key, err.message)

    def check_keys(self, where: str, table: dict, valid) -> None:
        for key in table:
            if key not in valid:
                err = unknown_key_error(f"{where}.{key}" if where else key, valid)
                raise self.error(err.key, err.message)

    def text(self, doc: dict, key: str, required: bool = False, where: str = "", runs=()) -> str:
        """A text, its ``{validation.…}`` figures filled; only a narration line (told while
        ``runs`` train) may quote them with ``{run.…}`` figures, filled as it is told."""
        if key not in doc:
            if required:
                raise self.error(key, "missing; expected a string")
            return ""
        value = doc[key]
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        text = self.filled(where or key, plain(value).strip())
        try:
            if not runs and RUN_FIGURE.search(text):
                raise NarrationError(f"{RUN_FIGURE.search(text).group(0)}: only an event's say, "
                                     f"told as the runs train, can quote a run's figures")
            check_figures(text, runs)
        except NarrationError as err:
            raise self.error(where or key, str(err)) from None
        return text

    def tables(self, doc: dict, key: str) -> list[dict]:
        value = doc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
            raise self.error(key, f"expected tables written [[{key}]]")
        return value

    def scenario(self, doc: dict, name: str, seed: int | None, overrides) -> Scenario:
        self.check_keys("", doc, TOP_KEYS)
        title = self.text(doc, "title", required=True)
        if not title:
            raise self.error("title", "expected a title, got an empty one (it heads the lesson)")
        summary = self.text(doc, "summary")
        if "\n" in summary:
            raise self.error("summary", "expected one line (it is what `nnsim list` shows)")
        tables = {t: doc[t] for t in TABLES if t in doc}
        for table, value in tables.items():
            if not isinstance(value, dict):
                raise self.error(table, f"expected a table [{table}], got {value!r}")
        try:
            written = config_from_dict(tables)
        except ConfigError as err:
            raise self.config_error("", err) from None
        base = self.apply_overrides(written, overrides, "")
        variants = tuple(self.variants(self.tables(doc, "variant"), written, overrides, seed))
        if seed is not None:
            base = with_value(base, "train.seed", seed)
        configs = {v.name: v.config for v in variants}
        # an event past the end is a mistake in the file, not after `--set train.steps=...`
        as_written = {v.name: v.config
                      for v in self.variants(self.tables(doc, "variant"), written, (), seed)}
        events = tuple(self.event(i, t, configs, as_written) for i, t in
                       enumerate(self.tables(doc, "event"), start=1))
        expectations = self.expectations(self.tables(doc, "expect"), configs, as_written)
        return Scenario(name=name, path=self.path, title=title, summary=summary,
                        lesson=self.text(doc, "lesson"), base=base, variants=variants,
                        events=events, expectations=tuple(expectations),
                        seconds=self.view_seconds(doc.get("view", {})))

    def expectations(self, tables: list[dict], configs: dict[str, RunConfig],
                     as_written: dict[str, RunConfig]) -> tuple[Expectation, ...]:
        """Each ``[[expect]]`` table; one without an ``id`` is known by its position (1, 2, ...).
        A ``control`` is judged against the runs as the file writes them, not after ``--set``."""
        expectations: list[Expectation] = []
        for i, table in enumerate(tables, start=1):
            try:
                expectation = parse_expectation(
                    {key: plain(v) if isinstance(v, str) else v for key, v in table.items()
                     if key != "control"}, configs)
            except ConfigError as err:
                raise self.config_error(f"expect[{i}]", err) from None
            control = self.control(f"expect[{i}].control", table.get("control", {}),
                                   [as_written[name] for name in expectation.runs()])
            if "id" in table and not _ID.match(expectation.id):
                raise self.error(f"expect[{i}].id", "expected a name that starts with a letter, of "
                                                    f"letters, digits and _ -, got {expectation.id!r}")
            if expectation.id in (e.id for e in expectations):
                raise self.error(f"expect[{i}].id", f"the id {expectation.id!r} is used twice")
            expectations.append(replace(expectation, id=expectation.id or str(i), control=control,
                                        because=self.filled(f"expect[{i}].because", expectation.because)))
        return tuple(expectations)

    def control(self, where: str, table, configs: list[RunConfig]) -> tuple[tuple[str, Any], ...]:
        """An expectation's ``control``: settings every run it reads accepts, and that change one."""
        if not isinstance(table, dict):
            raise self.error(where, 'expected an inline table, e.g. control = { "train.lr" = 0.1 }')
        changes = tuple(_flatten(table))
        try:
            controlled = [with_values(cfg, changes) for cfg in configs]
        except ConfigError as err:
            raise self.error(f"{where}.{err.key}", err.message) from None
        if changes and controlled == configs:
            raise self.error(where, "expected settings that change a run the expectation reads; "
                                    "these are its settings already")
        return changes

    def view_seconds(self, view) -> float:
        """``[view] seconds``: how long the dashboard takes to play ``train.steps``."""
        if not isinstance(view, dict):
            raise self.error("view", f"expected a table [view], got {view!r}")
        self.check_keys("view", view, VIEW_KEYS)
        seconds = view.get("seconds", DEFAULT_SECONDS)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 1 <= seconds <= 3600:
            raise self.error("view.seconds", f"expected a number of seconds from 1 to 3600, got {seconds!r}")
        return float(seconds)

    def apply_overrides(self, cfg: RunConfig, overrides, where: str) -> RunConfig:
        """Command-line ``--set`` values, all at once (``data.kind=csv`` needs ``data.path``)."""
        try:
            return with_values(cfg, overrides)
        except ConfigError as err:
            raise ScenarioError("--set", err.key, err.message + (f" (in {where})" if where
                                                                 else "")) from None

    def variants(self, tables: list[dict], base: RunConfig, overrides, seed):
        if not tables:
            tables = [{"name": BASE_RUN}]
        if len(tables) > MAX_VARIANTS:
            raise self.error("variant", f"expected at most {MAX_VARIANTS} variants (each is a run "
                                        f"trained at the same time), got {len(tables)}")
        seen = set()
        for i, table in enumerate(tables, start=1):
            name = table.get("name")
            where = f"variant[{name}]" if isinstance(name, str) and name else f"variant[{i}]"
            self.check_keys(where, table, VARIANT_KEYS)
            if not isinstance(name, str) or not _NAME.match(name):
                raise self.error(f"{where}.name", "expected a name of letters, digits and "
                                                  f"_ . + - (it names the run), got {name!r}")
            if name in seen:
                raise self.error(f"{where}.name", f"the name {name!r} is used twice")
            seen.add(name)
            label = table.get("label", name)
            if not isinstance(label, str):
                raise self.error(f"{where}.label", f"expected a string, got {label!r}")
            label = plain(label)
            offset = table.get("seed_offset", 0)
            if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_SEED:
                raise self.error(f"{where}.seed_offset", f"expected an integer from 0 to {MAX_SEED:,}, "
                                                         f"got {shown(offset)}")
            changes = {t: table[t] for t in TABLES if t in table}
            try:
                cfg = config_from_dict(changes, base=base)
            except ConfigError as err:
                raise self.config_error(where, err) from None
            cfg = self.apply_overrides(cfg, overrides, where if len(tables) > 1 else "")
            csv = self.path.parent / Path(cfg.data.path).expanduser()   # as the loader reads it
            if cfg.data.kind == "csv" and not csv.is_file():
                key = f"{where}.data.path" if "path" in changes.get("data", {}) else "data.path"
                what = "a directory, not a CSV file" if csv.is_dir() else "no such CSV file"
                raise self.error(key, f"{what}: {csv}")
            run_seed = (seed if seed is not None else cfg.train.seed) + offset
            cfg = with_value(cfg, "train.seed", run_seed)
            yield Variant(name=name, label=label, overrides=changes, seed_offset=offset, config=cfg)

    def event(self, index: int, table: dict, configs: dict[str, RunConfig],
              as_written: dict[str, RunConfig]) -> Event:
        where = f"event[{index}]"
        self.check_keys(where, table, EVENT_KEYS)
        timing = [k for k in ("at_step", "at_epoch") if k in table]
        if len(timing) != 1:
            raise self.error(where, "expected exactly one of at_step, at_epoch")
        when = table[timing[0]]
        if isinstance(when, bool) or not isinstance(when, int) or when < 0:
            raise self.error(f"{where}.{timing[0]}", f"expected an integer >= 0, got {shown(when)}")
        variant = table.get("variant")
        if variant is not None and not isinstance(variant, str):
            raise self.error(f"{where}.variant", f"expected a variant's name, got {variant!r}")
        if variant is not None and variant not in configs:
            raise self.error(f"{where}.variant", unknown_variant(variant, configs))
        targets = [variant] if variant is not None else list(configs)
        for v in targets:
            steps = as_written[v].train.steps
            if timing[0] == "at_step" and when > steps:
                raise self.error(f"{where}.at_step", f"expected a step <= train.steps ({steps}) of {v!r}")
            if timing[0] == "at_epoch" and when * _fewest_steps_per_epoch(as_written[v]) > steps:
                raise self.error(f"{where}.at_epoch", f"expected an epoch that starts by train.steps "
                                                      f"({steps}) of {v!r}, got {shown(when)}")
        raw_set = table.get("set", {})
        if not isinstance(raw_set, dict):
            raise self.error(f"{where}.set", 'expected an inline table, e.g. set = { "train.lr" = 0.1 }')
        changes = tuple(_flatten(raw_set))
        for key, value in changes:
            for v in targets:
                try:
                    with_value(configs[v], key, value)
                except ConfigError as err:
                    raise self.error(f"{where}.set.{err.key}", err.message) from None
            if key not in LIVE_KEYS:
                raise self.error(f"{where}.set.{key}", "cannot change during a run; make it a "
                                 f"[[variant]] instead (settable: {', '.join(sorted(LIVE_KEYS))})")
        say = self.text(table, "say", where=f"{where}.say", runs=list(configs))
        if not changes and not say:
            raise self.error(where, "expected 'set' and/or 'say' (an event must do something)")
        return Event(index=index, at_step=table.get("at_step"), at_epoch=table.get("at_epoch"),
                     variant=variant, set=changes, say=say)


def _fewest_steps_per_epoch(cfg: RunConfig) -> int:
    """Steps an epoch takes at least: exact for generated data, 1 when the data decides (a
    file, cleaning), so only an epoch that surely starts past the end is refused."""
    rows = training_rows_before_loading(cfg.data)
    if rows is None or cfg.train.batch_size == 0:
        return 1
    return -(-max(rows, 1) // min(cfg.train.batch_size, max(rows, 1)))


def expectation_keys(expectation: Expectation) -> str:
    """``key = value, ...``: the keys an expectation gives (defaults, ``id`` and ``because`` left out)."""
    return ", ".join(f"{f.name} = {toml_value(getattr(expectation, f.name))}" for f in fields(expectation)
                     if f.name not in COMMON_KEYS and getattr(expectation, f.name) != f.default)


def _flatten(table: dict, prefix: str = ""):
    """``{"train": {"lr": 1}}`` and ``{"train.lr": 1}`` both give ``("train.lr", 1)``."""
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from _flatten(value, dotted)
        else:
            yield dotted, value


def toml_value(value) -> str:
    """``value`` as TOML; a string's control characters escaped, so printing it is safe."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        quoted = json.dumps(value, ensure_ascii=False)     # JSON's escapes are TOML's
        return re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", quoted)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


# ----------------------------------------------------------------------------- reference

def reference_markdown() -> str:
    """The key reference of ``scenarios/README.md``, generated from ``config.KEYS``.

    Every key (with its default, meaning and choices) and every expectation kind (with its
    keys) appears; a test keeps the README equal to this.
    """
    lines = []
    for table in TABLES:
        lines += [f"### `[{table}]`", "", "| key | default | meaning |", "|---|---|---|"]
        for key in (k for k in KEYS.values() if k.name.startswith(f"{table}.")):
            meaning = key.meaning + (f"; one of {', '.join(key.choices)}" if key.choices else "")
            if key.most is not None:
                meaning += f"; {'each ' if isinstance(key.default, tuple) else ''}at most {key.most:,}"
            lines.append(f"| `{key.name}` | `{toml_value(key.default)}` | {_cell(meaning)} |")
        lines.append("")
    lines += ["Keys an `[[event]]` may `set` (the others define a different run): "
              + ", ".join(f"`{k}`" for k in sorted(LIVE_KEYS)) + ".", ""]
    lines += ["### `[[expect]]` kinds", "",
              "Every expectation has `kind`, an optional `id` (a name for `nnsim check`'s statistics "
              "and the lesson's placeholders; default its position, 1, 2, ...), an optional "
              "`because` (shown with the result) and an optional `control`: the settings that "
              "remove the effect it states, which the lesson must then fail (see Negative controls).",
              "`variant` may be left out when the scenario has a single run.", "",
              "| kind | keys (default) | passes when |", "|---|---|---|"]
    for kind, cls in KINDS.items():
        keys = ", ".join(f"`{name}`" + _default_note(name, required, default)
                         for name, required, default in cls.keys() if name not in COMMON_KEYS)
        lines.append(f"| `{kind}` | {keys} | {_cell(' '.join(inspect.getdoc(cls).split()))} |")
    return "\n".join(lines) + "\n"


def _default_note(name: str, required: bool, default) -> str:
    if required:
        return ""
    if name == "variant":
        return " (the only run)"
    if default is None or default == "":
        return " (optional)"
    return f" (`{toml_value(default)}`)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")

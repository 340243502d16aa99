"""The configuration of one training run: every key, its type and its default.

A run is configured by three tables, ``data``, ``model`` and ``train``, with the same
keys as a scenario file. Defaults live here and nowhere else; a scenario states only what
it changes. ``config_from_dict`` validates a nested dict and raises ``ConfigError`` naming
the dotted key, what was expected and, for a typo, the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
from dataclasses import dataclass, field, fields, replace
from typing import Any, get_args, get_origin, get_type_hints

PLANE_KINDS = (                                          # generated 2-D sets
    "circle", "xor", "gaussians", "spiral", "moons",     # two classes
    "blobs", "spirals",                                   # k classes
    "plane", "gaussian-sum",                              # regression
)
DATA_KINDS = (*PLANE_KINDS, "houses", "digits", "csv")
DERIVED_FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid")
INITS = ("zeros", "normal", "xavier", "he")
LOSSES = ("auto", "mse", "bce", "softmax")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")
CLEANINGS = ("none", "drop", "repair")
NORMALIZATIONS = ("none", "minmax", "zscore")
TASKS = ("auto", "binary", "multiclass", "regression")
L1_MODES = ("proximal", "subgradient")

# Bounds for a teaching tool: far past any lesson, short of what would hang or swamp a machine.
MAX_POINTS = 1_000_000         # data.n_points
MAX_NOISE = 10.0               # data.noise: at 10 the points are jittered 10x the shape's size
MAX_STEPS = 100_000_000        # train.steps: hours of training even for the smallest network
MAX_VARIANTS = 64              # [[variant]] tables in one scenario
MAX_WIDTH = 100_000            # units in a hidden layer: past what any machine's memory holds twice
MAX_CLASSES = 10               # data.classes
MAX_SEED = 10**18 - 1          # train.seed: any 18-digit number; with an offset, still an int64
SHOWN_CHARACTERS = 40          # a value quoted in an error is cut to about this length


class ConfigError(ValueError):
    """A configuration value is wrong. ``key`` is its dotted path, e.g. ``train.lr``."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


def setting(default, meaning: str, *, choices: tuple = (), live: bool = False,
            most: int | None = None):
    """A config field with its facts: the one-line ``meaning`` (the key reference in
    scenarios/README.md is built from it), its ``choices`` if it is one of a list, whether a
    running run accepts a change (``live``; anything else defines a different run), and for an
    integer (or a list of them) the ``most`` it may be. Every integer has such a bound: the
    kernels count in 64-bit integers, and a number of 300 digits is a typo, not a request."""
    return field(default=default, metadata={"meaning": meaning, "choices": choices, "live": live,
                                            "most": most})


@dataclass(frozen=True)
class DataConfig:
    kind: str = setting("spiral", "the data set (csv: your own file)", choices=DATA_KINDS)
    n_points: int = setting(500, "points generated (2-D and regression sets, houses)",
                            most=MAX_POINTS)
    noise: float = setting(0.1, "label/position noise of generated sets; 0 to 10")
    classes: int = setting(3, "blobs / spirals: number of classes", most=MAX_CLASSES)
    features: tuple[str, ...] = setting(("x1", "x2"), "2-D sets: inputs fed to the network; any of "
                                        + ", ".join(DERIVED_FEATURES))
    bad_fraction: float = setting(0.0, "houses: fraction of injected bad records")
    clean: str = setting("none", "what to do with bad records", choices=CLEANINGS)
    normalize: str = setting("none", "feature scaling, fitted on the training split only",
                             choices=NORMALIZATIONS)
    split: tuple[float, ...] = setting((0.7, 0.15, 0.15), "train / validation / test fractions")
    fresh_points: int = setting(0, "generated 2-D sets: a new sample of this many points from the "
                                   "same generator, never trained, validated or chosen on, scored "
                                   "once at the end (fresh_loss, fresh_acc); 0 = none",
                                most=MAX_POINTS)
    path: str = setting("", "csv: the file, relative to the scenario file")
    feature_columns: tuple[str, ...] = setting((), "csv: the input columns (empty: every column "
                                                   "but the target)")
    target_column: str = setting("", "csv: the column to predict")
    task: str = setting("auto", "csv: what the target is (auto: a target of at most 10 whole "
                                "numbers is a class label, anything else a regression)", choices=TASKS)


@dataclass(frozen=True)
class ModelConfig:
    layers: tuple[int, ...] = setting((8, 8), "hidden layer widths", most=MAX_WIDTH)
    activation: str = setting("tanh", "hidden activation", choices=ACTIVATIONS)
    init: str = setting("xavier", "initial weights", choices=INITS)
    init_std: float = setting(0.1, "normal init only: the standard deviation")
    residual: bool = setting(False, "skip connections between equal-width hidden layers")
    dropout: float = setting(0.0, "on hidden activations, training only", live=True)
    output_bias: float = setting(0.0, "initial output bias (e.g. -6 to start confidently wrong)")


@dataclass(frozen=True)
class TrainConfig:
    loss: str = setting("auto", "auto picks bce / softmax / mse from the data's task",
                        choices=LOSSES)
    optimizer: str = setting("adam", "the update rule", choices=OPTIMIZERS, live=True)
    lr: float = setting(0.01, "learning rate", live=True)
    momentum: float = setting(0.9, "momentum / nesterov", live=True)
    beta1: float = setting(0.9, "adam / adamw", live=True)
    beta2: float = setting(0.999, "adam / adamw / rmsprop decay", live=True)
    eps: float = setting(1e-8, "adam / adamw / rmsprop: added to the denominator", live=True)
    weight_decay: float = setting(0.0, "adamw: decoupled decay", live=True)
    l1: float = setting(0.0, "L1 penalty strength on the weights", live=True)
    l1_mode: str = setting("proximal", "proximal (soft threshold: exact zeros) or subgradient",
                           choices=L1_MODES, live=True)
    l2: float = setting(0.0, "L2 penalty strength on the weights", live=True)
    batch_size: int = setting(32, "rows per step; 0 = full batch", most=MAX_POINTS)
    steps: int = setting(2000, "the run ends here", live=True, most=MAX_STEPS)
    clip_norm: float = setting(0.0, "clip gradients to this global L2 norm; 0 = off", live=True)
    schedule: str = setting("constant", "learning-rate schedule", choices=SCHEDULES, live=True)
    schedule_step: int = setting(1000, "step schedule: multiply by gamma every this many steps",
                                 live=True, most=MAX_STEPS)
    schedule_gamma: float = setting(0.5, "step schedule: the factor", live=True)
    plateau_patience: int = setting(0, "reduce-on-plateau: checks without improvement; 0 = off",
                                    live=True, most=MAX_STEPS)
    plateau_factor: float = setting(0.5, "reduce-on-plateau: multiply the learning rate by this",
                                    live=True)
    early_stopping: int = setting(0, "patience in checks (of eval_every steps); 0 = off", live=True,
                                  most=MAX_STEPS)
    restore_best: bool = setting(True, "early stopping: go back to the weights of the best check",
                                 live=True)
    eval_every: int = setting(10, "steps between validation checks (and history points)",
                              most=MAX_STEPS)
    seed: int = setting(0, "initial weights, data order, dropout masks (`--seed` replaces it)",
                        most=MAX_SEED)
    divergence_factor: float = setting(1e6, "loss above this multiple of the first loss counts as "
                                            "diverged", live=True)


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


TABLES = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass(frozen=True)
class Key:
    """Everything known about one dotted key, e.g. ``train.lr``."""

    name: str
    type: Any
    default: Any
    meaning: str
    choices: tuple
    live: bool
    most: int | None           # the largest value of an integer key (of each item, for a list)


def _keys() -> dict[str, Key]:
    keys = {}
    for table, cls in TABLES.items():
        hints = get_type_hints(cls)
        for f in fields(cls):
            name = f"{table}.{f.name}"
            keys[name] = Key(name, hints[f.name], f.default, f.metadata["meaning"],
                             f.metadata["choices"], f.metadata["live"], f.metadata["most"])
    return keys


KEYS = _keys()
LIVE_KEYS = frozenset(name for name, key in KEYS.items() if key.live)


def did_you_mean(name: str, candidates) -> str:
    """`` (did you mean 'x'?)`` when ``name`` looks like a typo of one of ``candidates``, else ``""``."""
    matches = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def unknown_key_error(key: str, candidates) -> ConfigError:
    """``candidates`` are names within one table, or dotted keys (then ``key`` is matched whole)."""
    dotted = all("." in c for c in candidates)
    hint = did_you_mean(key if dotted else key.rsplit(".", 1)[-1], candidates)
    shown = key if key.isprintable() else ascii(key)     # a control character shows as \x1b
    return ConfigError(shown, f"unknown key{hint}; valid keys: {', '.join(sorted(candidates))}")


def _type_name(tp) -> str:
    origin = get_origin(tp)
    if origin is tuple:
        return f"a list of {_type_name(get_args(tp)[0])}"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def shown(value: Any) -> str:
    """``value`` as an error quotes it: an integer of 300 digits as its size, a long text cut,
    so the one line of an error stays readable."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**SHOWN_CHARACTERS:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS - 1] + "…"


def coerce(key: str, tp, value: Any) -> Any:
    """Check ``value`` against the field type ``tp``; return it in canonical form."""
    origin = get_origin(tp)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected {_type_name(tp)}, got {shown(value)}")
        item_tp = get_args(tp)[0]
        return tuple(coerce(f"{key}[{i}]", item_tp, v) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {shown(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {shown(value)}")
        too_big = isinstance(value, int) and abs(value) > sys.float_info.max   # 309+ digits
        if too_big or not math.isfinite(value):
            raise ConfigError(key, f"expected a finite number, got {shown(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {shown(value)}")
        return value
    raise TypeError(tp)


def _check_ranges(cfg: RunConfig) -> None:
    """Values that type-check but cannot make a run."""

    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            raise ConfigError(key, f"expected {expected}, got {shown(get_value(cfg, key))}")

    for key in KEYS.values():
        value = get_value(cfg, key.name)
        if key.choices and value not in key.choices:
            raise ConfigError(key.name, f"expected one of {', '.join(key.choices)}, got {shown(value)}"
                                        f"{did_you_mean(value, key.choices)}")
        largest = max(value, default=0) if isinstance(value, tuple) else value
        if key.most is not None and largest > key.most:
            raise ConfigError(key.name, f"expected at most {key.most:,}, got {shown(largest)}")
    d, m, t = cfg.data, cfg.model, cfg.train
    need(d.n_points >= 10, "data.n_points", f"from 10 to {MAX_POINTS:,}")
    need(0 <= d.noise <= MAX_NOISE, "data.noise", f"a number from 0 to {MAX_NOISE:g}")
    need(d.classes >= 2, "data.classes", f"an integer from 2 to {MAX_CLASSES}")
    need(0 <= d.bad_fraction < 1, "data.bad_fraction", "a fraction in [0, 1)")
    need(len(d.features) > 0, "data.features", "at least one feature")
    for f in d.features:
        if f not in DERIVED_FEATURES:
            raise ConfigError("data.features", f"unknown feature {shown(f)}{did_you_mean(f, DERIVED_FEATURES)}; "
                              f"expected some of {', '.join(DERIVED_FEATURES)}")
    for key in ("data.features", "data.feature_columns"):
        _each_once(key, get_value(cfg, key))
    need(len(d.split) == 3 and all(s >= 0 for s in d.split) and abs(sum(d.split) - 1) < 1e-9
         and d.split[0] > 0 and d.split[1] > 0,
         "data.split", "three fractions (train, validation, test) that sum to 1, train and validation > 0")
    need(d.fresh_points >= 0 and (d.fresh_points == 0 or d.kind in PLANE_KINDS), "data.fresh_points",
         "0 (none), or a number of points for a generated 2-D set (one of "
         f"{', '.join(PLANE_KINDS)}), whose generator can draw them")
    if d.kind == "csv":
        need(d.path != "", "data.path", "the path of a CSV file")
        need(d.target_column != "", "data.target_column", "the name of the target column")
    need(all(w >= 1 for w in m.layers), "model.layers", "a list of positive layer widths")
    need(len(m.layers) <= 64, "model.layers", "at most 64 hidden layers")
    need(m.init_std > 0, "model.init_std", "a number > 0")
    need(0 <= m.dropout < 1, "model.dropout", "a rate in [0, 1)")
    need(t.lr > 0, "train.lr", "a learning rate > 0")
    need(0 <= t.momentum < 1, "train.momentum", "a number in [0, 1)")
    need(0 <= t.beta1 < 1, "train.beta1", "a number in [0, 1)")
    need(0 <= t.beta2 < 1, "train.beta2", "a number in [0, 1)")
    need(t.eps > 0, "train.eps", "a number > 0")
    need(t.weight_decay >= 0, "train.weight_decay", "a number >= 0")
    need(t.l1 >= 0, "train.l1", "a number >= 0")
    need(t.l2 >= 0, "train.l2", "a number >= 0")
    need(t.batch_size >= 0, "train.batch_size", "a batch size >= 1, or 0 for the full batch")
    need(t.steps >= 1, "train.steps", f"from 1 to {MAX_STEPS:,} steps")
    need(t.clip_norm >= 0, "train.clip_norm", "a norm >= 0 (0 = off)")
    need(t.schedule_step >= 1, "train.schedule_step", "at least 1 step")
    need(0 < t.schedule_gamma <= 1, "train.schedule_gamma", "a factor in (0, 1]")
    need(t.plateau_patience >= 0, "train.plateau_patience", "an integer >= 0 (0 = off)")
    need(0 < t.plateau_factor < 1, "train.plateau_factor", "a factor in (0, 1)")
    need(t.early_stopping >= 0, "train.early_stopping", "a patience >= 0 (0 = off)")
    need(t.eval_every >= 1, "train.eval_every", "at least 1 step")
    need(t.seed >= 0, "train.seed", "a seed >= 0")
    need(t.divergence_factor > 1, "train.divergence_factor", "a number > 1")


def _each_once(key: str, names: tuple[str, ...]) -> None:
    """A list of inputs names each once: a feature given twice is one input fed twice, which no
    lesson means and which would hide a typo in the other name."""
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(key, f"expected each name once, got {shown(name)} twice")


def table_from_dict(table: str, values: dict, base=None):
    """One table (``data``, ``model`` or ``train``) from a dict, over ``base`` or the defaults."""
    cls = TABLES[table]
    if not isinstance(values, dict):
        raise ConfigError(table, f"expected a table, got {values!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    changes = {}
    for name, value in values.items():
        if name not in hints:
            raise unknown_key_error(f"{table}.{name}", names)
        changes[name] = coerce(f"{table}.{name}", hints[name], value)
    return replace(base if base is not None else cls(), **changes)


def config_from_dict(values: dict | RunConfig, base: RunConfig | None = None) -> RunConfig:
    """Validate a nested dict of tables into a ``RunConfig`` (over ``base`` or the defaults)."""
    if isinstance(values, RunConfig):
        cfg = values
    else:
        if not isinstance(values, dict):
            raise ConfigError("", f"expected a dict of tables {', '.join(TABLES)}, got {values!r}")
        cfg = base if base is not None else RunConfig()
        for table, table_values in values.items():
            if table not in TABLES:
                raise unknown_key_error(table, TABLES)
            cfg = replace(cfg, **{table: table_from_dict(table, table_values, getattr(cfg, table))})
    _check_ranges(cfg)
    return cfg


def config_to_dict(cfg: RunConfig) -> dict:
    """The nested dict form (lists for tuples), as a scenario file would state it in full."""

    def plain(v):
        return list(v) if isinstance(v, tuple) else v

    return {t: {k: plain(v) for k, v in dataclasses.asdict(getattr(cfg, t)).items()} for t in TABLES}


def get_value(cfg: RunConfig, key: str) -> Any:
    """The value of one dotted key (``train.lr``) in ``cfg``."""
    if key not in KEYS:
        raise unknown_key_error(key, KEYS)
    table, _, name = key.partition(".")
    return getattr(getattr(cfg, table), name)


def with_value(cfg: RunConfig, key: str, value: Any) -> RunConfig:
    """``cfg`` with one dotted key (``train.lr``) changed, validated."""
    return with_values(cfg, ((key, value),))


def with_values(cfg: RunConfig, changes) -> RunConfig:
    """``cfg`` with several ``(dotted key, value)`` changes at once, validated together
    (``data.kind = "csv"`` needs its ``data.path`` in the same change)."""
    nested: dict[str, dict] = {}
    for key, value in changes:
        if key not in KEYS:
            raise unknown_key_error(key, KEYS)
        table, _, name = key.partition(".")
        nested.setdefault(table, {})[name] = value
    return config_from_dict(nested, base=cfg)

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
from dataclasses import dataclass, field, fields, replace
from typing import Any, get_args, get_origin, get_type_hints

DATA_KINDS = (
    "circle", "xor", "gaussians", "spiral", "moons",     # 2-D, two classes
    "blobs", "spirals",                                   # 2-D, k classes
    "plane", "gaussian-sum",                              # 2-D regression
    "houses", "digits", "csv",
)
DERIVED_FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid")
INITS = ("zeros", "normal", "xavier", "he")
LOSSES = ("auto", "mse", "bce", "softmax")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")


class ConfigError(ValueError):
    """A configuration value is wrong. ``key`` is its dotted path, e.g. ``train.lr``."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


@dataclass(frozen=True)
class DataConfig:
    kind: str = "spiral"
    n_points: int = 500            # points generated (2-D and regression sets, houses)
    noise: float = 0.1             # label/position noise of generated sets
    classes: int = 3               # blobs / spirals: number of classes
    features: tuple[str, ...] = ("x1", "x2")   # 2-D sets: inputs fed to the network
    bad_fraction: float = 0.0      # houses: fraction of injected bad records
    clean: str = "none"            # none | drop | repair
    normalize: str = "none"        # none | minmax | zscore  (fitted on train only)
    split: tuple[float, ...] = (0.7, 0.15, 0.15)   # train / validation / test
    path: str = ""                 # csv: file, relative to the scenario file
    feature_columns: tuple[str, ...] = ()
    target_column: str = ""
    task: str = "auto"             # csv: auto | binary | multiclass | regression


@dataclass(frozen=True)
class ModelConfig:
    layers: tuple[int, ...] = (8, 8)   # hidden layer widths
    activation: str = "tanh"           # hidden activation
    init: str = "xavier"               # zeros | normal | xavier | he
    init_std: float = 0.1              # normal init only
    residual: bool = False             # skip connections between equal-width hidden layers
    dropout: float = 0.0               # on hidden activations, training only
    output_bias: float = 0.0           # initial output bias (e.g. -6 to start confidently wrong)


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "auto"                 # auto picks bce / softmax / mse from the data's task
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.9              # momentum / nesterov
    beta1: float = 0.9                 # adam / adamw
    beta2: float = 0.999               # adam / adamw / rmsprop decay
    eps: float = 1e-8
    weight_decay: float = 0.0          # adamw: decoupled decay
    l1: float = 0.0
    l1_mode: str = "proximal"          # proximal (soft threshold: exact zeros) | subgradient
    l2: float = 0.0
    batch_size: int = 32               # 0 = full batch
    steps: int = 2000                  # the run ends here
    clip_norm: float = 0.0             # clip gradients to this global L2 norm; 0 = off
    schedule: str = "constant"
    schedule_step: int = 1000          # step schedule: multiply by gamma every this many steps
    schedule_gamma: float = 0.5
    plateau_patience: int = 0          # reduce-on-plateau: checks without improvement; 0 = off
    plateau_factor: float = 0.5
    early_stopping: int = 0            # patience in checks (of eval_every steps); 0 = off
    restore_best: bool = True
    eval_every: int = 10               # steps between validation checks (and history points)
    seed: int = 0
    divergence_factor: float = 1e6     # loss above this multiple of the first loss counts as diverged


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


TABLES = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}

_CHOICES = {
    "data.kind": DATA_KINDS,
    "data.clean": ("none", "drop", "repair"),
    "data.normalize": ("none", "minmax", "zscore"),
    "data.task": ("auto", "binary", "multiclass", "regression"),
    "model.activation": ACTIVATIONS,
    "model.init": INITS,
    "train.loss": LOSSES,
    "train.optimizer": OPTIMIZERS,
    "train.schedule": SCHEDULES,
    "train.l1_mode": ("proximal", "subgradient"),
}


def nearest(name: str, candidates) -> str | None:
    """The closest valid spelling of ``name``, if one is close enough to be a typo."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_key_error(key: str, candidates) -> ConfigError:
    suggestion = nearest(key.rsplit(".", 1)[-1], candidates)
    hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
    return ConfigError(key, f"unknown key{hint}; valid keys: {', '.join(sorted(candidates))}")


def _type_name(tp) -> str:
    origin = get_origin(tp)
    if origin is tuple:
        return f"a list of {_type_name(get_args(tp)[0])}"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def coerce(key: str, tp, value: Any) -> Any:
    """Check ``value`` against the field type ``tp``; return it in canonical form."""
    origin = get_origin(tp)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected {_type_name(tp)}, got {value!r}")
        item_tp = get_args(tp)[0]
        return tuple(coerce(f"{key}[{i}]", item_tp, v) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(key, f"expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}")
        return value
    raise TypeError(tp)


def _check_ranges(cfg: RunConfig) -> None:
    """Values that type-check but cannot make a run."""

    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            table, name = key.split(".")
            value = getattr(getattr(cfg, table), name)
            raise ConfigError(key, f"expected {expected}, got {value!r}")

    for key, choices in _CHOICES.items():
        table, name = key.split(".")
        value = getattr(getattr(cfg, table), name)
        if value not in choices:
            suggestion = nearest(value, choices)
            hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
            raise ConfigError(key, f"expected one of {', '.join(choices)}, got {value!r}{hint}")
    d, m, t = cfg.data, cfg.model, cfg.train
    need(d.n_points >= 10, "data.n_points", "at least 10")
    need(d.noise >= 0, "data.noise", "a number >= 0")
    need(2 <= d.classes <= 10, "data.classes", "an integer from 2 to 10")
    need(0 <= d.bad_fraction < 1, "data.bad_fraction", "a fraction in [0, 1)")
    need(len(d.features) > 0, "data.features", "at least one feature")
    for f in d.features:
        if f not in DERIVED_FEATURES:
            suggestion = nearest(f, DERIVED_FEATURES)
            hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
            raise ConfigError("data.features", f"unknown feature {f!r}{hint}; "
                              f"expected some of {', '.join(DERIVED_FEATURES)}")
    need(len(d.split) == 3 and all(s >= 0 for s in d.split) and abs(sum(d.split) - 1) < 1e-9
         and d.split[0] > 0 and d.split[1] > 0,
         "data.split", "three fractions (train, validation, test) that sum to 1, train and validation > 0")
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
    need(t.steps >= 1, "train.steps", "at least 1 step")
    need(t.clip_norm >= 0, "train.clip_norm", "a norm >= 0 (0 = off)")
    need(t.schedule_step >= 1, "train.schedule_step", "at least 1 step")
    need(0 < t.schedule_gamma <= 1, "train.schedule_gamma", "a factor in (0, 1]")
    need(t.plateau_patience >= 0, "train.plateau_patience", "an integer >= 0 (0 = off)")
    need(0 < t.plateau_factor < 1, "train.plateau_factor", "a factor in (0, 1)")
    need(t.early_stopping >= 0, "train.early_stopping", "a patience >= 0 (0 = off)")
    need(t.eval_every >= 1, "train.eval_every", "at least 1 step")
    need(t.seed >= 0, "train.seed", "a seed >= 0")
    need(t.divergence_factor > 1, "train.divergence_factor", "a number > 1")


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


def with_value(cfg: RunConfig, key: str, value: Any) -> RunConfig:
    """``cfg`` with one dotted key (``train.lr``) changed, validated."""
    table, _, name = key.partition(".")
    if table not in TABLES or not name:
        raise unknown_key_error(key, [f"{t}.{f.name}" for t, c in TABLES.items() for f in fields(c)])
    return config_from_dict({table: {name: value}}, base=cfg)

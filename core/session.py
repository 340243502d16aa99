"""What the learner is running: the runs of one experiment made from a lesson.

A session starts from a lesson as it loaded and trains its runs. Every change the learner makes
goes through it: a change a running run accepts (``LIVE_KEYS``: the rate, the optimizer,
dropout…) applies at the next step; any other starts the runs again from step 0, and the runs it
replaced stay as past runs to compare with. The session keeps what the experiment is, each run's
settings at step 0 and the live changes since (``Experiment``, what ``w`` writes), and from that
how it differs from the lesson (``Experiment.changes``): from the first change, the lesson's words
no longer speak for what runs. Three ways back, each named in the dashboard's help:

- ``reset``: the runs from step 0, the learner's settings kept (the script's changes undone: its
  events fire again);
- ``restore``: the same, with every live setting back to the lesson's (the data and network
  kept);
- ``back_to_lesson``: the lesson exactly as it loaded, from step 0.

Plain Python: the dashboard's worker carries a session on its thread, and tests drive one
directly. Nothing here knows about time; when steps run is the worker's business.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from .config import LIVE_KEYS, OPTIMIZERS, ConfigError, RunConfig, get_value, with_value, with_values
from .experiment import Edit, Experiment, describe_change, restarted, split_changes
from .scenario import Scenario
from .snapshot import History

if TYPE_CHECKING:       # the driver loads Numba: the dashboard shows its first frame before
    from .driver import Fired, ScriptedRun
    from .snapshot import History

DEFAULT_DROPOUT = 0.5       # what toggling dropout switches on when the lesson had none
PAST_RUNS = 4               # runs replaced by a change that stay on the loss plot


class Note(NamedTuple):
    """Something the learner is told about a change (a refusal is an ``error``)."""

    text: str
    severity: str = "information"


@dataclass(frozen=True, eq=False)
class PastRun:
    """The runs a change replaced, kept to compare with (the loss pane draws them faded)."""

    change: str                         # what the change was, e.g. "layers 8,8 → 16,16"
    histories: tuple[History, ...]      # one per variant
    steps_per_epoch: tuple[int, ...]


class Session:
    """The runs of one experiment, the changes that made it, and the way back to the lesson.

    ``lesson`` is the lesson as it loaded (with ``--seed``, without ``--set``); ``scenario`` what
    the runs start from (with ``--set``: already the learner's experiment). ``open_ended``: train
    on past ``train.steps`` (the playground).
    """

    def __init__(self, lesson: Scenario, scenario: Scenario | None = None, *,
                 open_ended: bool = False) -> None:
        self.lesson = lesson
        self.open_ended = open_ended
        self.past: deque[PastRun] = deque(maxlen=PAST_RUNS)
        self.runs: list[ScriptedRun] = []
        self.notes: list[Note] = []             # said by the last change that built runs
        self._saved_dropout: dict[int, float] = {}
        self._install(scenario or lesson)

    # ------------------------------------------------------------------ what the experiment is

    @property
    def experiment(self) -> Experiment:
        """The runs' settings at step 0 and the live changes since, against the lesson."""
        if self._experiment is None:
            self._experiment = Experiment(restarted(self.scenario, self._start),
                                          tuple(self._edits), self.lesson)
        return self._experiment

    @property
    def is_lesson(self) -> bool:
        """Nothing the lesson's words depend on has changed: its narration and checks speak."""
        return self.experiment.is_lesson

    def settings(self) -> tuple[RunConfig, ...]:
        """Each run's settings as the learner made them: its settings at step 0 with the live
        changes since (and not the script's: a scripted change is the lesson's, made again when
        the script plays again)."""
        settings = list(self._start)
        names = [run.name for run in self.runs]
        for edit in self._edits:
            index = names.index(edit.variant)
            settings[index] = with_value(settings[index], edit.key, edit.value)
        return tuple(settings)

    # ------------------------------------------------------------------ the script

    def histories(self) -> dict[str, History]:
        """Every run's checks so far, by name: what a narration line quotes as it is told."""
        return {run.name: run.run.history for run in self.runs}

    def fire_due(self) -> list[Fired]:
        """Fire every run's due events (their changes apply whoever made the experiment); the
        ones to tell, each once."""
        told = []
        for run in self.runs:
            fired_here = run.fire_due()
            if any(fired.event.set for fired in fired_here):
                run.refresh()   # the screen shows the setting the next step uses, as narrated
            told += [fired for fired in fired_here if fired.tell]
        return told

    # ------------------------------------------------------------------ live changes

    def set_everywhere(self, key: str, value_of: Callable[[RunConfig], Any]) -> list[Note]:
        """Every run's ``key`` to ``value_of`` its settings, from the next step; a refusal said
        (and the runs before it keep the change, as each run took it)."""
        for run in self.runs:
            try:
                self._set(run, key, value_of(run.run.config))
            except ConfigError as err:
                return [Note(f"{run.name}: {err}", "error")]
        return []

    def set_in_run(self, index: int, changes: tuple[tuple[str, Any], ...]) -> list[Note]:
        """Live settings of run ``index`` alone, from its next step (the range test's rate goes
        to the run it was measured on, so a lesson's comparison keeps its other runs); said at
        once. A key no running run accepts is refused, and nothing changes."""
        run = self.runs[index]
        live, defining = split_changes(changes)
        if defining:
            return [Note(f"{defining[0][0]}: cannot change in one run alone (it defines a "
                         "different run)", "error")]
        try:
            with_values(run.run.config, live)
        except ConfigError as err:
            return [Note(f"{run.name}: {err}", "error")]
        for key, value in live:
            self._set(run, key, value)
        return [Note(", ".join(f"{key} = {get_value(run.run.config, key):.3g}" for key, _ in live)
                     + f" for {run.name} only")]

    def scale(self, key: str, factor: float) -> list[Note]:
        """``key`` times ``factor`` in every run (the rate's ``+`` and ``-``); said at once, as
        set: at 80 columns the status line may have no room for it."""
        refused = self.set_everywhere(key, lambda cfg: get_value(cfg, key) * factor)
        if refused:
            return refused
        name = "learning rate" if key == "train.lr" else key
        values = ", ".join(f"{get_value(run.run.config, key):.3g}" for run in self.runs)
        every = " for every run" if len(self.runs) > 1 else ""
        scaled = f"×{factor:g}" if factor >= 1 else f"÷{1 / factor:g}"
        return [Note(f"{name} {scaled}{every}: {values}")]

    def next_optimizer(self) -> list[Note]:
        """Every run on to the optimizer after the first run's, in ``OPTIMIZERS`` order."""
        current = self.runs[0].run.config.train.optimizer
        following = OPTIMIZERS[(OPTIMIZERS.index(current) + 1) % len(OPTIMIZERS)]
        return self.set_everywhere("train.optimizer", lambda cfg: following)

    def toggle_dropout(self) -> list[Note]:
        """Dropout off (remembering each run's rate), or back on at the rates it had: a run
        without dropout, a lesson's control, stays without. With none remembered, every run
        gets ``DEFAULT_DROPOUT``."""
        if all(len(run.run.config.model.layers) == 0 for run in self.runs):
            return [Note("dropout needs a hidden layer", "warning")]
        if any(run.run.config.model.dropout > 0 for run in self.runs):
            self._saved_dropout = {i: run.run.config.model.dropout
                                   for i, run in enumerate(self.runs)}
            for run in self.runs:
                self._set(run, "model.dropout", 0.0)
        else:
            saved, self._saved_dropout = self._saved_dropout, {}
            for i, run in enumerate(self.runs):
                self._set(run, "model.dropout", saved.get(i, 0.0) if saved else DEFAULT_DROPOUT)
        return []

    def _set(self, run: ScriptedRun, key: str, value: Any) -> None:
        """A live change to one run: made at step 0 it is part of the run's settings, later an
        edit at the step it was made (``nnsim run`` of the written file makes it there too)."""
        before = get_value(run.run.config, key)
        if value == before:
            return          # no change, and none to record ("dropout 0 → 0")
        run.run.set(key, value)
        index = self.runs.index(run)
        if run.step == 0:
            self._start = tuple(with_value(cfg, key, value) if i == index else cfg
                                for i, cfg in enumerate(self._start))
        else:
            self._edits.append(Edit(run.step, run.name, key, get_value(run.run.config, key), before,
                                    ended=not run.active))
        self._experiment = None
        run.refresh()       # paused, the screen would show the old value until the next step

    # ------------------------------------------------------------------ changes that restart

    def configure(self, changes: tuple[tuple[str, Any], ...]) -> list[Note]:
        """The controls' change: live keys at the next step; any other key starts new runs from
        step 0 with the learner's settings and the change, and the replaced runs become a past
        run. A change no run can take is refused, and nothing changes."""
        live, defining = split_changes(changes)
        if not defining:
            notes = []
            for key, value in live:
                notes += self.set_everywhere(key, lambda cfg: value)
            return notes
        try:
            configs = tuple(with_values(cfg, [
                (key, value + variant.seed_offset if key == "train.seed" else value)
                for key, value in changes]) for cfg, variant in zip(self.settings(), self.scenario.variants))
        except ConfigError as err:
            return [Note(str(err), "error")]
        return self._replace(restarted(self.scenario, configs),
                             describe_change(self.runs[0].run.config, configs[0]))

    def back_to_lesson(self) -> list[Note]:
        """The lesson exactly as it loaded (data, network, training, variants, seed), from step 0;
        the experiment's runs stay on the loss plot as a past run."""
        return self._replace(self.lesson, "back to the lesson")

    def _replace(self, scenario: Scenario, change: str) -> list[Note]:
        past = PastRun(change, tuple(run.snapshot.history for run in self.runs),
                       tuple(run.run.steps_per_epoch for run in self.runs))
        try:
            self._install(scenario)
        except ConfigError as err:      # a data file that does not load, a network too big
            return [Note(str(err), "error")]
        self.past.append(past)
        return list(self.notes)

    def _install(self, scenario: Scenario) -> None:
        """New runs of ``scenario`` take over, from step 0 (the old ones stay if they fail)."""
        from .driver import ScriptedRun

        runs = ScriptedRun.build(scenario, open_ended=self.open_ended)
        self.scenario = scenario
        self.runs = runs
        self._start = tuple(variant.config for variant in scenario.variants)
        self._edits: list[Edit] = []
        self._experiment: Experiment | None = None
        self._saved_dropout.clear()
        self.notes = [Note(note, "warning") for note in
                      dict.fromkeys(note for run in runs for note in run.run.dataset.notes)]

    # ------------------------------------------------------------------ back to step 0

    def reset(self) -> None:
        """Every run from step 0 and its initial weights, with the learner's settings (live
        changes included, the script's undone: the script plays again)."""
        self._start_over(self.settings())

    def restore(self) -> None:
        """As ``reset``, with every live setting (rate, optimizer, dropout…) back to the
        lesson's, the data and network kept: after ``+`` has driven the rate to 1e308, a reset
        alone would diverge again at once."""
        lesson = {variant.name: variant.config for variant in self.lesson.variants}
        settings = []
        for run, cfg in zip(self.runs, self.settings()):
            reference = lesson.get(run.name, self.lesson.variants[0].config)
            settings.append(with_values(cfg, [(key, get_value(reference, key))
                                              for key in sorted(LIVE_KEYS)]))
        self._saved_dropout.clear()
        self._start_over(tuple(settings))

    def _start_over(self, settings: tuple[RunConfig, ...]) -> None:
        for run, cfg in zip(self.runs, settings):
            run.reset()
            for key in sorted(LIVE_KEYS):
                if get_value(run.run.config, key) != get_value(cfg, key):
                    run.run.set(key, get_value(cfg, key))
            run.refresh()
        if self.runs:
            self.runs[0].told.clear()
        self._start = tuple(settings)
        self._edits = []
        self._experiment = None

"""The session in plain Python: every kind of change, the record of how the experiment differs
from the lesson, the three ways back, the file ``w`` writes, and what the lesson may still say
(narration, checks) once the runs are not its own. No Textual here: a session is driven directly."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import LESSON
from nnsim.core import paths
from nnsim.core.config import OPTIMIZERS, config_from_dict, get_value
from nnsim.core.driver import ScriptedRun, play
from nnsim.core.experiment import Change, describe_change, free_path, scenario_toml
from nnsim.core.report import metrics_csv
from nnsim.core.scenario import load_scenario
from nnsim.core.session import DEFAULT_DROPOUT, Note, Session
from nnsim.tui.frame import FrameBuilder
from nnsim.tui.messages import Narration, Notice
from nnsim.tui.requests import BackToLesson, Configure, Resume, ScaleSetting
from nnsim.tui.worker import Trainer

SINGLE = """
title = "One run"
lesson = "A small network on the spiral."

[data]
n_points = 120

[model]
layers = [6]

[train]
steps = 60
eval_every = 10

[[event]]
at_step = 20
set = { "train.lr" = 0.05 }
say = "The rate goes up at step 20."

[[expect]]
kind = "no_divergence"
"""


def lesson_at(tmp_path: Path, text: str = SINGLE, **kwargs):
    path = tmp_path / "lesson.toml"
    path.write_text(text)
    return load_scenario(str(path), **kwargs)


def advance(session: Session, steps: int) -> None:
    """Every run ``steps`` on, its script fired on the way, as the driver plays it."""
    target = session.runs[0].step + steps
    session.fire_due()
    while session.runs[0].step < target:
        for run in session.runs:
            run.advance(target - run.step)
        session.fire_due()


def test_a_fresh_session_is_the_lesson(tmp_path):
    session = Session(lesson_at(tmp_path))
    assert session.is_lesson and session.experiment.changes == ()


def test_a_live_change_is_recorded_at_its_step_against_the_lesson(tmp_path):
    session = Session(lesson_at(tmp_path))
    advance(session, 10)
    session.scale("train.lr", 2.0)
    (change,) = session.experiment.changes
    assert (change.key, change.variant, change.before, change.after, change.step) == \
        ("train.lr", None, 0.01, 0.02, 10)
    assert not session.is_lesson
    assert session.experiment.describe() == "learning rate 0.01 → 0.02 at step 10"


def test_a_change_taken_back_is_still_a_change(tmp_path):
    """The run took steps the lesson never took: its checks were not written for them."""
    session = Session(lesson_at(tmp_path))
    advance(session, 10)
    session.scale("train.lr", 2.0)
    advance(session, 5)
    session.scale("train.lr", 0.5)
    (change,) = session.experiment.changes
    assert change.before == change.after == 0.01 and not session.is_lesson
    assert str(change) == "learning rate 0.01 → 0.01 at step 10 (changed, then set back)"


@pytest.mark.parametrize("request_, neutral", [
    ((("train.seed", 7),), True),                  # the lesson holds on any seed
    ((("data.kind", "circle"),), False),
    ((("model.layers", (4, 4)),), False),
    ((("model.activation", "relu"),), False),
    ((("train.batch_size", 16),), False),
])
def test_a_change_that_defines_new_runs_restarts_them_and_keeps_the_old(tmp_path, request_, neutral):
    session = Session(lesson_at(tmp_path))
    advance(session, 30)
    old = session.runs
    assert session.configure(request_) == []
    assert session.runs is not old and session.runs[0].step == 0
    assert len(session.past) == 1 and session.past[0].histories[0] is old[0].snapshot.history
    key, value = request_[0]
    assert get_value(session.runs[0].run.config, key) == value
    assert session.is_lesson is neutral
    assert [c.key for c in session.experiment.changes] == [key]


def test_a_restart_keeps_the_learners_live_changes_and_not_the_scripts(tmp_path):
    """The event set the rate to 0.05 at step 20; the learner chose momentum at 30. New runs
    start with momentum and the lesson's rate (the script will raise it again at step 20)."""
    session = Session(lesson_at(tmp_path))
    advance(session, 30)
    session.set_everywhere("train.optimizer", lambda cfg: "momentum")
    session.configure((("model.layers", (5,)),))
    cfg = session.runs[0].run.config
    assert (cfg.train.optimizer, cfg.train.lr, cfg.model.layers) == ("momentum", 0.01, (5,))
    assert {c.key: c.step for c in session.experiment.changes} == \
        {"model.layers": 0, "train.optimizer": 0}


def test_reset_keeps_the_learners_settings_and_plays_the_script_again(tmp_path):
    session = Session(lesson_at(tmp_path))
    advance(session, 30)                    # the event has set the rate to 0.05
    session.set_everywhere("train.optimizer", lambda cfg: "sgd")
    session.reset()
    run = session.runs[0]
    assert run.step == 0 and run.run.config.train.optimizer == "sgd"
    assert run.run.config.train.lr == 0.01  # the script's change undone, to be made again
    assert [(c.key, c.step) for c in session.experiment.changes] == [("train.optimizer", 0)]


def test_restore_undoes_the_live_changes_and_keeps_data_and_network(tmp_path):
    session = Session(lesson_at(tmp_path))
    session.scale("train.lr", 2.0)          # at step 0: the runs' own setting
    session.configure((("data.kind", "circle"),))
    advance(session, 10)
    session.scale("train.lr", 4.0)
    session.reset()                         # keeps them
    assert session.runs[0].run.config.train.lr == 0.08
    session.restore()
    cfg = session.runs[0].run.config
    assert (cfg.data.kind, cfg.train.lr, session.runs[0].step) == ("circle", 0.01, 0)
    assert [c.key for c in session.experiment.changes] == ["data.kind"]


def test_back_to_the_lesson_is_the_lesson_exactly_as_it_loaded(tmp_path, assert_identical):
    lesson = lesson_at(tmp_path, seed=3)
    session = Session(lesson)
    advance(session, 30)
    session.configure((("data.kind", "xor"), ("train.seed", 9)))
    advance(session, 10)
    session.scale("train.lr", 2.0)
    session.back_to_lesson()
    assert session.is_lesson and session.experiment.changes == ()
    assert session.runs[0].run.config == lesson.variants[0].config
    assert session.past[-1].change == "back to the lesson"
    fresh = Session(lesson)
    advance(session, 40)
    advance(fresh, 40)
    assert_identical(session.runs[0].snapshot.history, fresh.runs[0].snapshot.history)


def test_set_at_start_is_already_an_experiment_and_b_undoes_it(tmp_path):
    lesson = lesson_at(tmp_path)
    with_set = lesson_at(tmp_path, overrides=(("train.lr", 0.1),))
    session = Session(lesson, with_set)
    assert not session.is_lesson
    assert session.experiment.describe() == "learning rate 0.01 → 0.1"
    session.back_to_lesson()
    assert session.is_lesson and session.runs[0].run.config.train.lr == 0.01


def test_a_refused_change_changes_nothing(tmp_path):
    session = Session(lesson_at(tmp_path))
    runs = session.runs
    (note,) = session.configure((("data.kind", "csv"),))        # a csv needs its file
    assert note.severity == "error" and "data" in note.text
    assert session.runs is runs and session.is_lesson and not session.past


def test_a_live_value_one_run_refuses_is_said_as_that_runs_error(tmp_path):
    """Each run takes a live change in turn: the runs before the one that refuses keep it, and
    the refusal names the run and says the loader's words, as an error."""
    session = Session(lesson_at(tmp_path, LESSON))
    advance(session, 10)
    (note,) = session.set_everywhere(
        "train.lr", lambda cfg: 0.05 if cfg.train.optimizer == "adam" else -1.0)
    assert note.severity == "error"
    assert note.text.startswith("sgd: ") and "train.lr" in note.text and "-1" in note.text
    assert [run.run.config.train.lr for run in session.runs] == [0.05, 0.3]
    assert [(c.variant, c.key, c.after) for c in session.experiment.changes] == \
        [("adam", "train.lr", 0.05)]


def test_the_rate_keys_say_the_rates_they_set(tmp_path):
    """`+` and `-` answer with every run's new rate (an 80-column status line may have no room
    for them): times or divided by the factor, and "for every run" only when there are several."""
    both = Session(lesson_at(tmp_path, LESSON))             # adam 0.01, sgd 0.3
    assert both.scale("train.lr", 2.0) == [Note("learning rate ×2 for every run: 0.02, 0.6")]
    assert both.scale("train.lr", 0.25) == [Note("learning rate ÷4 for every run: 0.005, 0.15")]
    one = Session(lesson_at(tmp_path))                       # 0.01
    assert one.scale("train.lr", 0.5) == [Note("learning rate ÷2: 0.005")]
    assert one.scale("train.lr", 1.0) == [Note("learning rate ×1: 0.005")]


def test_a_live_key_from_the_controls_applies_at_the_next_step_without_a_restart(tmp_path):
    session = Session(lesson_at(tmp_path))
    advance(session, 10)
    runs = session.runs
    assert session.configure((("train.lr", 0.05), ("train.optimizer", "sgd"))) == []
    assert session.runs is runs and runs[0].step == 10 and not session.past
    cfg = runs[0].run.config
    assert (cfg.train.lr, cfg.train.optimizer) == (0.05, "sgd")
    assert {(c.key, c.step) for c in session.experiment.changes} == {("train.lr", 10),
                                                                      ("train.optimizer", 10)}


def test_a_live_change_is_the_runs_own_setting_at_step_0_and_an_edit_from_step_1(tmp_path):
    session = Session(lesson_at(tmp_path))
    session.scale("train.lr", 2.0)
    assert [(c.step, c.after) for c in session.experiment.changes] == [(0, 0.02)]
    assert session.experiment.edits == ()
    advance(session, 1)
    session.scale("train.lr", 2.0)
    assert [(e.step, e.value, e.before) for e in session.experiment.edits] == [(1, 0.04, 0.02)]


def test_a_refusal_among_several_live_keys_is_said_and_the_others_apply(tmp_path):
    session = Session(lesson_at(tmp_path))
    (note,) = session.configure((("train.lr", -1.0), ("train.optimizer", "sgd")))
    assert note.severity == "error" and "train.lr" in note.text
    assert session.runs[0].run.config.train.optimizer == "sgd"


def test_a_new_seed_keeps_each_variants_offset(tmp_path):
    text = LESSON.replace('name = "sgd"', 'name = "sgd"\nseed_offset = 3')
    session = Session(lesson_at(tmp_path, text))
    session.configure((("train.seed", 5),))
    assert [run.run.config.train.seed for run in session.runs] == [5, 8]


def test_a_restart_names_the_change_it_made_for_the_past_run(tmp_path):
    session = Session(lesson_at(tmp_path))
    session.configure((("model.layers", (4, 4)), ("train.batch_size", 16)))
    assert session.past[-1].change == "hidden layers 6 → 4,4; batch size 32 → 16"


def test_a_data_file_is_said_by_its_name_not_its_folder():
    """On a served session the folder is the server's own; no file at all reads as none."""
    change = Change("data.path", None, "", "/srv/class/data/houses.csv", 0)
    assert str(change) == "data file none → houses.csv"
    old, new = (config_from_dict({"data": {"kind": "csv", "path": f"/a/b/{name}.csv",
                                           "target_column": "y"}}) for name in ("old", "new"))
    assert describe_change(old, new) == "data file old.csv → new.csv"


def test_o_moves_every_run_to_the_optimizer_after_the_first_runs(tmp_path):
    session = Session(lesson_at(tmp_path, LESSON))          # adam, and sgd at lr 0.3
    start = OPTIMIZERS.index("adam")
    for turn in range(1, len(OPTIMIZERS) + 1):              # round the list, back to adam
        assert session.next_optimizer() == []
        wanted = OPTIMIZERS[(start + turn) % len(OPTIMIZERS)]
        assert [run.run.config.train.optimizer for run in session.runs] == [wanted, wanted], turn


def test_d_switches_dropout_off_and_back_on_at_each_runs_own_rate(tmp_path):
    """``d`` twice is where the learner started: the run without dropout (a lesson's control)
    stays without, and a run the first press did not change records no change."""
    text = LESSON.replace('train = { optimizer = "sgd", lr = 0.3 }',
                          'train = { optimizer = "sgd", lr = 0.3 }\nmodel = { dropout = 0.2 }')
    session = Session(lesson_at(tmp_path, text))            # adam without dropout, sgd at 0.2
    advance(session, 10)
    rates = lambda: [run.run.config.model.dropout for run in session.runs]    # noqa: E731
    assert rates() == [0.0, 0.2]
    assert session.toggle_dropout() == [] and rates() == [0.0, 0.0]         # one on: all off
    assert [str(change) for change in session.experiment.changes] == [
        "sgd: dropout 0.2 → 0 at step 10"]                  # not "adam: dropout 0 → 0"
    assert session.toggle_dropout() == [] and rates() == [0.0, 0.2]
    assert session.toggle_dropout() == [] and rates() == [0.0, 0.0]
    none = Session(lesson_at(tmp_path, LESSON))
    assert none.toggle_dropout() == [] and [r.run.config.model.dropout for r in none.runs] == \
        [DEFAULT_DROPOUT, DEFAULT_DROPOUT]


def test_d_without_a_hidden_layer_warns_and_changes_nothing(tmp_path):
    session = Session(lesson_at(tmp_path, SINGLE.replace("layers = [6]", "layers = []")))
    assert session.toggle_dropout() == [Note("dropout needs a hidden layer", "warning")]
    assert session.runs[0].run.config.model.dropout == 0.0 and session.is_lesson


def test_changes_of_several_runs_are_said_once_when_alike(tmp_path):
    session = Session(lesson_at(tmp_path, LESSON))
    advance(session, 10)
    session.toggle_dropout()                 # both runs: 0 → 0.5
    session.scale("train.lr", 2.0)           # adam 0.01 → 0.02, sgd 0.3 → 0.6
    said = [str(change) for change in session.experiment.changes]
    assert said == ["dropout 0 → 0.5 at step 10", "adam: learning rate 0.01 → 0.02 at step 10",
                    "sgd: learning rate 0.3 → 0.6 at step 10"]


def test_the_lesson_speaks_only_for_its_own_runs(tmp_path):
    """Narration is told and checks are judged while the runs are the lesson's; after a
    change, the script's settings are still told (they happen), its words and verdicts not."""
    told = []
    trainer = Trainer(lesson_at(tmp_path))
    trainer._post_message = told.append
    trainer.open()
    frames = FrameBuilder()
    frames.start(trainer.session)
    build = lambda: frames.build(trainer.session, state="paused", detail="", steps_per_second=0.0,
                                 pace=None)
    assert len(build().results) == 1
    trainer._answer(ScaleSetting("train.lr", 2.0))      # at step 0: the runs' own setting
    trainer._answer(Configure((("model.layers", (7,)),)))
    assert build().results == ()
    notices = [m.text for m in told if isinstance(m, Notice)]
    assert sum("your experiment" in text for text in notices) == 1      # said once
    trainer._round(25)
    (narration,) = [m for m in told if isinstance(m, Narration)]
    assert (narration.step, narration.text, narration.changes) == (20, "", "train.lr = 0.05")
    trainer._answer(BackToLesson())
    assert len(build().results) == 1 and "lesson again" in told[-1].text
    trainer._round(25)
    assert [m for m in told if isinstance(m, Narration)][-1].text == "The rate goes up at step 20."


def test_a_changed_lesson_is_written_as_the_learners_experiment_and_replays(tmp_path):
    lesson = lesson_at(tmp_path)
    session = Session(lesson)
    session.configure((("data.kind", "circle"),))
    advance(session, 30)
    session.scale("train.lr", 0.5)
    advance(session, 30)
    text = scenario_toml(session.experiment)
    path = tmp_path / "mine.toml"
    path.write_text(text)
    mine = load_scenario(str(path))
    assert mine.title == "My experiment, from One run"
    # the script had raised the rate to 0.05 at step 20: the learner halved that
    assert mine.summary == "data set spiral → circle; learning rate 0.05 → 0.025 at step 30"
    assert lesson.lesson not in mine.lesson and '"One run"' in text.splitlines()[0]
    assert not mine.expectations and [e.say for e in mine.events] == ["", ""]
    (replayed,) = ScriptedRun.build(mine)
    play(replayed)
    assert metrics_csv([("base", replayed.run.history)]) == \
        metrics_csv([("base", session.runs[0].run.history)])


def test_a_changed_lesson_of_several_runs_is_written_with_each_runs_own_keys(tmp_path):
    """The file's base is the first run's settings less what its variant states; each variant
    states its own keys, and the file loads to the very settings the runs have."""
    text = LESSON.replace('name = "adam"', 'name = "adam"\ntrain = { lr = 0.02 }')
    session = Session(lesson_at(tmp_path, text))
    session.configure((("model.layers", (5,)),))
    path = tmp_path / "mine.toml"
    path.write_text(scenario_toml(session.experiment))
    mine = load_scenario(str(path))
    assert [v.config for v in mine.variants] == [run.run.config for run in session.runs]
    base = mine.base
    assert (base.model.layers, base.train.lr, base.train.optimizer) == ((5,), 0.01, "adam")
    assert [v.overrides.get("train") for v in mine.variants] == [{"lr": 0.02},
                                                                {"optimizer": "sgd", "lr": 0.3}]


def test_a_restart_to_the_same_settings_says_so(tmp_path):
    session = Session(lesson_at(tmp_path))
    session.configure((("train.seed", session.runs[0].run.config.train.seed),))
    assert session.past[-1].change == "the same settings"


def test_w_proposes_a_name_no_file_has_yet(tmp_path):
    """Never over another file: nnsim-experiment.toml, then -2, -3… the first not taken."""
    assert free_path(tmp_path) == tmp_path / "nnsim-experiment.toml"
    for n in range(2, 5):
        taken = "nnsim-experiment.toml" if n == 2 else f"nnsim-experiment-{n - 1}.toml"
        (tmp_path / taken).write_text("")
        assert free_path(tmp_path) == tmp_path / f"nnsim-experiment-{n}.toml"
    (tmp_path / "nnsim-experiment-3.toml").unlink()         # a gap is taken first
    assert free_path(tmp_path) == tmp_path / "nnsim-experiment-3.toml"
    assert free_path(tmp_path, "mine") == tmp_path / "mine.toml"


def test_an_unchanged_lesson_is_written_as_the_lesson(tmp_path):
    lesson = lesson_at(tmp_path)
    mine = tmp_path / "mine.toml"
    mine.write_text(scenario_toml(Session(lesson).experiment))
    written = load_scenario(str(mine))
    assert written.title == lesson.title and lesson.lesson in written.lesson
    assert [e.say for e in written.events] == [e.say for e in lesson.events]


def test_replay_holds_for_space_only_when_something_follows(tmp_path):
    """--replay pauses at each line "(space to go on)"; at the run's end there is nothing to
    go on to, and the last line does not ask for space."""
    told = []
    text = SINGLE + '\n[[event]]\nat_step = 60\nsay = "The end."\n'
    trainer = Trainer(lesson_at(tmp_path, text), hold_on_narration=True)
    trainer._post_message = told.append
    trainer.open()
    while trainer._trainable():
        trainer._answer(Resume())
        trainer._round(100)
    holds = {m.step: m.hold for m in told if isinstance(m, Narration)}
    assert holds == {20: True, 60: False}


def test_a_setting_for_one_run_leaves_the_others_and_refuses_what_defines_a_run(tmp_path):
    session = Session(lesson_at(tmp_path, LESSON))              # adam, then sgd at lr 0.3
    advance(session, 2)
    rates = [run.run.config.train.lr for run in session.runs]
    (note,) = session.set_in_run(1, (("train.lr", 0.05),))
    assert note.severity != "error" and "sgd only" in note.text
    assert [run.run.config.train.lr for run in session.runs] == [rates[0], 0.05]
    assert [(e.variant, e.step, e.value, e.before) for e in session.experiment.edits] == [
        ("sgd", 2, 0.05, 0.3)]
    for changes, named in [((("train.lr", -1.0),), "train.lr"),
                           ((("model.layers", (4,)),), "model.layers")]:
        (note,) = session.set_in_run(0, changes)
        assert note.severity == "error" and named in note.text
    assert [run.run.config.train.lr for run in session.runs] == [rates[0], 0.05]
    assert session.runs[0].run.config.model.layers == (8, 8)


def test_a_check_of_a_path_is_measured_on_the_path_so_far(tmp_path):
    text = LESSON + ('[[expect]]\nid = "winds"\nkind = "path"\nquantity = "winding"\n'
                     'variant = "sgd"\nabove = 1\n')
    trainer = Trainer(lesson_at(tmp_path, text))
    trainer._post_message = lambda message: None
    trainer.open()
    frames = FrameBuilder()
    frames.start(trainer.session)
    trainer._round(40)
    result = frames.build(trainer.session, state="paused", detail="", steps_per_second=0.0,
                          pace=None).results[-1]
    sgd = trainer.session.runs[1].run
    assert result.passed is None                                # open: the run goes on
    assert f"winding {paths.winding(sgd.trajectory.weights):.3g}" in result.message
    assert "n/a" not in result.message


def test_a_changed_runs_label_says_what_it_has_now(tmp_path):
    """The lesson wrote its labels for its own settings ("sgd, lr 0.3"): after a change the
    panes and the status line would name a run that is not on screen."""
    session = Session(lesson_at(tmp_path, LESSON))          # adam at 0.01, sgd at 0.3
    advance(session, 10)
    labels = lambda: [session.experiment.label(v) for v in session.scenario.variants]  # noqa: E731
    lesson_labels = labels()
    session.scale("train.lr", 2.0)
    assert labels() == [f"{lesson_labels[0]} → learning rate 0.02",
                        f"{lesson_labels[1]} → learning rate 0.6"]
    session.scale("train.lr", 0.5)                          # back to the lesson's rates
    assert labels() == lesson_labels


def test_a_change_made_between_checks_keeps_the_step_measured():
    """Paused at step 30 after stepping by hand (measured there), ``+``: the screen must
    still show step 30's losses, not step 25's check as if it were step 30's."""
    scenario = load_scenario("playground", seed=0)          # a check every 25 steps
    run = ScriptedRun.build(scenario)[0]
    run.advance(30)
    measured = run.peek()
    assert measured.measured_step == 30 and run.run.snapshot().measured_step == 25
    run.run.set("train.lr", 2 * run.run.config.train.lr)
    shown = run.refresh()
    assert shown.measured_step == 30
    assert (shown.val_loss, shown.train_acc) == (measured.val_loss, measured.train_acc)
    run.advance(20)                                         # at the next check, as before
    assert run.refresh().measured_step == run.step == 50


def test_a_change_after_a_run_ended_says_so_and_leaves_its_label(tmp_path):
    """``o`` after adam's run ended at step 200: it never trains with the new optimizer unless
    restarted, so its label keeps its own, and the change says when it came."""
    text = LESSON.replace('name = "adam"\n', 'name = "adam"\ntrain = { steps = 200 }\n', 1)
    assert text != LESSON
    session = Session(lesson_at(tmp_path, text))
    adam, sgd = session.runs
    advance(session, 200)
    sgd.advance(10)
    assert not adam.active and sgd.active
    labels = [v.label for v in session.scenario.variants]
    session.next_optimizer()
    said = [str(change) for change in session.experiment.changes]
    assert said[0].startswith("adam: optimizer adam → ") and said[0].endswith(
        "at step 200, after it ended (for a restart)"), said
    assert said[1].startswith("sgd: optimizer sgd → ") and said[1].endswith(f"at step {sgd.step}"), said
    assert session.experiment.label(session.scenario.variants[0]) == labels[0]
    assert session.experiment.label(session.scenario.variants[1]) != labels[1]

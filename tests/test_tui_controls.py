"""The controls panel (`c`) and writing the experiment (`w`), driven as a user drives them."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import LESSON, SINGLE
from nnsim.__main__ import main
from nnsim.core.report import metrics_csv
from nnsim.core.scenario import ScenarioError, load_scenario, parse_override
from nnsim.tui.controls import Choice, ControlsScreen, Field
from nnsim.tui.screens import WriteScreen
from pilot import choose, open_controls, panel, press_on, scenario_file, settled, wait_until

pytestmark = pytest.mark.asyncio

ENDLESS_SINGLE = SINGLE.replace("steps = 200", "steps = 1000000")
WIDE = (160, 48)


async def type_into(pilot, field, text: str) -> None:
    """Type ``text`` into a field as a user does: it has the focus first (the panel leaves a
    focused field alone), then enter."""
    field.focus()
    await wait_until(pilot, lambda: field.has_focus)
    field.value = text
    await pilot.press("enter")


def message(app) -> str:
    return str(panel(app).query_one("#controls-message").render())


async def test_a_run_defining_change_starts_a_new_run_and_keeps_the_old_one_faded(tmp_path):
    app = create(tmp_path, SINGLE, stop_at=30)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        assert app.dashboard.controls_open
        await press_on(pilot, controls.query_one("#layer-add"), "enter")
        await wait_until(pilot, lambda: app.frame.past and app.up_to_date)
        assert app.frame.configs[0].model.layers == (8, 8, 8)
        assert app.frame.step == 0
        past = app.frame.past[-1]
        assert past.change == "hidden layers 8,8 → 8,8,8"
        assert past.histories[0].step[-1] == 30
        assert "before hidden layers 8,8 → 8,8,8" in str(app.query_one("#loss-legend").render())
        # another change: the older run stays too, fainter
        await press_on(pilot, controls.query_one("#seed-next"), "enter")
        await wait_until(pilot, lambda: len(app.frame.past) == 2)
        assert app.frame.configs[0].train.seed == 1 and app.frame.past[-1].change == "seed 0 → 1"


async def test_space_on_a_focused_control_pauses_and_presses_nothing(tmp_path):
    app = create(tmp_path, ENDLESS_SINGLE, stop_at=30)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        for widget in ("#layer-add", "#control-model-activation", "#feature-2"):
            await press_on(pilot, controls.query_one(widget), "space")
            await wait_until(pilot, lambda: app.frame.state == "running")
            await pilot.press("space")
            await wait_until(pilot, lambda: app.frame.state == "paused")
        assert not app.frame.past and app.frame.configs[0].model.layers == (8, 8)


async def test_a_live_change_applies_at_the_next_step(tmp_path):
    app = create(tmp_path, SINGLE, stop_at=30)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        await choose(pilot, controls.query_one("#control-train-lr", Choice),
                     "down")                   # the ladder's next rate above 0.01
        await wait_until(pilot, lambda: app.frame.configs[0].train.lr == 0.03)
        assert app.frame.step == 30 and not app.frame.past      # the same run, not started over
        await pilot.press("n")
        await wait_until(pilot, lambda: app.frame.step == 31)
        assert app.frame.snapshots[0].lr == 0.03


# Values no run can take, each typed where a learner would: one dashboard tries them all.
IMPOSSIBLE = [("model.layers", "0, 8"), ("train.l2", "-1"), ("data.split", "0.5, 0.2, 0.2"),
              ("data.noise", "11")]


async def test_an_impossible_value_is_refused_with_the_loaders_message(tmp_path):
    app = create(tmp_path, SINGLE, stop_at=30)
    said = []
    app.notify = lambda text, **kwargs: said.append((text, kwargs.get("severity")))
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        before = app.frame.configs
        for key, typed in IMPOSSIBLE:
            value = parse_override(f"{key}=[{typed}]" if "," in typed else f"{key}={typed}")[1]
            with pytest.raises(ScenarioError) as loader:      # the same value given to `nnsim run`
                load_scenario(scenario_file(tmp_path, SINGLE), overrides=((key, value),))
            shown = message(app)
            await type_into(pilot, next(f for f in controls.query(Field) if f.name == key), typed)
            await wait_until(pilot, lambda: message(app) != shown and "expected" in message(app),
                             f"{key} = {typed} to be refused")
            assert str(loader.value) == f"--set: {message(app)}", key
            assert (message(app), "error") in said, key        # where the eye is, too
            field = next(f for f in controls.query(Field) if f.name == key)
            assert field.value == typed, key                   # kept, to fix
            assert app.frame.configs == before and not app.frame.past, key
        await pilot.pause(0.3)
        assert app.frame.configs == before and app.frame.step == 30 and not app.frame.past


async def test_the_controls_are_a_modal_on_a_small_screen(tmp_path):
    app = create(tmp_path, SINGLE, stop_at=30)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        assert isinstance(app.screen, ControlsScreen)
        data_set = controls.query_one("#control-data-kind", Choice)
        await wait_until(pilot, lambda: data_set.has_focus)      # enter opens its list at once
        await pilot.press("enter")
        await wait_until(pilot, lambda: data_set.expanded)
        await pilot.press("escape")
        await choose(pilot, controls.query_one("#control-model-activation", Choice),
                     "down")                    # tanh → sigmoid
        await wait_until(pilot, lambda: app.frame.configs[0].model.activation == "sigmoid")
        assert app.frame.past[-1].change == "activation tanh → sigmoid"
        await press_on(pilot, controls.query_one("#layer-add"), "space")      # pauses here too
        await wait_until(pilot, lambda: app.frame.state != "paused")
        assert app.frame.configs[0].model.layers == (8, 8)
        await pilot.press("c")
        await wait_until(pilot, lambda: app.screen is app.dashboard)


async def test_every_control_is_in_the_command_palette(tmp_path):
    from nnsim.tui.commands import ControlCommands

    app = create(tmp_path, SINGLE, stop_at=30)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        titles = {title: run for title, _, run in ControlCommands(app.screen)._commands()}
        for wanted in ("Set data set to circle", "Set data set to your CSV…", "Feature x1^2 on",
                       "Add a hidden layer", "More units in hidden layer 2", "Set activation to relu",
                       "Set init to he", "Set loss to mse", "Set optimizer to sgd",
                       "Set learning rate to 3", "Set batch…", "Set L1…", "Set L2…", "Set dropout…",
                       "Set noise…", "Set points…", "Set split…", "Regenerate: a new seed"):
            assert wanted in titles, wanted
        titles["Set activation to relu"]()
        await wait_until(pilot, lambda: app.frame.configs[0].model.activation == "relu")


async def test_set_seeds_the_dashboard(tmp_path):
    app = create(tmp_path, SINGLE, stop_at=30, overrides=[parse_override("model.layers=[4]")])
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        assert app.frame.configs[0].model.layers == (4,)
        controls = await open_controls(pilot)
        assert controls.query_one("#control-model-layers", Field).value == "4"


@pytest.mark.parametrize("text", [SINGLE, LESSON])
async def test_the_written_experiment_replays_headless_to_the_same_metrics(tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    app = create(tmp_path, text, stop_at=40)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        assert app.configure((("model.layers", (6, 6)),)) == ""        # a new run, paused at 0
        await wait_until(pilot, lambda: app.frame.past and app.frame.step == 0)
        app.trainer.playback.stop_at = 70
        await pilot.press("space")
        await wait_until(pilot, lambda: app.frame.step == 70 and app.frame.state == "paused")
        await pilot.press("plus", "d")          # live changes at step 70: events in the file
        await wait_until(pilot, lambda: app.frame.configs[0].model.dropout > 0)
        await pilot.press("space")
        await wait_until(pilot, settled(app))
        assert app.frame.state == "finished"
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WriteScreen))
        await pilot.press("enter")
        written = tmp_path / "nnsim-experiment.toml"
        await wait_until(pilot, lambda: written.exists() and app.screen is app.dashboard)
        kept = tmp_path / "kept.toml"
        kept.write_text(written.read_text())
        dashboard_csv = metrics_csv([(n, s.history) for n, s in zip(app.frame.names, app.frame.snapshots)])
        # never overwritten without asking: the next one proposes a free name, an existing one asks
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, WriteScreen))
        field = app.screen.query_one("#write-path")
        assert field.value == str(tmp_path / "nnsim-experiment-2.toml")
        field.value = str(written)
        written.write_text("mine")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "exists" in str(app.screen.query_one("#write-note").render()))
        assert written.read_text() == "mine"
        await pilot.press("escape")
    written_back = load_scenario(kept)
    lesson = load_scenario(scenario_file(tmp_path, text))
    assert written_back.title == f"My experiment, from {lesson.title}"
    assert written_back.summary.startswith("hidden layers 8,8 → 6,6; ")
    assert "learning rate" in written_back.summary and "at step 70" in written_back.summary
    assert lesson.lesson not in written_back.lesson and not written_back.expectations
    assert not any(event.say for event in written_back.events)     # the lesson's lines, left out
    assert main(["check", str(kept)]) == 0
    assert main(["run", str(kept), "--quiet", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "metrics.csv").read_text() == dashboard_csv


def create(tmp_path: Path, text: str, **kwargs):
    from nnsim.tui.app import create_app

    return create_app(scenario_file(tmp_path, text), show_speed=False, **kwargs)


async def test_your_csv_takes_a_path_and_trains_on_it(tmp_path):
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(60)]
    (tmp_path / "mine.csv").write_text("\n".join(rows) + "\n")
    app = create(tmp_path, SINGLE, stop_at=30)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        await choose(pilot, controls.query_one("#control-data-kind", Choice),
                     "end")                      # the last choice: your CSV…
        path = controls.query_one("#control-data-path", Field)
        await wait_until(pilot, lambda: path.has_focus)
        assert not app.frame.past               # nothing changes before the file is named
        await pilot.press(*"nothing.csv", "enter")
        await wait_until(pilot, lambda: "no such CSV file" in message(app))
        await type_into(pilot, path, str(tmp_path / "mine.csv"))
        await wait_until(pilot, lambda: app.frame.configs[0].data.kind == "csv" and app.frame.past)
        cfg = app.frame.configs[0]
        assert (cfg.data.target_column, app.frame.past[-1].change.startswith("data set spiral → csv")) == ("label", True)


async def test_a_feature_box_changes_the_inputs(tmp_path):
    app = create(tmp_path, SINGLE, stop_at=30)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        await press_on(pilot, controls.query_one("#feature-4"), "enter")      # x1*x2 on
        await wait_until(pilot, lambda: app.frame.past and app.frame.step == 0)
        assert app.frame.configs[0].data.features == ("x1", "x2", "x1*x2")
        # on and off read without colour: a tick or nothing
        assert "✓" in str(controls.query_one("#feature-4").render())
        assert "✓" not in str(controls.query_one("#feature-5").render())
        await type_into(pilot, controls.query_one("#control-data-noise", Field), "0.3")
        await wait_until(pilot, lambda: len(app.frame.past) == 2)
        assert app.frame.configs[0].data.noise == 0.3, [p.change for p in app.frame.past]



@pytest.mark.parametrize("size", [(80, 24), WIDE], ids=["modal", "beside"])
async def test_one_press_one_unit_however_quick_the_presses(tmp_path, size):
    """Found by hand: five quick presses of a layer's + added two units (each press counted
    from the settings on screen, which the first press had not yet changed)."""
    app = create(tmp_path, SINGLE, stop_at=10)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        before = app.frame.configs[0].model.layers
        # five presses before the first change reaches the runs (a pilot's press waits for the
        # key to be handled, not for the training thread)
        await press_on(pilot, controls.query_one("#units-more-0"), *["enter"] * 5)
        await wait_until(pilot, lambda: app.frame.configs[0].model.layers[0] >= before[0] + 5,
                         "five more units")
        await pilot.pause(0.3)
        assert app.frame.configs[0].model.layers == (before[0] + 5, *before[1:])


async def test_the_controls_beside_the_panes_leave_the_data_the_network_and_the_lesson_on_screen(tmp_path):
    """Playground steers with the data, the network and its output in view: at 160x48 the panel
    takes the weights' and the valley's places, never the network's."""
    app = create(tmp_path, SINGLE, stop_at=30)
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, settled(app))
        await open_controls(pilot)
        await pilot.pause()
        screen = app.screen.region
        for pane in ("loss", "boundary", "network", "gradients", "lesson"):
            widget = app.dashboard.panes[pane]
            assert widget.display and widget.region.height >= 8, pane
            assert screen.contains_region(widget.region), pane
        assert not app.dashboard.panes["weights"].display
        await pilot.press("c")
        await wait_until(pilot, lambda: app.dashboard.panes["weights"].display)


@pytest.mark.parametrize("size", [(80, 24), WIDE], ids=["modal", "beside"])
async def test_pgdn_and_pgup_jump_between_the_sections_of_the_controls(tmp_path, size):
    """At 80x24 the training settings were twenty tabs down: a section is one key away."""
    app = create(tmp_path, SINGLE, stop_at=30)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, settled(app))
        await open_controls(pilot)
        focused = lambda: app.screen.focused.name
        await wait_until(pilot, lambda: app.screen.focused is not None and focused() == "data.kind")
        for key, wanted in (("pagedown", "x1"), ("pagedown", "model.activation"),
                            ("pagedown", "train.optimizer"), ("pagedown", "model.dropout"),
                            ("pagedown", "model.dropout"), ("pageup", "train.optimizer"),
                            ("pageup", "model.activation"), ("pageup", "x1"),
                            ("pageup", "data.kind"), ("pageup", "data.kind")):
            await pilot.press(key)
            await wait_until(pilot, lambda: focused() == wanted, f"{key} to reach {wanted}")
        panel(app).focus_control("model.init")          # mid-section: the next one
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: focused() == "train.optimizer", "pgdn from init")


async def test_every_control_is_a_few_keys_from_the_dashboard_at_80x24(tmp_path):
    """Counted as a learner types them: `c`, pgdn to the control's section, tab to it. Before
    the sections, activation was 18 tabs down; Playground's controls are a click each."""
    from nnsim.tui.controls import SECTIONS

    app = create(tmp_path, SINGLE, stop_at=30)
    counts = {}
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        for section, (_, keys) in enumerate(SECTIONS):
            for key in keys:
                await open_controls(pilot)
                await wait_until(pilot, lambda: app.screen.focused is not None
                                 and app.screen.focused.name == "data.kind")
                await pilot.press(*["pagedown"] * section)
                presses = 1 + section
                # the features' first box, the seed's regenerate button
                while not (app.screen.focused.name == key or app.screen.focused.name == "x1"
                           and key == "data.features" or app.screen.focused.id == "seed-next"
                           and key == "train.seed"):
                    assert presses < 12, f"{key}: not reached in 12 keys"
                    await pilot.press("tab")
                    presses += 1
                counts[key] = presses
                await pilot.press("escape")
                await wait_until(pilot, lambda: app.screen is app.dashboard)
    print("keys from the dashboard:", counts)
    assert counts["data.kind"] == 1 and counts["model.activation"] == 3
    assert max(counts.values()) <= 7, counts


async def test_a_refusal_at_80x24_is_at_the_top_of_the_panel_and_the_field_keeps_it(tmp_path):
    """Found at 80x24: the refusal sat below the part of the panel on screen."""
    app = create(tmp_path, SINGLE, stop_at=30)
    said = []
    app.notify = lambda text, **kwargs: said.append((text, kwargs.get("severity")))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        controls.focus_control("train.l2")      # the last section: the panel scrolled down
        field = controls.query_one("#control-train-l2", Field)
        await type_into(pilot, field, "-1")
        await wait_until(pilot, lambda: "expected" in message(app), "l2 = -1 to be refused")
        assert said and said[-1] == (message(app), "error")
        note = controls.query_one("#controls-message")
        top = controls.content_region.y
        assert top <= note.region.y <= top + 1 and note.region.height >= 1, (note.region, top)
        assert app.screen.region.contains_region(note.region)
        assert field.value == "-1" and not app.frame.past and app.frame.step == 30


@pytest.mark.parametrize("control", ["#control-data-noise", "#control-model-layers"])
async def test_enter_on_an_unchanged_value_does_nothing(tmp_path, control):
    """Found by hand: enter on an unchanged field started the runs again from step 0."""
    app = create(tmp_path, SINGLE, stop_at=30)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        field = controls.query_one(control, Field)
        before = field.value
        await press_on(pilot, field, "enter")
        await wait_until(pilot, lambda: message(app) == "unchanged")
        await pilot.pause(0.3)
        assert not app.frame.past and app.frame.step == 30 and field.value == before

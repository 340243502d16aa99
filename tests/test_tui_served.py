"""A session of `nnsim serve` is a student in a browser who may name no path on the server:
`w` and `e` become downloads in their browser, and data comes from the built-in sets or, by
name, from the folder the teacher gave (`nnsim serve --data DIR`). In a terminal nothing of
this changes (tests/test_tui_controls.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Select

from conftest import LESSON, SINGLE
from nnsim.core.config import ConfigError
from nnsim.core.data.folder import folder_file, folder_files
from nnsim.tui.app import create_app
from nnsim.tui.commands import ControlCommands
from nnsim.tui.controls import CLASS_CSV, YOUR_CSV, Choice, ControlsPanel, Field, csv_label
from nnsim.tui.screens import WriteScreen
from pilot import choose, open_controls, scenario_file, settled, wait_until

ROWS = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(60)]


@pytest.fixture
def class_folder(tmp_path) -> Path:
    """The teacher's folder: one CSV file a student may use, and what they may not reach."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "houses.csv").write_text("\n".join(ROWS) + "\n")
    secret = tmp_path / "secret.csv"
    secret.write_text("password,hunter2\n")
    (folder / "link.csv").symlink_to(secret)            # a link may point anywhere
    (folder / "folder.csv").mkdir()
    (folder / ".hidden.csv").write_text("x,y\n1,2\n")
    (folder / "notes.txt").write_text("not data\n")
    return folder


def test_only_plain_csv_files_in_the_folder_itself_can_be_named(class_folder):
    assert folder_files(class_folder) == ("houses.csv",)
    assert folder_file(class_folder, "houses.csv") == class_folder / "houses.csv"
    for name in ("link.csv", "../secret.csv", "folder.csv", ".hidden.csv", "notes.txt",
                 "/etc/passwd", str(class_folder / "houses.csv"), ""):
        with pytest.raises(ConfigError) as refused:
            folder_file(class_folder, name)
        # no server path in the message but the one the student gave
        assert str(class_folder) not in str(refused.value).replace(repr(name), "")
    assert folder_files(None) == () and folder_files(class_folder / "gone") == ()


def test_csv_data_is_a_typed_path_in_a_terminal_and_a_name_when_served():
    assert csv_label(None) == YOUR_CSV
    assert csv_label(("houses.csv",)) == CLASS_CSV
    assert csv_label(()) is None


def served(tmp_path: Path, data_folder: Path | None = None, **kwargs):
    return create_app(scenario_file(tmp_path, SINGLE), show_speed=False, served=True,
                      data_folder=data_folder, **kwargs)


async def test_w_and_e_send_downloads_to_the_browser_and_write_nothing(tmp_path, monkeypatch):
    from nnsim.core.experiment import scenario_toml

    work = tmp_path / "server-folder"
    work.mkdir()
    monkeypatch.chdir(work)
    app = create_app(scenario_file(tmp_path, LESSON), show_speed=False, served=True, stop_at=30)
    delivered = []
    monkeypatch.setattr(app, "deliver_text", lambda file, save_filename, **_: delivered.append(
        (save_filename, file.read())))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, settled(app))
        await pilot.press("w", "enter", "enter")
        await wait_until(pilot, lambda: len(delivered) == 1)
        assert not isinstance(app.screen, WriteScreen)      # no path to type
        assert delivered[0] == ("nnsim-experiment.toml", scenario_toml(app.frame.experiment))
        await pilot.press("e")
        await wait_until(pilot, lambda: len(delivered) == 3)
        (csv_name, csv_text), (svg_name, svg_text) = delivered[1:]
        assert csv_name.endswith(".csv") and csv_text.startswith("step,epoch,variant,")
        assert svg_name.endswith(".svg") and svg_text.lstrip().startswith("<svg")
    assert list(work.iterdir()) == []


async def test_a_served_student_picks_class_data_by_name(tmp_path, class_folder):
    app = served(tmp_path, class_folder, stop_at=30)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, settled(app))
        titles = [title for title, _, _ in ControlCommands(app.screen)._commands()]
        assert f"Set data set to {CLASS_CSV}" in titles and f"Set data set to {YOUR_CSV}" not in titles
        controls = await open_controls(pilot)
        await choose(pilot, controls.query_one("#control-data-kind", Choice), "end")
        picker = controls.query_one("#control-data-path")
        assert isinstance(picker, Select) and not controls.query(Field).filter("#control-data-path")
        assert [value for _, value in picker._options if isinstance(value, str)] == ["houses.csv"]
        await choose(pilot, picker, "down")
        await wait_until(pilot, lambda: app.frame.configs[0].data.kind == "csv" and app.frame.past)
        cfg = app.frame.configs[0]
        assert (Path(cfg.data.path), cfg.data.target_column) == (class_folder / "houses.csv", "label")
        await wait_until(pilot, lambda: "set " in str(controls.query_one("#controls-message").render()))
        assert str(class_folder) not in str(controls.query_one("#controls-message").render())
        assert "data file none → houses.csv" in app.frame.past[-1].change     # the legend's words
        delivered = []
        app.deliver_text = lambda file, save_filename, **_: delivered.append(file.read())
        await pilot.press("escape", "w")
        await wait_until(pilot, lambda: delivered)
        assert 'path = "houses.csv"' in delivered[0] and str(class_folder) not in delivered[0]
        (class_folder / "empty.csv").write_text("a,b,label\n")         # no rows: refused
        controls._take_csv(lambda: class_folder / "empty.csv")
        message = lambda: str(controls.query_one("#controls-message").render())
        await wait_until(pilot, lambda: "empty.csv" in message() and "setting" not in message())
        assert str(class_folder) not in message()
        assert all(str(class_folder) not in toast.message for toast in app._notifications)


async def test_without_a_class_folder_a_served_student_has_the_built_in_data_only(tmp_path):
    app = served(tmp_path, stop_at=30)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, settled(app))
        titles = [title for title, _, _ in ControlCommands(app.screen)._commands()]
        assert not [t for t in titles if t in (f"Set data set to {CLASS_CSV}",
                                               f"Set data set to {YOUR_CSV}")]
        controls = await open_controls(pilot)
        kinds = [value for _, value in controls.query_one("#control-data-kind", Choice)._options]
        assert "csv" not in kinds
        assert not controls.query(Field).filter("#control-data-path")


async def test_a_change_the_trainer_refuses_is_not_said_to_be_set(tmp_path):
    """The panel says "set" once the runs show the change; a data file that does not load is
    refused by the trainer, after the panel asked, and the panel says why instead."""
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,x\n")    # too few rows to split
    app = create_app(scenario_file(tmp_path, SINGLE), show_speed=False, stop_at=30)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(pilot, settled(app))
        controls = await open_controls(pilot)
        controls._take_csv(lambda: tmp_path / "bad.csv")
        message = lambda: str(controls.query_one("#controls-message").render())
        await wait_until(pilot, lambda: not message().startswith("setting"))
        assert not message().startswith("set ") and app.frame.configs[0].data.kind != "csv"
        assert isinstance(app.screen.query_one(ControlsPanel), ControlsPanel)

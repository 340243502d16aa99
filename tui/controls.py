"""The controls panel: every setting a learner tries, one key press or click away.

Built from the config's key registry (``core.config.KEYS``: names, choices, meanings), so the
panel offers exactly what a scenario file can say. A control never changes a run itself: it
asks the app (``NnsimApp.configure``), which validates the change against every run's settings
as a scenario file is validated and sends it to the trainer, or returns the one-line reason it
is refused, which the panel shows. Space stays the dashboard's pause everywhere but in a text
field; a focused button, box or list is pressed with enter.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_origin

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from ..core.config import DATA_KINDS, DERIVED_FEATURES, KEYS, ConfigError, RunConfig, get_value, with_values
from ..core.data.folder import folder_file
from ..core.scenario import parse_override
from .modal import Modal

LR_LADDER = (0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # as Playground's
FILE_FREE_KINDS = tuple(kind for kind in DATA_KINDS if kind != "csv")
YOUR_CSV = "your CSV…"
CLASS_CSV = "class data…"      # served: a file of the teacher's data folder, by name
CHOICES = {"data.kind": "data set", "model.activation": "activation", "model.init": "init",
           "train.loss": "loss", "train.optimizer": "optimizer"}
TYPED = {"data.noise": "noise", "data.n_points": "points", "data.split": "split",
         "model.layers": "layers", "train.batch_size": "batch", "train.l1": "L1", "train.l2": "L2",
         "model.dropout": "dropout"}
# Each section's first control is a pgdn away; the controls used most come first in theirs,
# a row of buttons (the rate's ÷2 ×2) last, and regenerate with the data, as in Playground.
SECTIONS = (("Data", ("data.kind", "data.noise", "data.n_points", "data.split", "train.seed")),
            ("Features", ("data.features",)),
            ("Network", ("model.activation", "model.init", "model.layers")),
            ("Training", ("train.optimizer", "train.batch_size", "train.loss", "train.lr")),
            ("Regularisation", ("model.dropout", "train.l1", "train.l2")))
MIN_LAYER_WIDTH = 8         # a new hidden layer when there is none to copy


def shown(value) -> str:
    """A setting as the panel shows it and reads it back."""
    if isinstance(value, tuple):
        return ", ".join(shown(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def typed_value(key: str, text: str):
    """What a typed ``text`` means for ``key``, read as ``--set`` reads it (a list may leave
    out its brackets). Raises ``ConfigError`` with the key and what was expected."""
    text = text.strip()
    listed = get_origin(KEYS[key].type) is tuple
    if listed and not text.startswith("["):
        text = f"[{text}]"
    try:
        value = parse_override(f"{key}={text}")[1]
    except ConfigError as err:
        raise ConfigError(err.key, err.message) from None
    # a list as the settings hold it, so that "8, 8" typed over (8, 8) is no change
    return tuple(value) if listed and isinstance(value, list) else value


def typed_csv_path(text: str) -> Path:
    """The CSV file a user in a terminal typed the path of."""
    path = Path(text.strip()).expanduser().resolve()
    if not path.is_file():
        raise ConfigError("data.path", f"{'a directory, not a CSV file' if path.is_dir() else 'no such CSV file'}: {path}")
    return path


def unchanged(cfg: RunConfig, changes) -> bool:
    """Whether ``changes`` leave ``cfg`` as it is (enter on a value as shown does nothing);
    a change the config refuses is a change, refused later with its reason."""
    try:
        return with_values(cfg, changes) == cfg
    except ConfigError:
        return False


def csv_changes(path: Path) -> tuple[tuple[str, object], ...]:
    """Data from a CSV file: its path, and its last column as the target."""
    from ..core.data.csv_loader import csv_header

    header = csv_header(path)
    return (("data.kind", "csv"), ("data.path", str(path)), ("data.target_column", header[-1]),
            ("data.feature_columns", ()))


def described(changes) -> str:
    """``changes`` as the panel says them (a data file by its name)."""
    return ", ".join(f"{key} = {Path(value).name if key == 'data.path' else shown(value)}"
                     for key, value in changes if key != "data.feature_columns")


def layer_changes(layers: tuple[int, ...], action: str, index: int = 0) -> tuple[int, ...]:
    """Hidden layer widths after a button: ``add``/``remove`` the last layer, ``more``/``fewer``
    units in layer ``index`` (fewer than one is refused by the config's own check)."""
    if action == "add":
        return layers + (layers[-1] if layers else MIN_LAYER_WIDTH,)
    if action == "remove":
        return layers[:-1]
    delta = 1 if action == "more" else -1
    return layers[:index] + (layers[index] + delta,) + layers[index + 1:]


def lr_options(current: float) -> list[tuple[str, float]]:
    return [(f"{lr:g}", lr) for lr in sorted(set(LR_LADDER) | {current})]


def csv_label(class_files: tuple[str, ...] | None) -> str | None:
    """How the data set list names CSV data: a typed path in a terminal (``class_files`` is
    None), the teacher's files when served, nothing when the teacher offers none."""
    if class_files is None:
        return YOUR_CSV
    return CLASS_CSV if class_files else None


def palette_commands(cfg: RunConfig, class_files: tuple[str, ...] | None = None
                     ) -> list[tuple[str, str, tuple | str]]:
    """Every control as commands of the palette: ``(title, help, what)``, where ``what`` is the
    changes to make or, for a value to type, the key whose control to open."""
    commands = []
    for key, name in CHOICES.items():
        choices = FILE_FREE_KINDS if key == "data.kind" else KEYS[key].choices
        commands += [(f"Set {name} to {choice}", key, ((key, choice),)) for choice in choices]
    if (label := csv_label(class_files)) is not None:
        commands.append((f"Set data set to {label}", "data.kind", "data.path"))
    commands += [(f"Set learning rate to {lr:g}", "train.lr", (("train.lr", lr),)) for lr in LR_LADDER]
    features = cfg.data.features
    for feature in DERIVED_FEATURES:
        on = feature in features
        changed = tuple(f for f in DERIVED_FEATURES if (f in features) != (f == feature))
        commands.append((f"Feature {feature} {'off' if on else 'on'}", "data.features",
                         (("data.features", changed),)))
    layers = cfg.model.layers
    commands += [("Add a hidden layer", "model.layers", (("model.layers", layer_changes(layers, "add")),)),
                 ("Remove the last hidden layer", "model.layers",
                  (("model.layers", layer_changes(layers, "remove")),))]
    for i in range(len(layers)):
        for action in ("more", "fewer"):
            commands.append((f"{action.capitalize()} units in hidden layer {i + 1}", "model.layers",
                             (("model.layers", layer_changes(layers, action, i)),)))
    commands.append(("Regenerate: a new seed", "train.seed", "train.seed"))
    commands += [(f"Set {name}…", key, key) for key, name in TYPED.items()]
    return commands


class PressButton(Button):
    """A button pressed with enter (space pauses the dashboard, as everywhere)."""

    def __init__(self, label: str, **kwargs) -> None:
        super().__init__(label, compact=True, **kwargs)

    def action_press(self) -> None:
        """Every press counts: Textual's button ignores those within its 0.2 s press effect,
        and five quick presses of a unit's + must add five units."""
        self.press()


class Toggle(Checkbox, inherit_bindings=False):
    BINDINGS = [Binding("enter", "toggle_button", "Toggle", show=False)]

    @property
    def BUTTON_INNER(self) -> str:      # noqa: N802 - Textual's name; its X was there on or off
        """A tick when on, blank when off: readable without colour (a projector, 16 colours)."""
        return "✓" if self.value else " "


class Choice(Select, inherit_bindings=False):
    BINDINGS = [Binding("enter,down,up", "show_overlay", "Show menu", show=False)]

    def __init__(self, options, allow_blank: bool = False, **kwargs) -> None:
        super().__init__(options, allow_blank=allow_blank, compact=True, **kwargs)


class Field(Input):
    def __init__(self, **kwargs) -> None:
        super().__init__(compact=True, **kwargs)


class ControlsPanel(VerticalScroll):
    """Every control; it shows the selected run's settings and sends changes through the app."""

    BINDINGS = [Binding("escape", "leave", "Back to the panes", show=False),
                Binding("pagedown", "section(1)", "Next section", show=False),
                Binding("pageup", "section(-1)", "Previous section", show=False)]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown: RunConfig | None = None
        self._ready = False     # the widgets' own first values (on mounting) are not changes
        self._layers: tuple[int, ...] = ()
        self._building_layers = False
        self._pending: tuple = ()   # changes sent, not yet seen in the runs' settings
        self._width_labels: list[Label] = []    # "16 units" of each hidden layer's row

    def compose(self) -> ComposeResult:
        # made showing the run's settings, so that no default flashes by before the first sync
        cfg = self.config() or self.app.scenario.variants[0].config
        for title, keys in SECTIONS:
            yield Label(Text(title, style="bold"), classes="controls-section")
            for key in keys:
                yield from self._control(key, cfg)
        yield Static(id="controls-message")

    def _row(self, name: str, *widgets, row_id: str | None = None) -> Horizontal:
        return Horizontal(Label(name, classes="control-name"), *widgets, classes="control-row", id=row_id)

    def _control(self, key: str, cfg: RunConfig) -> ComposeResult:
        if key == "data.kind":
            class_files = self.app.class_files
            label = csv_label(class_files)
            options = [(kind, kind) for kind in FILE_FREE_KINDS]
            options += [(label, "csv")] if label is not None else []
            yield self._row("data set", Choice(options, name=key, id="control-data-kind",
                                               value=cfg.data.kind if label or cfg.data.kind != "csv"
                                               else FILE_FREE_KINDS[0]))
            if class_files is None:
                picker = Field(placeholder="path, then enter", name="data.path", id="control-data-path")
            else:
                picker = Choice([(name, name) for name in class_files], allow_blank=True,
                                prompt="a file", name="data.path", id="control-data-path")
            row = self._row("CSV file", picker, row_id="csv-row")
            row.display = False
            yield row
        elif key == "data.features":
            with Horizontal(id="features"):
                yield from (Toggle(f, f in cfg.data.features, name=f, id=f"feature-{i}", compact=True)
                            for i, f in enumerate(DERIVED_FEATURES))
        elif key in CHOICES:
            options = [(choice, choice) for choice in KEYS[key].choices]
            yield self._row(CHOICES[key], Choice(options, name=key, value=get_value(cfg, key),
                                                 id=f"control-{key.replace('.', '-')}"))
        elif key == "model.layers":
            yield self._row("layers", Field(name=key, id="control-model-layers",
                                            value=shown(cfg.model.layers)))
            yield Horizontal(PressButton("+ layer", id="layer-add"), PressButton("− layer", id="layer-remove"),
                             classes="control-row")
            yield Vertical(id="layer-rows")
        elif key == "train.lr":
            yield self._row("rate", Choice(lr_options(cfg.train.lr), name=key, value=cfg.train.lr,
                                           id="control-train-lr"),
                            PressButton("÷2", id="lr-half"), PressButton("×2", id="lr-double"))
        elif key == "train.seed":
            yield self._row("seed", Label(str(cfg.train.seed), id="seed-value"),
                            PressButton("regenerate", id="seed-next"))
        else:
            yield self._row(TYPED[key], Field(name=key, value=shown(get_value(cfg, key)),
                                              id=f"control-{key.replace('.', '-')}"))

    def on_mount(self) -> None:
        self.border_title = "Controls"
        self.border_subtitle = "pgdn/pgup sections · enter sets · esc back"
        self.call_after_refresh(self._start)

    def _start(self) -> None:
        self._ready = True
        self.sync()
        self.set_interval(0.2, self.sync)

    # ------------------------------------------------------------------ showing the settings

    def config(self) -> RunConfig | None:
        frame = self.app.frame
        if frame is None:
            return None
        return frame.configs[min(self.app.dashboard.view.variant, len(frame.configs) - 1)]

    def sync(self) -> None:
        """Show the settings of the run on screen, whatever changed them (a control, a key, a
        scripted event); a field being typed in is left alone."""
        cfg = self.config()
        if cfg is None or not self._ready:
            return
        if self._pending and all(get_value(cfg, key) == value for key, value in self._pending):
            self.say("set " + described(self._pending))
            self._pending = ()
        if cfg == self._shown:
            return
        self._shown = cfg
        with self.prevent(Select.Changed, Checkbox.Changed):
            for select in self.query(Choice):
                if select.name == "data.path":      # it picks a file; it does not show one
                    continue
                value = get_value(cfg, select.name)
                if select.name == "train.lr":
                    select.set_options(lr_options(value))
                if select.name != "data.kind" or value != "csv" or csv_label(self.app.class_files):
                    select.value = value
            for field in self.query(Input):
                if field.name in KEYS and not field.has_focus:
                    field.value = shown(get_value(cfg, field.name))
            for i, feature in enumerate(DERIVED_FEATURES):
                self.query_one(f"#feature-{i}", Toggle).value = feature in cfg.data.features
        self.query_one("#seed-value", Label).update(str(cfg.train.seed))
        self._layers = cfg.model.layers
        if not self._building_layers:
            self._building_layers = True
            self.call_later(self._show_layers)

    async def _show_layers(self) -> None:
        """One row per hidden layer, made again when the number of layers changed (one build at
        a time; a change that lands during a build gets a build of its own)."""
        wanted = len(self._layers)
        if len(self._width_labels) != wanted and self.is_attached:
            # The labels are kept, not looked up again: while the screen closes or the terminal
            # resizes, a row can be mounted before its children are.
            self._width_labels = [Label("", classes="layer-width") for _ in range(wanted)]
            rows = self.query_one("#layer-rows", Vertical)
            await rows.remove_children()
            await rows.mount_all(self._row(f"h{i + 1}", label,
                                           PressButton("−", id=f"units-fewer-{i}"),
                                           PressButton("+", id=f"units-more-{i}"))
                                 for i, label in enumerate(self._width_labels))
        for label, width in zip(self._width_labels, self._layers):
            label.update(f"{width:>3} units")
        self._building_layers = len(self._layers) != len(self._width_labels) and self.is_attached
        if self._building_layers:
            self.call_later(self._show_layers)

    # ------------------------------------------------------------------ changing them

    def say(self, text: str, error: bool = False) -> None:
        self.query_one("#controls-message", Static).update(
            Text(self.app.for_student(text), style="bold red" if error else "dim"))

    def change(self, *changes) -> bool:
        """Ask the app for ``changes``; show why they were refused, if they were."""
        cfg = self.config()
        if cfg is not None and unchanged(cfg, changes):
            self.say("unchanged")
            return True
        refused = self.app.configure(tuple(changes))
        if refused:
            self.refuse(refused)
            return False
        # "set" only once the runs show it: the trainer may still refuse (a data file that
        # does not load, a network too big for the machine), and then ``refused`` says why.
        self._pending = tuple(changes)
        self.say("setting " + described(changes) + "…")
        return True

    def refuse(self, reason: str) -> None:
        """Refuse a change here: said where the eye is too (a notice at the top of the screen:
        the panel's own line can be below the part of it on screen), the field keeping what
        was typed, to fix."""
        self.app.notify(self.app.for_student(reason), title="refused", severity="error",
                        markup=False)
        self.refused(reason)

    def refused(self, reason: str) -> None:
        """Say why a change was refused, and show the settings that stay (the field being
        typed in keeps its text)."""
        self._pending = ()
        self.say(reason, error=True)
        self._shown = None
        self.sync()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        key, value = event.select.name, event.value
        cfg = self.config()
        if key == "data.path":      # a file of the class's data folder, by name
            if value != Select.BLANK:
                self._take_csv(lambda: folder_file(self.app.data_folder, value))
            return
        if cfg is None or self._shown is None or value == get_value(cfg, key):
            return
        csv = key == "data.kind" and value == "csv"
        self.query_one("#csv-row").display = csv
        if csv:
            self.query_one("#control-data-path").focus()
            self.say("the CSV file: its last column is the target")
            return
        self.change((key, value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        key = event.input.name
        if key == "data.path":
            self._take_csv(lambda: typed_csv_path(event.value))
            return
        try:
            value = typed_value(key, event.value)
        except ConfigError as err:
            self.refuse(str(err))
            return
        self.change((key, value))

    def _take_csv(self, locate) -> None:
        """Train on the CSV file ``locate()`` names, or say why not."""
        try:
            changes = csv_changes(locate())
        except ConfigError as err:
            self.refuse(str(err))
            return
        if self.change(*changes):
            self.query_one("#csv-row").display = False

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        if self._shown is None:
            return
        features = tuple(f for i, f in enumerate(DERIVED_FEATURES) if self.query_one(f"#feature-{i}", Toggle).value)
        self.change(("data.features", features))

    def latest(self, key: str):
        """``key``'s value as last asked for: a change still on its way to the runs counts, so
        five quick presses of a unit's + add five units, not one."""
        return dict(self._pending).get(key, get_value(self.config(), key))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.config() is None:
            return
        button = event.button.id or ""
        if button.startswith("layer-"):
            self.change(("model.layers", layer_changes(self.latest("model.layers"),
                                                       button.removeprefix("layer-"))))
        elif button.startswith("units-"):
            _, action, index = button.split("-")
            self.change(("model.layers", layer_changes(self.latest("model.layers"), action, int(index))))
        elif button in ("lr-half", "lr-double"):
            self.change(("train.lr", self.latest("train.lr") * (0.5 if button == "lr-half" else 2.0)))
        elif button == "seed-next":
            self.change(("train.seed", self.app.next_seed()))

    def action_leave(self) -> None:
        if isinstance(self.screen, ControlsScreen):
            self.screen.dismiss()
        else:
            self.screen.set_focus(None)

    def action_section(self, step: int) -> None:
        """pgdn / pgup: the first control of the next or the previous section (data, features,
        network, training, regularisation), so that a control at the bottom is a few keys away, not twenty tabs."""
        node, children = self.screen.focused, list(self.children)
        while node is not None and node.parent is not self:
            node = node.parent
        before = children[:children.index(node) + 1] if node is not None else []
        current = max(0, sum(child.has_class("controls-section") for child in before) - 1)
        target = min(max(current + step, 0), len(SECTIONS) - 1)
        self.focus_control(SECTIONS[target][1][0])

    def focus_control(self, key: str) -> None:
        """Put the focus on ``key``'s control (the palette's "set …" commands)."""
        if key == "data.path":
            self.query_one("#csv-row").display = True
        for widget in self.query("Choice, Input, Toggle"):
            if widget.name == key or (key == "data.features" and isinstance(widget, Toggle)):
                widget.focus()
                self.scroll_to_widget(widget)
                return


class ControlsScreen(Modal[None]):
    """The controls over the dashboard, for screens too narrow to keep them beside the panes.
    A modal screen hides the app's keys: those whose effect the status line below it shows
    (pause, a step, a reset) are its own, with `c` to close, help and quit, as beside the panes
    (a field being typed in takes its letters first)."""

    BINDINGS = [Binding("escape,c", "dismiss", "Close", id="close-controls"),
                Binding("space", "app.toggle_pause", "Pause", id="controls-pause"),
                Binding("n", "app.step", "Step", id="controls-step"),
                Binding("r", "app.reset", "Reset", id="controls-reset"),
                Binding("question_mark", "app.help", "Help", id="controls-help", key_display="?"),
                Binding("q", "app.quit", "Quit", id="controls-quit")]

    def compose(self) -> ComposeResult:
        yield ControlsPanel(id="controls-dialog")

    def on_mount(self) -> None:
        """The first control takes the keys at once (enter or ↓ opens its list), as beside
        the panes."""
        panel = self.query_one(ControlsPanel)
        self.call_after_refresh(panel.focus_control, "data.kind")

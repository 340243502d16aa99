"""Modal screens: the help page, the lesson picker and where to write the experiment."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ..core.report import write_atomically
from .modal import Modal
from .panes import PANES


def dashboard_bindings(app) -> list[Binding]:
    """Every key of the dashboard: the app's (training) and the dashboard screen's (view)."""
    from .dashboard import DashboardScreen

    return [*app.BINDINGS, *DashboardScreen.BINDINGS]


# The words the panes use, each as a beginner needs it: what it is, and what to read in it.
GLOSSARY = (
    ("step", "one update of the weights, from one batch of training examples"),
    ("batch", "the examples one step learns from (batch size 0: all of them)"),
    ("epoch", "as many steps as it takes to use every training example once"),
    ("loss", "how wrong the network is on average: cross-entropy for classes, mean squared "
             "error for numbers; training lowers it"),
    ("train / val / test", "the three splits of the data: the network learns from train; val "
                           "(validation) shows how it does on examples it never learned from; "
                           "test is kept for one final score"),
    ("accuracy", "the share of examples given the right class"),
    ("learning rate", "how far each step moves the weights along the gradient (lr)"),
    ("gradient", "for each weight, how fast the loss changes as that weight grows; "
                 "backpropagation computes it with the chain rule"),
    ("gradient norm", "the size of one layer's gradient (the square root of the sum of "
                      "squares), averaged over the steps since the last check"),
    ("update ratio", "how far a step moved a layer's weights, as a share of their size"),
    ("vanishing", "an early layer's gradient under 1/1000 of the output layer's: it hardly "
                  "learns"),
    ("exploding", "a step that moves a layer's weights by more than 30% of their size, or a "
                  "run whose numbers overflowed (diverged)"),
    ("diverged", "the loss became infinite, not a number, or over a million times its first "
                 "value (train.divergence_factor): the run stops there"),
    ("dead unit", "a ReLU unit that outputs 0 on every training point: no gradient reaches "
                  "its weights"),
    ("dropout", "while training, each hidden unit is switched off at random with this "
                "probability, so the network cannot lean on any one of them"),
    ("L1 / L2", "penalties on the weights added to the loss (L1: their absolute values, L2: "
                "their squares); AdamW's weight decay shrinks the weights directly instead"),
    ("unit, weight, bias", "a unit (neuron) adds up its inputs, each times a weight, plus its "
                           "bias, and passes the sum through the activation function; weights "
                           "and biases are what training changes"),
    ("activation", "the function a unit applies to its sum (tanh, ReLU, sigmoid…); without "
                   "it any stack of layers computes only a linear function of the inputs"),
    ("optimizer", "the rule that turns gradients into a step: SGD moves each weight by the "
                  "learning rate times its gradient; momentum steps along a decaying sum of "
                  "past gradients; Adam steps, weight by weight, along a running average of "
                  "the gradient divided by the root of a running average of its square"),
    ("median", "the middle of several values, as many above as below; one run that blew up "
               "does not move it, as it would move the mean"),
    ("loss landscape", "the training loss over a plane of weight space through the run's "
                       "weights now, spanned by the two directions along which its weights "
                       "moved most (the PCA of their path; two random directions before "
                       "there is a path)"),
    ("decision boundary", "where the network's answer changes class, over the input plane"),
    ("weight histogram", "how many of a layer's weights have each value"),
)


class HelpScreen(Modal[None]):
    """Every key and what it does, what each pane shows, and the words the panes use."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", id="close-help")]

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold cyan", no_wrap=True)
        keys.add_column()
        for binding in dashboard_bindings(self.app):
            keys.add_row(binding.key_display or binding.key, binding.tooltip or binding.description)
        panes = Table.grid(padding=(0, 2))
        panes.add_column(style="bold", no_wrap=True)
        panes.add_column()
        for pane in PANES:
            panes.add_row(pane.TITLE, pane.HELP)
        words = Table.grid(padding=(0, 2))
        words.add_column(style="bold", no_wrap=True)
        words.add_column()
        for word, meaning in GLOSSARY:
            words.add_row(word, meaning)
        with Vertical(id="help-dialog"):
            with VerticalScroll():
                yield Static(Text("Keys", style="bold underline"))
                yield Static(keys)
                yield Static(Text("\nPanes", style="bold underline"))
                yield Static(panes)
                yield Static(Text("\nWords", style="bold underline"))
                yield Static(words)
                yield Static(Text("\nctrl+p opens the command palette with the same actions.", style="dim"))
            yield Static(Text("escape closes", style="dim"), id="help-footer")

    def on_mount(self) -> None:
        self.query_one("#help-dialog").border_title = "nnsim help"


class ScenarioPicker(Modal[str | None]):
    """The built-in lessons with their one-line summaries; Enter opens one."""

    BINDINGS = [Binding("escape", "choose(None)", "Cancel", id="close-picker")]

    def __init__(self, lessons: list[tuple[str, str, str]], current: str) -> None:
        """``lessons``: (name, title, summary) of each built-in lesson."""
        super().__init__()
        self.lessons = lessons
        self.current = current

    def compose(self) -> ComposeResult:
        options = []
        for name, title, summary in self.lessons:
            prompt = Text.assemble((name, "bold"))
            prompt.append(f"  {title}")
            if summary:
                prompt.append(f"\n  {summary}", style="dim")
            options.append(Option(prompt, id=name))
        with Vertical(id="picker-dialog"):
            yield OptionList(*options, id="picker-list")
            yield Static(Text("enter opens · escape cancels", style="dim"), id="picker-footer")

    def on_mount(self) -> None:
        self.query_one("#picker-dialog").border_title = "Choose a lesson"
        option_list = self.query_one(OptionList)
        names = [name for name, _, _ in self.lessons]
        if self.current in names:
            option_list.highlighted = names.index(self.current)
            # the current lesson first in view, whole, rather than cut off at the bottom
            self.call_after_refresh(option_list.scroll_to_highlight, True)
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_choose(event.option.id)

    def action_choose(self, name: str | None) -> None:
        self.dismiss(name)      # once: a second enter or escape is ignored (``Modal``)


class WriteScreen(Modal[None]):
    """Where to write the experiment as a scenario file: a path to confirm with enter; a file
    that exists is overwritten only after a second enter on the same path."""

    BINDINGS = [Binding("escape", "dismiss", "Cancel", id="close-write")]

    def __init__(self, text: str, path: Path) -> None:
        super().__init__()
        self.text = text
        self.path = path
        self._overwrite: Path | None = None     # the existing file a second enter replaces

    def compose(self) -> ComposeResult:
        with Vertical(id="write-dialog"):
            yield Static(Text("The setup as a scenario file: `nnsim run FILE` replays it, `nnsim "
                              "FILE` opens it here.", style="dim"))
            yield Input(str(self.path), id="write-path")
            yield Static(Text("enter writes · escape cancels", style="dim"), id="write-note")

    def on_mount(self) -> None:
        self.query_one("#write-dialog").border_title = "Write the experiment"
        self.query_one(Input).focus()

    def on_input_changed(self) -> None:
        self._overwrite = None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        note = self.query_one("#write-note", Static)
        try:
            exists, folder = path.exists(), path.is_dir() or not path.name
        except OSError as err:      # a name too long for the file system, a folder not readable
            note.update(Text(f"cannot write {path}: {err.strerror or err}", style="bold red"))
            return
        if folder:
            note.update(Text(f"{path} is a folder: name the file", style="bold red"))
            return
        if exists and self._overwrite != path:
            self._overwrite = path
            note.update(Text(f"{path} exists: enter again replaces it, or change the name",
                             style="bold yellow"))
            return
        try:
            written = write_atomically(path.parent, path.name, self.text)
        except OSError as err:
            note.update(Text(f"cannot write {path}: {err.strerror or err}", style="bold red"))
            return
        self.app.notify(f"{written}\nnnsim run {written} replays it", title="written", markup=False)
        self.dismiss()

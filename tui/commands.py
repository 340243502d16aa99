"""The command palette's view of the dashboard: every binding and every control of the controls
panel, searchable by its help text."""

from __future__ import annotations

from functools import partial

from textual.await_complete import AwaitComplete
from textual.command import CommandList, DiscoveryHit, Hit, Hits, Provider
from textual.command import CommandPalette as TextualPalette
from textual.message import Message
from textual.widgets import Input

from .controls import palette_commands


class CommandPalette(TextualPalette):
    """Textual's palette, safe against keys that arrive in one burst (a paste, a slow link, a
    browser's queued keys): a second enter that comes before the palette has gone would close
    the screen under it (the dashboard itself, or the controls its command just opened), and a
    key that moves in the command list before the list is made, or PageUp or PageDown before it
    is laid out, asks for what is not there yet. Typing that reaches it after escape would start
    a search in a palette whose list is already gone."""

    def dismiss(self, result=None) -> AwaitComplete:
        if not self.is_active:      # already closed (or the app closing): the key came too late
            return AwaitComplete()
        self._cancel_gather_commands()
        return super().dismiss(result)

    def check_message_enabled(self, message: Message) -> bool:
        if isinstance(message, Input.Changed) and not self.is_active:
            return False            # typed before escape, arriving after it
        return super().check_message_enabled(message)

    def _action_command_list(self, action: str) -> None:
        commands = self.query(CommandList)
        if not commands:                    # the palette is not composed yet
            return
        if action.startswith("page_") and (commands.first().highlighted or 0) not in \
                commands.first()._index_to_line:
            return
        super()._action_command_list(action)


class DashboardCommands(Provider):
    """Offers each of the dashboard's bindings (pause, step, reset, log scale, …) as a command."""

    def _commands(self):
        app = self.app
        for owner in (app, app.dashboard):      # training keys, then the screen's view keys
            for binding in owner.BINDINGS:
                if binding.id is None or binding.id == "quit":
                    continue
                title = binding.tooltip or binding.description
                run = partial(app.run_action, binding.action, owner)
                yield title, f"key: {binding.key_display or binding.key}", run

    async def discover(self) -> Hits:
        for title, help_text, run in self._commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, run in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help_text)


class ControlCommands(DashboardCommands):
    """Offers each control of the controls panel (set the activation to relu, add a layer, …)."""

    def _commands(self):
        frame = self.app.frame
        if frame is None:
            return
        for title, key, what in palette_commands(frame.configs[0], self.app.class_files):
            yield title, key, partial(self.app.apply_control, what)

"""The command palette's view of the dashboard's keys: every binding, searchable by its help text."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class DashboardCommands(Provider):
    """Offers each of the app's bindings (pause, step, reset, …) as a palette command."""

    def _commands(self):
        for binding in self.app.BINDINGS:
            if binding.id is None or binding.id == "quit":
                continue
            title = binding.tooltip or binding.description
            yield title, f"key: {binding.key_display or binding.key}", binding.action

    async def discover(self) -> Hits:
        for title, help_text, action in self._commands():
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action),
                          help=help_text)

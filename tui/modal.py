"""The one base of nnsim's modal screens: closed at most once, by whichever key comes first.

Keys can arrive in one burst (a paste, a slow SSH link, a browser's queued keys): enter in a
dialog, then escape, both reach the screen before it has gone. Textual would pop a screen for
each, and the second pop takes whatever lies under the dialog, the dashboard itself (a crash)
or the help its own key just opened.
"""

from __future__ import annotations

from textual.await_complete import AwaitComplete
from textual.screen import ModalScreen, ScreenResultType


class Modal(ModalScreen[ScreenResultType]):
    """A modal screen that ignores a request to close once it is no longer the top screen."""

    def dismiss(self, result: ScreenResultType | None = None) -> AwaitComplete:
        if not self.is_active:      # already closed, or covered: the key came too late
            return AwaitComplete()
        return super().dismiss(result)

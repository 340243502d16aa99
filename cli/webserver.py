"""textual-serve's server, fitted for a classroom (imported only with the web extra installed)."""

from __future__ import annotations

import asyncio
import re

from textual_serve.server import Server

# textual-serve's page fetches its font from Google; a classroom may have no internet, and a
# student's browser need not tell Google who is in it. The same font ships with textual-serve.
WEB_FONT = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>")
LOCAL_FONT = ('<style>@font-face { font-family: "Roboto Mono"; '
              'src: url("/static/fonts/RobotoMono-VariableFont_wght.ttf"); }</style>')


class ClassroomServer(Server):
    """Announces itself in one line instead of a banner, and serves a page that needs nothing
    from outside this server.

    The page tells the browser where the session's websocket is; textual-serve builds that
    from the host it listens on, which for 0.0.0.0 is no address a student can reach, so each
    page names the host the browser itself asked for.

    On Ctrl+C aiohttp would wait for every open websocket to end by itself (about half a
    minute) before cancelling it; cancelling at once ends each session the same way, its app
    told to quit and its page told the session ended.
    """

    def __init__(self, command: str, *, host: str, port: int, title: str, announcement: str):
        super().__init__(command, host=host, port=port, title=title)
        self.announcement = announcement
        self.sessions: set[asyncio.Task] = set()

    async def handle_index(self, request):
        self.public_url = f"{request.scheme}://{request.host}"
        page = await super().handle_index(request)
        page.text = WEB_FONT.sub(LOCAL_FONT, page.text)
        return page

    async def handle_websocket(self, request):
        session = asyncio.current_task()
        self.sessions.add(session)
        try:
            return await super().handle_websocket(request)
        finally:
            self.sessions.discard(session)

    async def on_shutdown(self, app) -> None:
        for session in self.sessions:
            session.cancel()

    async def on_startup(self, app) -> None:
        print(self.announcement, flush=True)

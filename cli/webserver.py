"""textual-serve's server, fitted for a classroom (imported only with the web extra installed).

What it decides (which hosts, origins, sizes and messages it accepts) lives in ``serve``, in
plain Python; this module applies it to textual-serve's requests.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal

from aiohttp import WSMsgType, web
from textual_serve.server import Server

from .serve import Host, admits, client_message, same_origin, terminal_size

# textual-serve's page fetches its font from Google; a classroom may have no internet, and a
# student's browser need not tell Google who is in it. The same font ships with textual-serve.
WEB_FONT = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>")
DEFAULT_SIZE = (80, 24)         # textual-serve's, for a client that names no size
REFUSED_HOST = "nnsim: this server answers only at its own address; ask your teacher for the link."
REFUSED_ORIGIN = "nnsim: only this server's own page may open a session."
FULL = "The class is full: {taken}; try again when someone closes a tab."
FULL_PAGE = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>nnsim: the class is full'
             '</title></head><body style="background: #0c181f; color: #eee; font: 20px sans-serif;'
             ' margin: 3em"><p>{text}</p></body></html>')


# A square plane is drawn in half blocks, two pixels a character: N characters wide, N / 2
# rows tall, square where a character cell is twice as tall as wide. Roboto Mono is 0.6 em
# wide and its line box 1.32 em tall (9 x 21 pixels at textual-serve's 16 px: a square drawn
# 17% taller than wide). Its line box is set to just under 1.2 em, and the size to 15 px, where
# xterm.js's cell, rounded to whole pixels, is 9 x 18.
FONT_SIZE = 15
FONT_FACE = ('@font-face {{ font-family: "Roboto Mono"; src: url("{url}"); '
             "ascent-override: 95.5%; descent-override: 24%; line-gap-override: 0%; }}")
# The page takes the keys as soon as its session is there: textual-serve leaves the focus on
# the page's body, where keys go nowhere until a click, and the app starts blurred, its footer
# empty, until the page says it has the focus. xterm.js reads keys from its hidden text area:
# the script focuses it once the session's socket is open (the page's body is marked
# "-loaded"), and once the app has drawn (marked "-first-byte": the app has started and
# blurred itself) moves the focus off and back, which the page reports to the app.
TAKE_KEYS = ("<script>addEventListener(\"load\", () => {{ "
             "const when = (mark, then) => {{ const keys = document.querySelector("
             "\"#terminal .xterm-helper-textarea\"); "
             "if (keys && document.body.classList.contains(mark)) then(keys); "
             "else setTimeout(() => when(mark, then), 20); }}; "
             "when(\"-loaded\", keys => keys.focus({{preventScroll: true}})); "
             "when(\"-first-byte\", keys => setTimeout(() => {{ if (document.activeElement === keys) "
             "{{ keys.blur(); keys.focus({{preventScroll: true}}); }} }}, 250)); "
             "}});</script>")


def page_head(public_url: str, behind_proxy: bool) -> str:
    """What replaces the page's Google font: the font from this server (with cells in which a
    square is square), the script that gives the terminal the keys, and behind a reverse
    proxy a fix for downloads. textual-serve's script fetches a download (``w``, ``e``) from
    the page's origin + ``/download/``, which misses a path prefix and so the server that
    holds the file; it is sent to the public URL instead."""
    font = f"{public_url}/static/fonts/RobotoMono-VariableFont_wght.ttf"
    head = f"<style>{FONT_FACE.format(url=font)}</style>" + TAKE_KEYS.format()
    if behind_proxy:
        head += ("<script>{const open = window.open; window.open = (url, ...rest) => open("
                 'String(url).replace(location.origin + "/download/", '
                 f'{json.dumps(public_url + "/download/")}), ...rest);}}</script>')
    return head


class ClassroomServer(Server):
    """Answers only at its own addresses, grants no more than ``max_sessions`` sessions nor
    a terminal larger than ``serve.MAX_COLUMNS`` x ``MAX_ROWS``, announces itself in one line
    instead of a banner, and serves a page that needs nothing from outside this server.

    The page tells the browser where the session's websocket is; textual-serve builds that
    from the host it listens on, which for 0.0.0.0 is no address a student can reach, so each
    page names the (admitted) host the browser itself asked for, or the ``--public-url``.

    On Ctrl+C aiohttp would wait for every open websocket to end by itself (about half a
    minute) before cancelling it; cancelling at once ends each session the same way, its app
    told to quit and its page told the session ended.
    """

    def __init__(self, command: str, *, host: str, port: int, title: str, announcement: str,
                 allowed: frozenset[Host], public_url: str | None, max_sessions: int):
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.announcement = announcement
        self.allowed = allowed
        self.fixed_public_url = public_url
        self.max_sessions = max_sessions
        self.sessions: set[asyncio.Task] = set()

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.check_host)
        return app

    @web.middleware
    async def check_host(self, request: web.Request, handler):
        """Every request (page, websocket, static files, downloads) names an allowed host;
        the refusal does not repeat the name it was given."""
        here = request.transport.get_extra_info("sockname") if request.transport else None
        if not admits(self.allowed, request.headers.get("Host"), here and here[:2]):
            raise web.HTTPForbidden(text=REFUSED_HOST)
        return await handler(request)

    def full(self) -> bool:
        return len(self.sessions) >= self.max_sessions

    def full_text(self) -> str:
        n = self.max_sessions
        return FULL.format(taken="its one session is in use" if n == 1 else
                           f"all {n} of its sessions are in use")

    async def handle_index(self, request):
        if self.full():
            return web.Response(status=503, content_type="text/html",
                                text=FULL_PAGE.format(text=self.full_text()))
        self.public_url = self.fixed_public_url or f"{request.scheme}://{request.headers['Host']}"
        if "fontsize" not in request.query:
            request = request.clone(rel_url=request.rel_url.update_query(fontsize=FONT_SIZE))
        page = await super().handle_index(request)
        page.text = WEB_FONT.sub(page_head(self.public_url, self.fixed_public_url is not None),
                                 page.text)
        return page

    async def handle_websocket(self, request):
        """A session for this server's own page while there is room, at a bounded size."""
        if not same_origin(request.headers.get("Origin"), request.headers["Host"],
                           self.fixed_public_url):
            raise web.HTTPForbidden(text=REFUSED_ORIGIN)
        if self.full():
            raise web.HTTPServiceUnavailable(text=self.full_text())
        width, height = terminal_size(request.query.get("width"),
                                      request.query.get("height")) or DEFAULT_SIZE
        bounded = request.clone(rel_url=request.rel_url.with_query(width=width, height=height))
        session = asyncio.current_task()
        self.sessions.add(session)
        try:
            return await super().handle_websocket(bounded)
        finally:
            self.sessions.discard(session)

    async def _process_messages(self, websocket: web.WebSocketResponse, app_service) -> None:
        """textual-serve's message loop, taking only well-formed messages (``client_message``)."""
        async for message in websocket:
            found = client_message(message.data) if message.type == WSMsgType.TEXT else None
            if found is None:
                continue
            kind, value = found
            if kind == "stdin":
                await app_service.send_bytes(value)
            elif kind == "resize":
                await app_service.set_terminal_size(*value)
            elif kind == "ping":
                await websocket.send_json(["pong", value])
            elif kind == "blur":
                await app_service.blur()
            else:
                await app_service.focus()

    async def on_shutdown(self, app) -> None:
        for session in self.sessions:
            session.cancel()

    def serve(self, debug: bool = False) -> None:
        """textual-serve's ``serve``, announcing once the socket listens: aiohttp runs the
        application's startup before it binds, and a client that believed an announcement made
        there was refused (seen in the suite on an idle machine)."""
        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self.request_exit)
            loop.add_signal_handler(signal.SIGTERM, self.request_exit)
        except NotImplementedError:         # Windows: Ctrl+C ends the loop by itself
            pass
        web.run_app(self._make_app(), host=self.host, port=self.port, handle_signals=False,
                    loop=loop, print=lambda _banner: print(self.announcement, flush=True))

    async def on_startup(self, app) -> None:
        """textual-serve prints its banner here; the announcement comes once the socket listens."""

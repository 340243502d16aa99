"""``nnsim serve``: the dashboard in web browsers, for a classroom or a projector.

textual-serve (the optional ``[web]`` extra, see ``webserver``) runs one ``nnsim`` process per
browser session and relays its screen over a websocket, so every student gets their own app
and their own run of the same lesson, and a closed tab ends its process. The server itself loads no
kernels: it only checks the scenario once, so a typo is reported before anyone connects.
"""

from __future__ import annotations

import shlex
import socket
import sys
from pathlib import Path

from .core.scenario import load_scenario, parse_override

INSTALL_HINT = "nnsim serve needs the web extra: python3 -m pip install 'nnsim[web]' " \
               "(from a clone: python3 -m pip install '.[web]')"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
EVERY_INTERFACE = ("0.0.0.0", "::", "")


class ServeError(Exception):
    """Something that keeps the server from starting; the message is one line for the user."""


def session_command(scenario: str, seed: int | None, overrides: tuple[str, ...]) -> str:
    """The shell command textual-serve runs for each session: this Python's ``nnsim``.

    ``exec`` makes the app the server's own child (not a shell's), so closing a tab ends the
    very process that holds the run; shlex quotes paths with spaces or quotes in them.
    """
    words = [sys.executable, "-m", "nnsim", scenario]
    if seed is not None:
        words += ["--seed", str(seed)]
    for text in overrides:
        words += ["--set", text]
    return "exec " + shlex.join(words)


def where_served(host: str, port: int) -> str:
    """The URL to open, and who can reach it."""
    if host in LOCAL_HOSTS:
        return f"http://{host}:{port} (this machine only; --host 0.0.0.0 lets other machines in)"
    if host in EVERY_INTERFACE:
        return f"http://{socket.gethostname()}:{port} (open to every network this machine is on)"
    return f"http://{f'[{host}]' if ':' in host else host}:{port} (open to the network on {host})"


def check_free(host: str, port: int) -> None:
    """Bind once and let go, so a taken port is reported in one line before the server says
    where it serves (textual-serve announces itself before it binds)."""
    try:
        socket.create_server((host, port)).close()
    except OSError as err:
        raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def serve(scenario: str, *, host: str, port: int, seed: int | None,
          overrides: tuple[str, ...] = ()) -> int:
    """Serve the dashboard until Ctrl+C; raises ``ServeError`` or ``ScenarioError``.

    ``overrides`` are ``--set`` texts, handed to every session as they were typed."""
    try:
        from .webserver import ClassroomServer
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith(("textual_serve", "aiohttp", "jinja2")):
            raise
        raise ServeError(INSTALL_HINT) from None
    loaded = load_scenario(scenario, seed=seed,
                           overrides=tuple(parse_override(text) for text in overrides))
    # A file is named by its absolute path, so a session does not depend on a working directory.
    target = str(Path(scenario).resolve()) if Path(scenario).is_file() else scenario

    check_free(host, port)
    ClassroomServer(session_command(target, seed, overrides), host=host, port=port,
                    title=f"nnsim: {loaded.title}",
                    announcement=f"nnsim: serving {loaded.name} at {where_served(host, port)}; "
                                 "Ctrl+C stops").serve()
    return 0

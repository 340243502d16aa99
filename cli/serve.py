"""``nnsim serve``: the dashboard in web browsers, for a classroom or a projector.

textual-serve (the optional ``[web]`` extra, see ``webserver``) runs one ``nnsim`` process per
browser session and relays its screen over a websocket, so every student gets their own app
and their own run of the same lesson, and a closed tab ends its process. The server itself loads no
kernels: it only checks the scenario once, so a typo is reported before anyone connects.

A session is a student who may name nothing on the server (``--served``: files go to the
browser as downloads, data comes from the built-in sets and the teacher's ``--data`` folder).
This module holds what the server decides about the world outside, in plain Python: which
addresses and pages it answers, how large a terminal it grants, how many sessions it runs, and
how a session ends with its server.
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import os
import re
import resource
import shlex
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from .core.scenario import load_scenario, parse_override

INSTALL_HINT = "nnsim serve needs the web extra: python3 -m pip install 'nnsim[web]' " \
               "(from a clone: python3 -m pip install '.[web]')"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
EVERY_INTERFACE = ("0.0.0.0", "::", "")
# A terminal of 10000x10000 cells took a session to 1.6 GB; no screen shows more than this.
MAX_COLUMNS, MAX_ROWS = 400, 150
# README: a 2-core machine kept keys under 300 ms for 17-18 sessions at the default pace, each
# about 210 MB resident; a little under both, so the machine is not full before the class is.
SESSIONS_PER_CORE = 8
SESSION_BYTES = 250 * 2**20
MEMORY_SHARE = 0.8
# Set in the server's environment, which textual-serve hands to every session it starts.
SERVER_PID_VARIABLE = "NNSIM_SERVER_PID"
SESSION_MEMORY_VARIABLE = "NNSIM_SESSION_BYTES"     # each session's address-space limit
# A session maps 0.65 GiB once its kernels are loaded and 0.75 GiB at the peak of a first
# compile (VmSize, measured): its limit is that, rounded up, plus its share of the free memory.
SESSION_MAPPED_BYTES = 2**30
SESSION_SHARE_FLOOR = 2**30
PR_SET_PDEATHSIG = 1            # linux/prctl.h
ORPHAN_POLL_SECONDS = 1.0
HOST_NAME = re.compile(r"[a-z0-9._-]+|\[[0-9a-f:.]+\]")
URL_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)*/?")

Host = tuple[str, int | None]   # a name or address, and a port (None: any port)


class ServeError(Exception):
    """Something that keeps the server from starting; the message is one line for the user."""


def session_command(scenario: str, seed: int | None, overrides: tuple[str, ...],
                    data_folder: Path | None = None) -> str:
    """The shell command textual-serve runs for each session: this Python's ``nnsim``, served.

    ``exec`` makes the app the server's own child (not a shell's), so closing a tab ends the
    very process that holds the run, and the server's death reaches it (``join_server``);
    shlex quotes paths with spaces or quotes in them.
    """
    words = [sys.executable, "-m", "nnsim", scenario]
    if seed is not None:
        words += ["--seed", str(seed)]
    for text in overrides:
        words += ["--set", text]
    words.append("--served")
    if data_folder is not None:
        words += ["--data", str(data_folder)]
    return "exec " + shlex.join(words)


def split_host(text: str) -> tuple[str, int | None] | None:
    """A Host header (``name``, ``name:port``, ``[::1]:port``) as (name, port), the name in
    one spelling (lower case, an address in its short form); None when it is not one."""
    text = text.strip().lower()
    name, port = text, None
    if ":" in text.rpartition("]")[2]:
        name, _, port_text = text.rpartition(":")
        if not re.fullmatch(r"[0-9]{1,5}", port_text) or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    if not HOST_NAME.fullmatch(name):
        return None
    bracketed, name = name.startswith("["), name.strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None if bracketed or not name else (name, port)
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address), port


def machine_names() -> set[str]:
    """What other machines may call this one: its host name, FQDN and their addresses."""
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        names |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:             # a host name that does not resolve: the names alone
        pass
    return names


def allowed_list(host: str, port: int, extra: tuple[str, ...] = (),
                 public_url: str | None = None) -> frozenset[Host]:
    """The Host headers the server answers: the address it listens on with its port (for
    every interface: the machine's names and addresses, and loopback), and with any port each
    ``--allow-host`` name and the public URL's host, which a reverse proxy forwards.

    Any other name reaching this port is a browser that was sent here under a name not ours
    (DNS rebinding: a site whose name turns into this address); it is refused.
    """
    if host in LOCAL_HOSTS:
        listening = set(LOCAL_HOSTS)
    elif host in EVERY_INTERFACE:
        listening = machine_names() | set(LOCAL_HOSTS)
    else:
        listening = {host}
    allowed = {(found[0], port) for name in listening if (found := split_host(_bracketed(name)))}
    for name in extra:
        found = split_host(_bracketed(name))
        if found is None:
            raise ServeError(f"--allow-host: expected a host name such as class.example.org, "
                             f"got {name!r}")
        allowed.add(found)
    if public_url is not None:
        allowed.add((split_host(_bracketed(urlsplit(public_url).hostname or ""))[0], None))
    return frozenset(allowed)


def _bracketed(name: str) -> str:
    """An IPv6 address as a Host header or URL writes it."""
    return f"[{name}]" if name.count(":") > 1 and not name.startswith("[") else name


def admits(allowed: frozenset[Host], header: str | None,
           local: tuple[str, int] | None = None) -> bool:
    """Whether a request's Host header names this server (a header without a port came on
    port 80). ``local`` is the address and port the connection came in on, always ours: a
    student may type the server's address on a network where no name of it resolves to it."""
    found = split_host(header or "")
    if found is None:
        return False
    name, port = found[0], found[1] or 80
    here = split_host(_bracketed(local[0])) if local else None
    return ((name, port) in allowed or (name, None) in allowed
            or (here is not None and (name, port) == (here[0], local[1])))


def same_origin(origin: str | None, header: str, public_url: str | None) -> bool:
    """Whether a websocket comes from this server's own page: its Origin is the host the
    browser asked for (already admitted) or the public URL's. A request with no Origin is not
    from a browser, so no other site's page can have made it; any other origin is a page of
    another site, which must not get a session in its visitor's name."""
    if origin is None:
        return True
    seen = _origin(origin)
    if seen is None:
        return False
    host = split_host(header)
    if host is not None and seen[0] == host[0] and (seen[1] == host[1] or host[1] is None
                                                   and seen[1] in (80, 443)):
        return True
    return public_url is not None and seen == _origin(public_url)


def _origin(url: str) -> tuple[str, int] | None:
    """(name, port) of an http(s) origin or URL, the port filled in from the scheme."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    found = split_host(parts.netloc.rpartition("@")[2])
    if found is None:
        return None
    return found[0], found[1] or (443 if parts.scheme == "https" else 80)


def public_address(text: str) -> str:
    """``--public-url``: where browsers reach the server through a reverse proxy, e.g.
    ``https://class.example.org/nnsim/a``; without a trailing slash."""
    parts = urlsplit(text)
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query
            or parts.fragment or "@" in parts.netloc or not URL_PATH.fullmatch(parts.path)
            or split_host(parts.netloc) is None):
        raise ServeError(f"--public-url: expected an address such as "
                         f"https://class.example.org/nnsim, got {text!r}")
    return text.rstrip("/")


def terminal_size(width, height) -> tuple[int, int] | None:
    """A terminal size a client asks for (numbers, or the digits of a query string), bounded
    to ``MAX_COLUMNS`` x ``MAX_ROWS`` and at least one cell; None when it is not a size."""
    numbers = []
    for value in (width, height):
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        numbers.append(value)
    return (min(max(numbers[0], 1), MAX_COLUMNS), min(max(numbers[1], 1), MAX_ROWS))


def client_message(text: str) -> tuple[str, object] | None:
    """A message of the page's script (``["stdin", "w"]``, ``["resize", {"width": W,
    "height": H}]``, ping, blur, focus) as (kind, value): the keys as bytes, a resize as a
    bounded (width, height). None for anything else, which is ignored: a hand-made message
    must neither crash the session nor fill the server's log with tracebacks."""
    try:
        envelope = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(envelope, list) or not envelope or not isinstance(envelope[0], str):
        return None
    kind, value = envelope[0], envelope[1] if len(envelope) > 1 else None
    if kind == "stdin":       # as UTF-8; a lone surrogate (valid JSON) cannot be, and is "?"
        return (kind, value.encode("utf-8", "replace")) if isinstance(value, str) else None
    if kind == "resize":
        size = terminal_size(value.get("width"), value.get("height")) \
            if isinstance(value, dict) else None
        return (kind, size) if size else None
    if kind in ("ping", "blur", "focus"):
        return kind, value
    return None


def machine_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Linux's MemAvailable in bytes, else None. (``core.budget`` has the same reading but
    loads Numba, which the server, running no kernels, does without.)"""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_max_sessions(cores: int, available: int | None) -> int:
    """As many sessions as the cores draw at the default pace and the free memory holds."""
    by_cores = SESSIONS_PER_CORE * cores
    by_memory = by_cores if available is None else int(available * MEMORY_SHARE // SESSION_BYTES)
    return max(1, min(by_cores, by_memory))


def session_memory(available: int | None, max_sessions: int) -> int:
    """The address space each session may map (RLIMIT_AS): what nnsim itself maps, and a run's
    share of the memory free when the server starts, at least ``SESSION_SHARE_FLOOR``. The
    memory guard counts against it, so a network or data file too big for a student's share
    is refused in one line instead of taking the memory of the whole class."""
    share = SESSION_SHARE_FLOOR if available is None else int(available * MEMORY_SHARE / max_sessions)
    return SESSION_MAPPED_BYTES + max(SESSION_SHARE_FLOOR, share)


def data_folder_of(path: Path | None) -> Path | None:
    """``--data``: an absolute folder the server can list and read, or ServeError."""
    if path is None:
        return None
    if not path.is_dir():
        raise ServeError(f"--data {path}: not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ServeError(f"--data {path}: cannot read the folder")
    return path.resolve()


def where_served(host: str, port: int, public_url: str | None = None) -> str:
    """The URL to open, and who can reach it."""
    if public_url is not None:
        return f"{public_url} (through a reverse proxy to {_bracketed(host)}:{port})"
    if host in LOCAL_HOSTS:
        return f"http://{host}:{port} (this machine only; --host 0.0.0.0 lets other machines in)"
    if host in EVERY_INTERFACE:
        return f"http://{socket.gethostname()}:{port} (open to every network this machine is on)"
    return f"http://{_bracketed(host)}:{port} (open to the network on {host})"


def check_free(host: str, port: int) -> None:
    """Bind once and let go, so a taken port is reported in one line before the server says
    where it serves (textual-serve announces itself before it binds)."""
    try:
        socket.create_server((host, port)).close()
    except OSError as err:
        raise ServeError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def join_server() -> None:
    """Make this session end with the server that started it, however the server ends.

    A server killed with ``kill -9`` cannot end its sessions, which would train on, orphaned.
    On Linux the kernel sends this process SIGTERM when its parent dies (``PR_SET_PDEATHSIG``),
    which the app answers by restoring the terminal and exiting; elsewhere a thread watches
    for the parent to change. The server may have died before either was in place: then this
    process is no longer its child, and ends at once.
    """
    server = int(os.environ.get(SERVER_PID_VARIABLE, os.getppid()))
    _limit_memory(os.environ.get(SESSION_MEMORY_VARIABLE))
    if not (sys.platform == "linux" and _signal_on_parent_death()):
        threading.Thread(target=_end_when_orphaned, args=(server,), daemon=True,
                         name="join-server").start()
    if os.getppid() != server:
        signal.raise_signal(signal.SIGTERM)


def _limit_memory(text: str | None) -> None:
    """Lower this process's address-space limit to ``text`` bytes (never raise it)."""
    if not (text or "").isdigit():
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    bound = int(text) if hard == resource.RLIM_INFINITY else min(int(text), hard)
    if soft == resource.RLIM_INFINITY or bound < soft:
        resource.setrlimit(resource.RLIMIT_AS, (bound, hard))


def _signal_on_parent_death() -> bool:
    """Ask the kernel for SIGTERM when the parent dies; whether it agreed."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM,
                                                      0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _end_when_orphaned(server: int) -> None:
    while os.getppid() == server:
        time.sleep(ORPHAN_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def serve(scenario: str, *, host: str, port: int, seed: int | None,
          overrides: tuple[str, ...] = (), data_folder: Path | None = None,
          max_sessions: int | None = None, allowed_hosts: tuple[str, ...] = (),
          public_url: str | None = None) -> int:
    """Serve the dashboard until Ctrl+C; raises ``ServeError`` or ``ScenarioError``.

    ``overrides`` are ``--set`` texts, handed to every session as they were typed;
    ``allowed_hosts`` are ``--allow-host`` names, besides the address served on."""
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
    folder = data_folder_of(data_folder)
    public_url = None if public_url is None else public_address(public_url)
    hosts = allowed_list(host, port, allowed_hosts, public_url)
    available = available_memory()
    limit = max_sessions or default_max_sessions(machine_cores(), available)

    check_free(host, port)
    os.environ[SERVER_PID_VARIABLE] = str(os.getpid())
    os.environ[SESSION_MEMORY_VARIABLE] = str(session_memory(available, limit))
    ClassroomServer(session_command(target, seed, overrides, folder), host=host, port=port,
                    title=f"nnsim: {loaded.title}", allowed=hosts, public_url=public_url,
                    max_sessions=limit,
                    announcement=f"nnsim: serving {loaded.name} at "
                                 f"{where_served(host, port, public_url)}, up to {limit} "
                                 f"session{'s' * (limit != 1)}; Ctrl+C stops").serve()
    return 0

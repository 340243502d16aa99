"""`nnsim serve`: its one-line errors; what it decides about hosts, origins, terminal sizes
and sessions, in plain Python; attacks made through its websocket as another page's script or a
hand-made client would make them; and end to end in a real headless Chromium, driven by keys
and read off the page."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

try:
    import aiohttp                  # with the web extra, as textual_serve is
except ModuleNotFoundError:
    aiohttp = None

from nnsim import serve as served
from nnsim.__main__ import main
from conftest import PATIENCE, QUIET_ENDLESS, poll_until
from serving import STATUS, Browser, Server, alive, missing_browser

needs_web = pytest.mark.skipif(importlib.util.find_spec("textual_serve") is None,
                               reason="textual_serve is not installed (pip install '.[web]')")
MOVE = re.compile(rb"\x1b\[(\d+);(\d+)H")         # the app placing the cursor: row;column
ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|.)")


# What the server decides, in plain Python.

LOOPBACK = served.allowed_list("127.0.0.1", 8000)


@pytest.mark.parametrize("header, answered", [
    ("127.0.0.1:8000", True), ("localhost:8000", True), ("[::1]:8000", True),
    ("LocalHost:8000", True), ("[0:0::1]:8000", True),
    ("127.0.0.1:8001", False), ("127.0.0.1", False), ("evil.example:8000", False),
    ("localhost.evil.example:8000", False), ("", False), (None, False), ("[::1", False),
    ("[evil]:8000", False), ("127.0.0.1:8000 evil", False), ('localhost:8000"><script>', False),
    ("localhost:99999", False), ("::1", False),
])
def test_a_loopback_server_answers_only_its_own_names_and_port(header, answered):
    assert served.admits(LOOPBACK, header, ("127.0.0.1", 8000)) is answered


def test_every_interface_answers_the_machines_names_its_addresses_and_loopback(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "lab-pc")
    monkeypatch.setattr(socket, "getfqdn", lambda: "lab-pc.school.example")
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda *args: [(socket.AF_INET, 0, 0, "", ("192.168.1.5", 0))])
    allowed = served.allowed_list("0.0.0.0", 8000)
    for header in ("lab-pc:8000", "LAB-PC.school.example:8000", "192.168.1.5:8000",
                   "localhost:8000", "[::1]:8000"):
        assert served.admits(allowed, header), header
    for header in ("lab-pc:9000", "evil.example:8000", "192.168.1.6:8000"):
        assert not served.admits(allowed, header), header
    # The address a connection came in on is ours, as typed on a network with no names.
    assert served.admits(allowed, "10.0.0.7:8000", ("10.0.0.7", 8000))
    assert served.admits(allowed, "10.0.0.7:8000", ("::ffff:10.0.0.7", 8000))
    assert not served.admits(allowed, "10.0.0.7:8000", ("10.0.0.8", 8000))
    assert not served.admits(allowed, "10.0.0.7:9000", ("10.0.0.7", 8000))


def test_allowed_hosts_and_a_public_url_add_names_on_any_port():
    allowed = served.allowed_list("192.168.1.5", 8001, ("Class.Example.org", "proxy:8443",
                                                        "fd00::7"), "https://pub.example/nnsim/a")
    for header in ("192.168.1.5:8001", "class.example.org", "class.example.org:443",
                   "proxy:8443", "[fd00::7]:8001", "pub.example", "pub.example:8080"):
        assert served.admits(allowed, header), header
    for header in ("localhost:8001", "192.168.1.5:8000", "proxy", "evil.example"):
        assert not served.admits(allowed, header), header
    with pytest.raises(served.ServeError, match="--allow-host"):
        served.allowed_list("127.0.0.1", 8000, ("class example",))


@pytest.mark.parametrize("origin, header, public_url, same", [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", None, True),
    (None, "127.0.0.1:8000", None, True),                  # not a browser: no page made it
    ("http://evil.example", "127.0.0.1:8000", None, False),
    ("http://127.0.0.1:9000", "127.0.0.1:8000", None, False),   # another site on the machine
    ("http://127.0.0.1:8000.evil.example", "127.0.0.1:8000", None, False),
    ("null", "127.0.0.1:8000", None, False), ("file://", "127.0.0.1:8000", None, False),
    ("https://class.example.org", "class.example.org", None, True),     # a proxy's Host
    ("https://pub.example", "127.0.0.1:8001", "https://pub.example/nnsim/a", True),
    ("https://pub.example:8443", "127.0.0.1:8001", "https://pub.example/nnsim/a", False),
])
def test_a_websocket_must_come_from_the_servers_own_page(origin, header, public_url, same):
    assert served.same_origin(origin, header, public_url) is same


@pytest.mark.parametrize("asked, granted", [
    (("160", "45"), (160, 45)), (("10000", "10000"), (400, 150)), ((10**30, -5), (400, 1)),
    ((0, 0), (1, 1)), (("1e3", "4"), None), (("-5", "4"), None), ((True, 3), None),
    ((1.5, 3), None), (("", ""), None), ((None, None), None), (("\u0663", "4"), None),
])
def test_a_terminal_size_is_bounded_and_nonsense_ignored(asked, granted):
    assert served.terminal_size(*asked) == granted


@pytest.mark.parametrize("text, read", [
    ('["stdin", "w"]', ("stdin", b"w")), ('["stdin", "\\ud800"]', ("stdin", b"?")),
    ('["resize", {"width": 100000, "height": 100000}]', ("resize", (400, 150))),
    ('["resize", {"width": 120, "height": 40}]', ("resize", (120, 40))),
    ('["resize", {"width": "x", "height": 40}]', None), ('["resize", [1, 2]]', None),
    ('["stdin", 5]', None), ('["ping", 7]', ("ping", 7)), ('["focus"]', ("focus", None)),
    ('["quit"]', None), ("{}", None), ("[]", None), ("garbage", None), ("[" * 100000, None),
])
def test_a_page_message_is_read_or_ignored(text, read):
    assert served.client_message(text) == read


def test_the_default_session_limit_comes_from_cores_and_free_memory():
    assert served.default_max_sessions(2, 23 * 2**30) == 16           # cores decide
    assert served.default_max_sessions(2, 2**30) == 3                 # memory decides
    assert served.default_max_sessions(2, 100 * 2**20) == 1           # at least one
    assert served.default_max_sessions(4, None) == 32


def test_a_public_url_is_an_http_address_and_a_plain_path():
    assert served.public_address("https://class.example.org/nnsim/a/") == \
        "https://class.example.org/nnsim/a"
    for text in ("ftp://class.example.org", "https://class.example.org/?q=1",
                 "https://user@class.example.org/", "https://class.example.org/a b",
                 'https://class.example.org/"><script>', "class.example.org/nnsim"):
        with pytest.raises(served.ServeError, match="--public-url"):
            served.public_address(text)


def test_a_session_asks_for_no_server_path_but_the_teachers_data_folder(tmp_path):
    command = served.session_command("dropout", 3, ("train.lr=0.1",), tmp_path)
    assert command.startswith("exec ") and command.endswith(
        f"-m nnsim dropout --seed 3 --set train.lr=0.1 --served --data {tmp_path}")


# Each session's memory is bounded: the memory guard counts against its share.

def test_a_session_may_map_what_nnsim_needs_and_its_share_of_the_free_memory():
    gib = 2**30
    assert served.session_memory(None, 16) == 2 * gib
    assert served.session_memory(20 * gib, 16) == 2 * gib          # 0.8 x 20 / 16 = 1
    assert served.session_memory(64 * gib, 4) == gib + int(64 * gib * 0.8 / 4)
    assert served.session_memory(4 * gib, 40) == 2 * gib           # never below the floor


BOUNDED = """
import resource
from nnsim.serve import join_server
join_server()
print(resource.getrlimit(resource.RLIMIT_AS)[0], flush=True)
from nnsim.core import Run
from nnsim.core.config import ConfigError
try:
    Run({"model": {"layers": [6000, 6000]}})
except ConfigError as err:
    print(err.key, flush=True)
"""


def test_a_network_too_big_for_a_sessions_share_is_refused_not_allocated():
    """6000x6000 weights take about 2.6 GiB with their copies: a machine with memory free
    would allocate them; a session bounded to 1.5 GiB refuses them with the guard's line."""
    bound = 3 * 2**29
    session = subprocess.run([sys.executable, "-c", BOUNDED], capture_output=True, text=True,
                             env=_environment(NNSIM_SERVER_PID=str(os.getpid()),
                                              NNSIM_SESSION_BYTES=str(bound)), timeout=120)
    assert session.stdout.split() == [str(bound), "model.layers"], session.stderr


# A session ends with its server (join_server), whatever ends the server.

JOINED = "from nnsim.serve import join_server; join_server(); print('joined', flush=True)"
MIDDLE = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', "
          "sys.argv[1]]); print(child.pid, flush=True); time.sleep(60)")


def _environment(**variables) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != served.SERVER_PID_VARIABLE}
    return environment | variables


def test_a_session_whose_server_is_already_gone_ends_at_once():
    gone = subprocess.run([sys.executable, "-c", JOINED], capture_output=True, text=True,
                          env=_environment(NNSIM_SERVER_PID="1"), timeout=60)
    assert gone.returncode == -signal.SIGTERM and "joined" not in gone.stdout
    here = subprocess.run([sys.executable, "-c", JOINED], capture_output=True, text=True,
                          env=_environment(NNSIM_SERVER_PID=str(os.getpid())), timeout=60)
    assert here.returncode == 0 and here.stdout == "joined\n"


@pytest.mark.parametrize("watcher", ["kernel", "thread"])
def test_a_session_ends_when_its_server_is_killed(watcher):
    session = JOINED + "; import time; time.sleep(60)"
    if watcher == "thread":             # as on a system without prctl
        session = "import nnsim.serve as s; s._signal_on_parent_death = lambda: False; " + \
            session.replace("from nnsim.serve import join_server; join_server()", "s.join_server()")
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, session], stdout=subprocess.PIPE,
                              text=True, env=_environment())
    try:
        child = int(middle.stdout.readline())
        assert middle.stdout.readline() == "joined\n"
        middle.kill()
        poll_until(lambda: not alive(child), "the session to end with its killed server")
    finally:
        middle.kill()
        middle.wait()
        if alive(child):
            os.kill(child, signal.SIGKILL)


# The command line.

def test_without_the_web_extra_serve_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual_serve", None)     # import fails as if absent
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install" in err and "[web]" in err


def test_a_taken_port_or_a_bad_lesson_is_one_line_and_status_2(capsys):
    pytest.importorskip("textual_serve")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"nnsim: cannot listen on 127.0.0.1:{port}")
    assert main(["serve", "no-such-lesson"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("no-such-lesson: ")
    assert main(["serve", "--set", "train.lr=fast"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.lr" in err


@pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))
def test_a_browser_session_trains_takes_keys_and_ends_with_its_page_or_the_server(tmp_path):
    lesson = tmp_path / "endless lesson.toml"      # a space: the session command must quote it
    lesson.write_text(QUIET_ENDLESS)
    server = Server(str(lesson), "--seed", "3", "--set", "train.lr=0.0625",
                    log=tmp_path / "serve.log")
    browser = None
    try:
        assert server.url in server.output() and "this machine only" in server.output()
        page = urllib.request.urlopen(server.url).read().decode()
        fetched = re.findall(r"(?:href|src|url)[=(]\s*[\"']?([a-z]+://[^\"')\s]+)", page)
        here = server.url.partition("://")[2]
        assert fetched and all(a.partition("://")[2].startswith(here) for a in fetched), fetched
        browser = Browser(server.url, want=r"Pace.*Quit")      # the footer's keys
        poll_until(lambda: (browser.status() or ("", 0))[0] == "running",
                   f"the dashboard to run; the server said:\n{server.output()}")
        [session] = server.sessions()
        command = Path(f"/proc/{session}/cmdline").read_bytes().decode().split("\0")[:-1]
        assert command == [sys.executable, "-m", "nnsim", str(lesson), "--seed", "3",
                           "--set", "train.lr=0.0625", "--served"]
        assert "lr 0.0625" in browser.screen()
        # The page has the keyboard at once: a key typed with nothing clicked pauses the run
        # (they went nowhere until a click). A square plane is square in the page's cells.
        assert "xterm-helper-textarea" in browser.focused()
        poll_until(browser.seen, "the footer's keys (an app told it has the focus shows them)")
        width, height = browser.cell()
        assert height == pytest.approx(2 * width, rel=0.03), (width, height)

        browser.type(" ")
        _, paused_at = poll_until(lambda: (s := browser.status()) and s[0] == "paused" and s,
                                  "space, typed to the page as loaded, to pause the run")
        browser.press(" ")
        poll_until(lambda: (s := browser.status()) and s[0] == "running" and s[1] > paused_at,
                   "space to resume the run and the step counter to move on")
        browser.close()
        browser = None
        poll_until(lambda: session not in server.sessions(),
                   "the session's process to end with its page")

        browser = Browser(server.url)
        [session] = poll_until(server.sessions, "a second session")
        server.stop()
        poll_until(lambda: not alive(session), "stopping the server to end its sessions")
    finally:
        if browser is not None:
            browser.close()
        server.stop()


def test_a_bad_data_folder_host_or_public_url_is_one_line_and_status_2(tmp_path, capsys):
    pytest.importorskip("textual_serve")
    a_file = tmp_path / "data.csv"
    a_file.write_text("x,y\n1,0\n")
    for flags, named in ((["--data", str(tmp_path / "missing")], "--data"),
                         (["--data", str(a_file)], "--data"),
                         (["--allow-host", "class example"], "--allow-host"),
                         (["--public-url", "ftp://class.example.org"], "--public-url")):
        assert main(["serve", *flags]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"nnsim: {named}"), err


# Attacks through the websocket, as another site's page or a hand-made client makes them.

class Page:
    """One session as textual-serve's page drives it: keys and sizes go as text frames; what
    comes back is kept, the screen's bytes and the page's own messages (downloads)."""

    def __init__(self, socket):
        self.socket = socket
        self.screen = b""
        self.messages: list = []

    @classmethod
    async def open(cls, http, server: Server, query: str = "width=160&height=45", **options):
        return cls(await http.ws_connect(f"{server.url}/ws?{query}", max_msg_size=0, **options))

    async def send(self, *envelope) -> None:
        await self.socket.send_str(json.dumps(list(envelope)))

    async def press(self, *keys: str) -> None:
        for key in keys:
            await self.send("stdin", key)

    def text(self, since: int = 0) -> str:
        return ANSI.sub("", self.screen[since:].decode("utf-8", "replace"))

    def state(self, since: int = 0) -> str | None:
        found = STATUS.findall(self.text(since))
        return found[-1][0] if found else None

    async def until(self, condition, what: str, timeout: float = PATIENCE) -> None:
        """Read what the session sends until ``condition()`` holds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if (left := deadline - time.monotonic()) <= 0:
                raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
            try:
                message = await self.socket.receive(timeout=left)
            except asyncio.TimeoutError:
                continue
            if message.type == aiohttp.WSMsgType.BINARY:
                self.screen += message.data
            elif message.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(message.data))
            else:
                raise AssertionError(f"the session ended while waiting for {what}")

    async def close(self) -> None:
        await self.socket.close()


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """A server of one session at most, in an empty working folder."""
    folder = tmp_path_factory.mktemp("classroom")
    (folder / "lesson.toml").write_text(QUIET_ENDLESS)
    (folder / "work").mkdir()
    server = Server(str(folder / "lesson.toml"), "--max-sessions", "1", log=folder / "serve.log",
                    cwd=folder / "work")
    yield server
    server.stop()


async def _free(http, server: Server) -> None:
    """Wait for the one seat to be free again and the last session's process to have ended
    (the seat is freed when the app has closed its output, a moment before it exits)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        async with http.get(server.url) as page:
            if page.status == 200 and not server.sessions():
                return
        assert time.monotonic() < deadline, "the last session's seat was never freed"
        await asyncio.sleep(0.1)


@needs_web
async def test_a_page_of_another_site_gets_no_session(classroom):
    async with aiohttp.ClientSession() as http:
        await _free(http, classroom)
        for origin in ("http://evil.example", f"http://127.0.0.1:{classroom.port + 1}", "null"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await Page.open(http, classroom, origin=origin)
            assert refused.value.status == 403, origin
        await asyncio.sleep(0.5)
        assert classroom.sessions() == []


@needs_web
async def test_a_host_not_the_servers_is_refused_and_never_repeated(classroom):
    async with aiohttp.ClientSession() as http:
        await _free(http, classroom)
        for host in ("evil.example", f"evil.example:{classroom.port}",
                     f'127.0.0.1:{classroom.port}"><script>alert(1)</script>'):
            for path in ("/", "/ws?width=80&height=24", "/static/js/textual.js", "/download/x"):
                async with http.get(classroom.url + path, headers={"Host": host}) as answer:
                    body = await answer.text()
                    assert answer.status == 403, (host, path)
                    assert "evil" not in body and "script" not in body and len(body) < 200
        assert classroom.sessions() == []
        async with http.get(classroom.url, headers={"Host": f"localhost:{classroom.port}"}) as ok:
            page = await ok.text()
        # The page sends the browser only to the host it asked for, an allowed one.
        assert ok.status == 200 and f"ws://localhost:{classroom.port}/ws" in page
        assert "127.0.0.1" not in page


@needs_web
async def test_a_huge_terminal_is_bounded_at_the_start_and_on_resize(classroom):
    async with aiohttp.ClientSession() as http:
        await _free(http, classroom)
        page = await Page.open(http, classroom, "width=10000&height=10000",
                               origin=classroom.url)
        try:
            [session] = poll_until(classroom.sessions, "the session's process")
            environment = Path(f"/proc/{session}/environ").read_bytes().split(b"\0")
            assert {b"COLUMNS=400", b"ROWS=150"} <= set(environment)
            await page.until(lambda: page.state() == "running", "the dashboard to run")

            await page.send("resize", {"width": 80, "height": 24})
            await page.press(" ")
            await page.until(lambda: page.state() == "paused", "a pause at 80x24")
            since = len(page.screen)
            for nonsense in ("garbage", "[" * 100000, '["resize", {"width": "x"}]',
                             '["stdin", 5]', '{"stdin": "q"}', '["quit"]'):
                await page.socket.send_str(nonsense)
            # Not larger: were the bound missing, this test should fail, not take the machine.
            await page.send("resize", {"width": 1000, "height": 1000})
            await page.press(" ")
            moves = lambda: [(int(row), int(column))
                             for row, column in MOVE.findall(page.screen[since:])]
            await page.until(lambda: page.state(since) == "running" and
                             max(row for row, _ in moves()) >= 150,
                             "the session to take the keys after nonsense and grow")
            assert max(row for row, _ in moves()) == 150
            assert max(column for _, column in moves()) <= 400
        finally:
            await page.close()


@needs_web
async def test_a_full_class_says_so_politely_and_a_closed_tab_frees_its_seat(classroom):
    async with aiohttp.ClientSession() as http:
        await _free(http, classroom)
        first = await Page.open(http, classroom)
        [session] = poll_until(classroom.sessions, "the first session's process")
        async with http.get(classroom.url) as full:
            assert full.status == 503
            assert "the class is full: its one session is in use; try again when someone " \
                   "closes a tab" in (await full.text()).lower()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await Page.open(http, classroom)
        assert refused.value.status == 503 and classroom.sessions() == [session]
        await first.close()
        await _free(http, classroom)
        second = await Page.open(http, classroom)
        poll_until(classroom.sessions, "a session in the freed seat")
        await second.close()


@needs_web
async def test_a_served_student_writes_nothing_on_the_server_and_downloads_instead(classroom):
    async with aiohttp.ClientSession() as http:
        await _free(http, classroom)
        page = await Page.open(http, classroom)
        try:
            await page.until(lambda: page.state() == "running", "the dashboard to run")
            await page.press("w", "\r", "\r", "e")
            await page.until(lambda: len(page.messages) >= 3,
                             "three downloads: the scenario, the metrics and the screenshot")
            assert [kind for kind, _ in page.messages] == ["deliver_file_start"] * 3
            async with http.get(f"{classroom.url}/download/{page.messages[0][1]}") as scenario:
                assert scenario.status == 200
                assert "Two optimizers on a spiral" in await scenario.text()
            await page.press(" ")
            await page.until(lambda: page.state() == "paused", "the session to go on")
        finally:
            await page.close()
    assert list((classroom.log.parent / "work").iterdir()) == []


@needs_web
async def test_killing_the_server_ends_every_session(tmp_path):
    (tmp_path / "lesson.toml").write_text(QUIET_ENDLESS)
    server = Server(str(tmp_path / "lesson.toml"), log=tmp_path / "serve.log")
    sessions = []
    try:
        async with aiohttp.ClientSession() as http:
            pages = [await Page.open(http, server) for _ in range(2)]
            for page in pages:
                await page.until(lambda: page.state() == "running", "the dashboard to run")
            sessions = server.sessions()
            assert len(sessions) == 2
            server.process.kill()
            poll_until(lambda: not any(alive(pid) for pid in sessions),
                       "every session to end with its server killed by SIGKILL")
    finally:
        server.stop()
        for pid in filter(alive, sessions):
            os.kill(pid, signal.SIGKILL)

"""`nnsim serve`: its one-line errors, and end to end in a real headless Chromium, driven by
keys and read off the page."""

from __future__ import annotations

import re
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from nnsim.__main__ import main
from conftest import QUIET_ENDLESS
from serving import Browser, Server, alive, missing_browser, wait_until


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
        browser = Browser(server.url)
        wait_until(lambda: (browser.status() or ("", 0))[0] == "running", 60,
                   f"the dashboard to run; the server said:\n{server.output()}")
        [session] = server.sessions()
        command = Path(f"/proc/{session}/cmdline").read_bytes().decode().split("\0")[:-1]
        assert command == [sys.executable, "-m", "nnsim", str(lesson), "--seed", "3",
                           "--set", "train.lr=0.0625"]
        assert "lr 0.0625" in browser.screen()

        browser.press(" ")
        _, paused_at = wait_until(lambda: (s := browser.status()) and s[0] == "paused" and s, 20,
                                  "space to pause the run")
        browser.press(" ")
        wait_until(lambda: (s := browser.status()) and s[0] == "running" and s[1] > paused_at,
                   20, "space to resume the run and the step counter to move on")
        browser.close()
        browser = None
        wait_until(lambda: session not in server.sessions(), 20,
                   "the session's process to end with its page")

        browser = Browser(server.url)
        [session] = wait_until(server.sessions, 60, "a second session")
        server.stop()
        wait_until(lambda: not alive(session), 10, "stopping the server to end its sessions")
    finally:
        if browser is not None:
            browser.close()
        server.stop()

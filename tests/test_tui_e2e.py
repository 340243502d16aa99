"""End to end: the installed `nnsim` in a real terminal (tmux), driven by keys, read off the screen."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import QUIET_ENDLESS, poll_until

TMUX = shutil.which("tmux")
NNSIM = shutil.which("nnsim") or str(Path(sys.executable).with_name("nnsim"))

pytestmark = [
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)"),
    pytest.mark.skipif(not os.access(NNSIM, os.X_OK), reason="the nnsim command is not installed"),
]


class Terminal:
    """One tmux server of our own, with one window running a command. Each has its own socket:
    the last test's server, killed a moment ago, may still be ending on a loaded machine, and a
    client that reaches it gets "server exited unexpectedly"."""

    opened = itertools.count()

    def __init__(self, command: str, size: tuple[int, int] = (100, 30)):
        self.socket = f"nnsim-e2e-{os.getpid()}-{next(self.opened)}"
        self.tmux("new-session", "-d", "-x", str(size[0]), "-y", str(size[1]),
                  f"{command}; echo \"[exited $?]\"; sleep 60")

    def tmux(self, *args: str) -> str:
        return subprocess.run([TMUX, "-L", self.socket, *args], check=True, capture_output=True,
                              text=True, env={**os.environ, "TERM": "xterm-256color"}).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def wait_for(self, text: str) -> str:
        """The screen, once ``text`` is on it."""
        try:
            return poll_until(lambda: text in (screen := self.screen()) and screen, repr(text))
        except AssertionError as error:
            raise AssertionError(f"{error}; the screen:\n{self.screen()}") from None

    def close(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True)


def test_nnsim_trains_pauses_takes_keys_and_quits(tmp_path):
    lesson = tmp_path / "endless.toml"
    lesson.write_text(QUIET_ENDLESS)
    terminal = Terminal(f"cd {tmp_path} && {NNSIM} {lesson}")
    try:
        screen = terminal.wait_for(" running ")
        assert "Loss" in screen and "space Pause" in screen
        terminal.keys("Space")
        terminal.wait_for(" paused ")
        terminal.keys("+")
        terminal.wait_for("lr 0.02")        # the status line's end: no space after it at 100 columns
        terminal.keys("2")
        terminal.wait_for("Decision boundary")
        terminal.keys("q")
        terminal.wait_for("[exited 0]")
    finally:
        terminal.close()


def test_nnsim_ends_when_its_terminal_is_killed(tmp_path):
    """The terminal (an SSH session, a tmux server) goes away while the controls panel opens:
    nnsim must end, not linger on a terminal nobody reads, spinning a core."""
    pid_file = tmp_path / "pid"
    terminal = Terminal(f"echo $$ > {pid_file}; exec {NNSIM} playground", size=(160, 48))
    try:
        terminal.wait_for("step")
        time.sleep(3)                       # (it hung with a few seconds of training behind it)
        terminal.keys("c")
        time.sleep(0.3)                     # the panel is being built
    finally:
        terminal.close()
    pid = int(pid_file.read_text())
    try:
        poll_until(lambda: not Path(f"/proc/{pid}").exists(), "nnsim to end with its terminal")
    finally:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, 9)

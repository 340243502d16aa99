"""`nnsim serve` from the outside: a server process, its session processes, and a headless
Chromium on its page. Shared by tests/test_serve.py and benchmarks/bench_serve.py.

xterm.js draws the dashboard on a canvas, so the page's DOM holds no text. Instead a script
installed before the page loads listens on the page's websocket and keeps the tail of what the
app sent, escape sequences removed: the status line's newest state and step are the last ones
in it, because the app rewrites the whole status line at every update.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import PATIENCE, poll_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Without these, Chromium on a machine with no network stalls on its first start.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync")
STATUS = re.compile(r" (running|paused|finished|diverged)\b[^\n]{0,40}? step ([\d,]+)")

# Keeps the last 64k characters the app sent, without escape sequences, in window.nnsimScreen,
# and the terminal's last size in characters the page sent, in window.nnsimSize;
# window.nnsimWant (a regular expression) is watched for: window.nnsimSeen is when a message
# first matched it, window.nnsimKeyAt when the page last got a key, both performance.now().
SCREEN_TAP = r"""
window.nnsimScreen = "";
window.nnsimWant = null;
document.addEventListener("keydown", () => { window.nnsimKeyAt = performance.now(); }, true);
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    const decoder = new TextDecoder();
    this.addEventListener("message", (event) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      const text = decoder.decode(event.data, {stream: true})
        .replace(/\x1b\[[0-9;?<>=]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b./g, "");
      if (window.nnsimWant && window.nnsimWant.test(text)) {
        window.nnsimWant = null;
        window.nnsimSeen = performance.now();
      }
      window.nnsimScreen = (window.nnsimScreen + text).slice(-65536);
    });
  }
  send(data) {      // the terminal's size in characters, as the page last told the app
    if (typeof data === "string" && data.startsWith('["resize"')) window.nnsimSize = JSON.parse(data)[1];
    return super.send(data);
  }
};
"""


def missing_browser() -> str | None:
    """Why a browser test cannot run here, or None."""
    for module, hint in (("selenium", "pip install '.[test]'"),
                         ("textual_serve", "pip install '.[web]'")):
        try:
            __import__(module)
        except ModuleNotFoundError:
            return f"{module} is not installed ({hint})"
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _state_and_parent(pid: int) -> tuple[str, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:             # it has ended
        return None
    state, parent = stat.rpartition(")")[2].split()[:2]
    return state, int(parent)


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie has ended: its memory is freed)."""
    found = _state_and_parent(pid)
    return found is not None and found[0] != "Z"


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _state_and_parent(int(entry.name))):
            if stat[1] == pid and stat[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def rss_mib(pid: int) -> float:
    """Resident memory of one process in MiB (0 when it has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    kib = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(kib.group(1)) / 1024 if kib else 0.0


class Server:
    """``nnsim serve`` in a process of its own on a free localhost port (in the folder
    ``cwd``, which its sessions share)."""

    def __init__(self, *args: str, log: Path, cwd: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nnsim", "serve", *args, "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        poll_until(lambda: "serving" in self.output() or self.process.poll() is not None,
                   "the server to start")
        if self.process.poll() is not None:
            raise AssertionError(f"nnsim serve ended at once:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def sessions(self) -> list[int]:
        return children(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=PATIENCE)


class Browser:
    """One headless Chromium (Selenium, the system chromedriver) showing one page."""

    def __init__(self, url: str, size: tuple[int, int] = (1280, 800), want: str | None = None):
        """``want``: a regular expression watched for from the page's first message on (see
        ``SCREEN_TAP``)."""
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="nnsim-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*CHROMIUM_FLAGS, f"--window-size={size[0]},{size[1]}",
                     f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        # as a browser window a person just opened the page in: it has the system's focus, so
        # focusing an element fires its focus events (a headless window has no focus of its own)
        self.driver.execute_cdp_cmd("Emulation.setFocusEmulationEnabled", {"enabled": True})
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SCREEN_TAP})
        if want is not None:
            self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {
                "source": f"window.nnsimWant = new RegExp({json.dumps(want)});"})
        self.driver.get(url)

    def screen(self) -> str:
        """What the app has sent lately, as text."""
        return self.driver.execute_script("return window.nnsimScreen") or ""

    def status(self) -> tuple[str, int] | None:
        """The newest (state, step) of the status line, or None before the first one."""
        found = STATUS.findall(self.screen())
        return (found[-1][0], int(found[-1][1].replace(",", ""))) if found else None

    def press(self, key: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, "textarea.xterm-helper-textarea").send_keys(key)

    def type(self, key: str) -> None:
        """``key`` typed as a person types it on the page just loaded: to whatever has the
        focus, nothing clicked or focused first (``press`` focuses the terminal's text area)."""
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.driver).send_keys(key).perform()

    def seen(self) -> bool:
        """Whether a message matched ``want``."""
        return bool(self.driver.execute_script("return window.nnsimSeen"))

    def focused(self) -> str:
        """The class of the element that has the keyboard."""
        return self.driver.execute_script("return document.activeElement.className")

    def cell(self) -> tuple[float, float]:
        """The terminal's character cell in CSS pixels, (width, height)."""
        width, height, size = self.driver.execute_script(
            "const screen = document.querySelector('.xterm-screen').getBoundingClientRect();"
            "return [screen.width, screen.height, window.nnsimSize];")
        return width / size["width"], height / size["height"]

    def key_to_screen(self, key: str, want: str) -> float:
        """Seconds from the page getting ``key`` to the first message matching ``want``."""
        self.driver.execute_script("window.nnsimSeen = null; window.nnsimWant = new RegExp("
                                   "arguments[0]);", want)
        self.press(key)
        seen = poll_until(lambda: self.driver.execute_script(
            "return window.nnsimSeen && window.nnsimSeen - window.nnsimKeyAt"), want)
        return seen / 1000

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

"""`netready` in a real terminal (tmux, 80x24): the screen a person reads, keys they press.

The test waits for the very text it asserts, never for other text on the same screen: tmux
takes the app's output as it comes, so a capture can show the top rows of a new screen
before the rows below them (and a fresh, loaded machine is slow to start Python at all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_valid_report, require_tool

COLS, ROWS = 80, 24
#: Deadlines for a loaded 2-core VM; each wait ends as soon as its text is there.
START_S = 60.0  # a new Python process imports textual and draws the form
RUN_S = 240.0  # responder and `netready check` start, every lab check, signing, the PDF
KEY_S = 30.0  # a key press shown
PASS = "PASS: the network meets the requirements"
VERDICTS = (PASS, "FAIL: a requirement is not met", "INCOMPLETE: something could not be measured")


class Tmux:
    """One private tmux server (its own socket) running one program."""

    def __init__(self, tmux: str, socket_name: str) -> None:
        self.base = [tmux, "-L", socket_name]

    def __call__(self, *args: str) -> str:
        out = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=10)
        return out.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "nr")

    def wait_for(self, *texts: str, timeout: float) -> str:
        """The screen, once every one of `texts` is on it (one capture holds them all)."""
        return self.wait_until(lambda s: all(t in s for t in texts), f"{texts}", timeout)

    def wait_gone(self, text: str, timeout: float) -> str:
        """The screen, once `text` is no longer on it."""
        return self.wait_until(lambda s: text not in s, f"{text!r} gone", timeout)

    def wait_until(self, ok: Callable[[str], bool], what: str, timeout: float) -> str:
        """The screen, once `ok(screen)` holds; after `timeout` s an error naming `what`."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if ok(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout:g} s: {what}; screen:\n{screen}")
            time.sleep(0.2)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(require_tool("tmux", "the real-terminal test"), f"netready-test-{os.getpid()}")
    yield t
    subprocess.run([*t.base, "kill-server"], capture_output=True, timeout=10)


def test_netready_alone_opens_the_app_and_runs_to_a_signed_report(
    tmux: Tmux, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    remembered = {
        "profile": "lab",
        "customer": "tmux site",
        "duration": "3",
        "local_responder": True,
    }
    (config / "tui.json").write_text(json.dumps(remembered))
    status = tmp_path / "exit-status"
    command = (
        f"env NETREADY_CONFIG_DIR={config} LANG=en_US.UTF-8 TERM=xterm-256color "
        f"{sys.executable} -m netready; echo $? > {status}; sleep 30"
    )
    tmux(
        "new-session",
        "-d",
        "-s",
        "nr",
        "-x",
        str(COLS),
        "-y",
        str(ROWS),
        "-c",
        str(tmp_path),
        command,
    )
    # the form remembered the last run: wait for that value itself, not for the hint above it
    tmux.wait_for("Fill in the site", "tmux site", timeout=START_S)
    tmux("send-keys", "-t", "nr", "C-r")
    tmux.wait_for("media.voice", timeout=RUN_S)  # the run screen lists the checks
    screen = tmux.wait_until(
        lambda s: "report.json.minisig" in s and any(v in s for v in VERDICTS),
        "the result: its whole verdict line and the signed files",
        RUN_S,
    )
    assert PASS in screen
    tmux("send-keys", "-t", "nr", "f1")
    tmux.wait_for("Keys", "o open the HTML report", timeout=KEY_S)
    tmux("send-keys", "-t", "nr", "Escape")
    tmux.wait_gone("o open the HTML report", timeout=KEY_S)  # help closed, the result again
    tmux("send-keys", "-t", "nr", "C-q")
    # the shell makes the file, then writes the exit status into it: wait for the status
    deadline = time.monotonic() + START_S
    while not (status.is_file() and status.read_text().strip()):
        assert time.monotonic() < deadline, f"no exit status in {START_S:g} s:\n{tmux.screen()}"
        time.sleep(0.2)
    assert status.read_text().strip() == "0"
    reports = list(tmp_path.glob("netready-report-*/report.json"))
    assert len(reports) == 1
    assert_valid_report(reports[0])

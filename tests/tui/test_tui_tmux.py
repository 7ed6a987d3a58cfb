"""`netready` in a real terminal (tmux, 80x24): the screen a person reads, keys they press."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_valid_report, require_tool

COLS, ROWS = 80, 24


class Tmux:
    """One private tmux server (its own socket) running one program."""

    def __init__(self, tmux: str, socket_name: str) -> None:
        self.base = [tmux, "-L", socket_name]

    def __call__(self, *args: str) -> str:
        out = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=10)
        return out.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "nr")

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not on the screen within {timeout} s:\n{self.screen()}")


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
    screen = tmux.wait_for("Fill in the site", 20)
    assert "tmux site" in screen  # the form remembered the last run
    tmux("send-keys", "-t", "nr", "C-r")
    tmux.wait_for("media.voice", 10)
    screen = tmux.wait_for("Signed files", 90)
    assert "PASS: the network meets the requirements" in screen
    assert "report.json.minisig" in screen
    tmux("send-keys", "-t", "nr", "f1")
    assert "o open the HTML report" in tmux.wait_for("Keys", 10)
    tmux("send-keys", "-t", "nr", "Escape")
    tmux("send-keys", "-t", "nr", "C-q")
    deadline = time.monotonic() + 15
    while not status.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status.read_text().strip() == "0"
    reports = list(tmp_path.glob("netready-report-*/report.json"))
    assert len(reports) == 1
    assert_valid_report(reports[0])

"""A child started with die_with_parent() does not outlive the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from netready.responder.limits import Workers

PARENT = """
import signal, subprocess, sys
from netready.procs import die_with_parent
child = subprocess.Popen(["sleep", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         preexec_fn={preexec})
print(child.pid, flush=True)
"""
WITH = PARENT.format(preexec="die_with_parent(signal.SIGTERM)")
WITHOUT = PARENT.format(preexec="None")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_the_child_is_signalled_when_its_parent_exits() -> None:
    out = subprocess.run([sys.executable, "-c", WITH], capture_output=True, text=True, timeout=20)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the child outlived its parent"


def test_without_it_the_child_would_have_stayed() -> None:
    """The check above can fail: a plain child of an exiting parent keeps running."""
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT], capture_output=True, text=True, timeout=20
    )
    pid = int(out.stdout.strip())
    time.sleep(0.3)
    try:
        assert _alive(pid)
    finally:
        os.kill(pid, signal.SIGKILL)


def test_workers_cap_the_total_and_each_source() -> None:
    workers = Workers(total=3, per_source=2)
    assert workers.take("a") and workers.take("a")
    assert not workers.take("a")  # a's share is used up
    assert workers.take("b")
    assert not workers.take("c")  # all three are busy
    workers.give_back("a")
    assert workers.take("c") and not workers.take("a")

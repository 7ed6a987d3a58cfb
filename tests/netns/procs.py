"""Subprocess helpers of the lab: run or stop a command, read a child's line with a timeout."""

from __future__ import annotations

import selectors
import subprocess
from collections.abc import Sequence
from typing import IO


def run(argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run argv, output captured as text; RuntimeError on a non-zero exit."""
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def readline(stream: IO[str] | None, timeout: float) -> str:
    """One line from a child's pipe, stripped; "" if none came within `timeout` seconds."""
    if stream is None:
        raise ValueError("the stream is not a pipe")
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return stream.readline().strip()


def stop_process(proc: subprocess.Popen[str], timeout: float = 5.0) -> tuple[str, str]:
    """SIGTERM, then SIGKILL after `timeout`; returns what it still had on stdout and stderr."""
    if proc.poll() is None:
        proc.terminate()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=timeout)
    return out or "", err or ""

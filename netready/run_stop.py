"""How a `netready check` run is stopped on each OS, so the partial report is still signed.

POSIX: the app starts its child in a session of its own (the terminal's ctrl+c is the
app's) and stops it with SIGINT, the same as ctrl+c on `netready check`. Windows has no
SIGINT to send to one process: the child gets a process group of its own and the app
sends it CTRL_BREAK_EVENT, which Python in the child sees as SIGBREAK.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

from netready.procs import die_with_parent


def stop_signals() -> tuple[int, ...]:
    """The signals that stop a run in `netready check`: SIGINT, SIGTERM, SIGBREAK (Windows)."""
    signals: list[int] = [signal.SIGINT, signal.SIGTERM]
    brk = getattr(signal, "SIGBREAK", None)
    if isinstance(brk, int):
        signals.append(brk)
    return tuple(signals)


def child_popen_options() -> dict[str, Any]:
    """subprocess.Popen options for the app's `netready check` child on this OS."""
    if sys.platform == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return {
        "start_new_session": True,  # the terminal's ctrl+c is the app's, not the child's
        "preexec_fn": die_with_parent(signal.SIGINT),  # app gone: stop, sign, exit (Linux)
    }


def child_stop_signal() -> int:
    """What the app sends its child to stop the run: SIGINT, CTRL_BREAK_EVENT on Windows."""
    if sys.platform == "win32":
        return int(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGINT))
    return int(signal.SIGINT)

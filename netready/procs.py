"""Child processes that cannot outlive the one that started them (Linux: PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the kernel send `sig` to the child when its parent exits.

    The parent here is the thread that started the child, so start long-lived children
    from a thread that lives as long as they should. None where the kernel has no such
    call (not Linux): then only an orderly exit stops the child.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec

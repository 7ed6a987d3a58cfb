"""The responder's event loop: one selector (epoll), a wake-up socket, a periodic tick.

Handlers run on the loop thread. An exception from a handler or from the tick is a
bug, not hostile input (handlers count bad datagrams themselves): it is counted, the
first few are logged, and the loop goes on.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Callable

Handler = Callable[[socket.socket], None]

#: Internal errors logged at most (all are counted).
LOGGED_ERRORS = 10


class Loop:
    """Runs `handler(sock)` when a registered socket is readable, and `tick` every period."""

    def __init__(
        self, log: Callable[[str], None], tick: Callable[[float], None], period_s: float
    ) -> None:
        self._log = log
        self._tick = tick
        self._period_s = period_s
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        self._stopping = False
        self._closed = False
        self.internal_errors = 0

    def add(self, sock: socket.socket, handler: Handler) -> None:
        """Call `handler(sock)` whenever `sock` is readable."""
        self._selector.register(sock, selectors.EVENT_READ, handler)

    def run(self) -> None:
        """Serve until `stop()`; returns early only if the selector itself fails."""
        self._stopping = False
        next_tick = time.monotonic() + self._period_s
        while not self._stopping:
            try:
                events = self._selector.select(self._period_s)
            except OSError as exc:
                self._log(f"netready responder: loop failed: {exc}")
                return
            for key, _mask in events:
                handler: Handler = key.data
                try:
                    handler(key.fileobj)  # type: ignore[arg-type]
                except Exception as exc:  # a bug must not take the far end down
                    self.internal_error(exc)
            if (now := time.monotonic()) >= next_tick:
                next_tick = now + self._period_s
                try:
                    self._tick(now)
                except Exception as exc:
                    self.internal_error(exc)

    def internal_error(self, exc: Exception) -> None:
        """Count a bug; log the first few."""
        self.internal_errors += 1
        if self.internal_errors <= LOGGED_ERRORS:
            self._log(f"netready responder: internal error (ignored): {exc!r}")

    def stop(self) -> None:
        """Make `run()` return soon (callable from any thread)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _on_wake(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.recv(64)

    def close(self) -> None:
        """Close the selector and the wake-up sockets (not the registered sockets)."""
        if self._closed:
            return
        self._closed = True
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

"""Connections served on short worker threads, and the echo services built on them.

The responder's loop accepts; the slow part (a TLS handshake, reading a request within a
deadline) runs on a daemon thread. `WorkerPool` caps those threads in all and per source
address and per network (/24, /64: `netready.responder.limits.Workers`), so a few
clients holding slow connections open cannot shut everybody else out, and can cap how
many connections a source may open a second. Every read has a deadline (the request
window for the first bytes, a total deadline for the request), so an idle or
slowloris connection gives its worker back within seconds.

`TcpEcho` is the shared shape of the SIP and H.323 echoes: read one request within
bounds, answer a silent client with the plain banner (so the firewall check's TCP probe
works on these ports too), else send the protocol's echo reply, close. Subclasses say
how a request is read (`read_request`) and what the answer is (`reply`).
"""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable

from netready.responder.limits import AllowList, PerSecond, Workers
from netready.responder.tcp_ports import BANNER
from netready.responder.udp_guard import DropCounter
from netready.responder.udp_ports import BURST

WORKER_DEADLINE_S = 3.0  # how long a reply may take to send


class WorkerPool:
    """Worker threads: `total` at once, `per_source` for one address, `per_network` for one
    /24 or /64 (default 2 x per_source), `rate_per_s` new ones a second per address."""

    def __init__(
        self, name: str, total: int, per_source: int, rate_per_s: int = 0, per_network: int = 0
    ) -> None:
        self.name = name
        self._workers = Workers(total, per_source, per_network)
        self._rate = PerSecond(rate_per_s) if rate_per_s else None

    def admit(self, source: str) -> bool:
        """Count a connection from `source` and reserve a worker for it; False: refuse it."""
        if self._rate is not None and not self._rate.allow(source):
            return False
        return self._workers.take(source)

    def start(self, source: str, serve: Callable[[], None]) -> None:
        """Run `serve` on its own thread; the worker is given back however it ends."""

        def run() -> None:
            try:
                serve()
            finally:
                self._workers.give_back(source)

        threading.Thread(target=run, name=self.name, daemon=True).start()


class TcpEcho:
    """One request per connection, answered on a worker thread (see the module docstring)."""

    def __init__(self, pool: WorkerPool, allow: AllowList | None = None) -> None:
        self.allow = allow or AllowList(())
        self.pool = pool
        self.echoed = 0
        self.drops = DropCounter()  # requests and connections not answered, by reason

    @property
    def dropped(self) -> int:
        """Requests and connections not answered, in all."""
        return self.drops.total

    def read_request(self, conn: socket.socket) -> bytes | None:
        """One whole request; b"" when the client said nothing, None for junk or slow."""
        raise NotImplementedError

    def reply(self, request: bytes, peer: tuple[str, int]) -> tuple[bytes | None, str]:
        """(the answer to `request`, "") or (None, the reason it gets none)."""
        raise NotImplementedError

    def on_tcp(self, listener: socket.socket) -> None:
        """Accept up to BURST pending connections; each admitted one goes to a worker."""
        for _ in range(BURST):
            try:
                conn, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.drops.count("accept-error")
                return
            source = str(peer[0])
            if not self.allow.permits(source):
                self.drops.count("not-allowed")
                conn.close()
                continue
            if not self.pool.admit(source):
                self.drops.count("no-worker")
                conn.close()
                continue
            address = (source, int(peer[1]))
            self.pool.start(source, functools.partial(self._serve, conn, address))

    def _serve(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        try:
            with conn:
                conn.setblocking(True)
                request = self.read_request(conn)
                if request is None:
                    self.drops.count("bad-or-slow-request")
                    return
                if not request:
                    conn.sendall(BANNER)
                    return
                answer, why = self.reply(request, peer)
                if answer is None:
                    self.drops.count(why)
                    return
                conn.settimeout(WORKER_DEADLINE_S)
                conn.sendall(answer)
                self.echoed += 1
        except OSError:
            self.drops.count("send-error")

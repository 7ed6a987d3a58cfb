"""The responder's H.323 echo (`--h323-echo-ports`): H.323 ALG detection on TCP (H.225, 1720).

A client sends one TPKT-framed Q.931 SETUP (`netready.probes.h225.build_setup`). The
responder answers with a Q.931 RELEASE COMPLETE whose H.225 `nonStandardData` holds the
SETUP exactly as received, as hex text, plus the TCP peer address it saw
(`netready.probes.h225.build_echo_reply`), then closes. The client compares the echo with
what it sent: a rewritten transport address means an H.323 ALG on the path. Hex, because
an ALG also parses the answer and must find no H.225 addresses in the echoed copy to
"fix" on the way back (the choice is explained in the codec's docstring).

Hostile input stays harmless:

* connections are served on short daemon threads, at most MAX_WORKERS at once and
  MAX_WORKERS_PER_SOURCE for one address (one client cannot take them all), one
  request each; every read is bounded in size (MAX_REQUEST bytes, one TPKT frame) and
  time (TCP_DEADLINE_S), and each source address may open MAX_CONNECTIONS_PER_S a second;
* only a TPKT frame holding a Q.931 SETUP is answered; anything else is dropped and
  counted. The answer is at most 2 x request + 200 bytes (amplification bound), and TCP
  needs a handshake, so a spoofed source gets nothing;
* a client that says nothing within REQUEST_WINDOW_S gets the plain responder banner,
  so the firewall check's TCP probe works on these ports too.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterable

from netready.model import PortRange
from netready.probes.h225_echo import build_echo_reply
from netready.probes.q931 import TPKT_HEADER, split_tpkt
from netready.responder.limits import AllowList
from netready.responder.tcp_echo import TcpEcho, WorkerPool
from netready.responder.tcp_ports import BACKLOG
from netready.responder.udp_ports import bind_socket, iter_ports

MAX_REQUEST = 2048
MAX_WORKERS = 32
MAX_WORKERS_PER_SOURCE = 4
MAX_CONNECTIONS_PER_S = 20
REQUEST_WINDOW_S = 0.3
TCP_DEADLINE_S = 3.0


class H323Echo(TcpEcho):
    """TCP listeners on the H.323 echo ports, served from the responder loop."""

    def __init__(self, allow: AllowList | None = None) -> None:
        pool = WorkerPool(
            "netready-h323-echo", MAX_WORKERS, MAX_WORKERS_PER_SOURCE, MAX_CONNECTIONS_PER_S
        )
        super().__init__(pool, allow)
        self.sockets: list[socket.socket] = []

    def bind(self, family: socket.AddressFamily, host: str, ranges: Iterable[PortRange]) -> None:
        """Listen on every port of `ranges`; on failure close all and raise."""
        try:
            for port in iter_ports(ranges):
                sock = bind_socket(family, socket.SOCK_STREAM, host, port, "H.323")
                self.sockets.append(sock)
                sock.listen(BACKLOG)
        except BaseException:
            self.close()
            raise

    def reply(self, request: bytes, peer: tuple[str, int]) -> tuple[bytes | None, str]:
        """RELEASE COMPLETE carrying the SETUP as received and the peer the responder saw."""
        answer = build_echo_reply(request, peer)
        return answer, "" if answer is not None else "not-a-setup"

    def read_request(self, conn: socket.socket) -> bytes | None:
        """One TPKT frame (b"" = the client said nothing); None for junk, oversize or slow."""
        deadline = time.monotonic() + TCP_DEADLINE_S
        conn.settimeout(REQUEST_WINDOW_S)
        try:
            data = conn.recv(MAX_REQUEST)
        except TimeoutError:
            return b""
        while True:
            if not data:
                return None
            try:
                parts = split_tpkt(data)
            except ValueError:
                return None
            if parts is not None:
                return data[: len(data) - len(parts[1])]
            if len(data) >= TPKT_HEADER and int.from_bytes(data[2:4], "big") > MAX_REQUEST:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            conn.settimeout(left)
            try:
                chunk = conn.recv(MAX_REQUEST - len(data))
            except TimeoutError:
                return None
            if not chunk:
                return None
            data += chunk

    def close(self) -> None:
        """Close every listener (workers finish on their own within TCP_DEADLINE_S)."""
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self.sockets.clear()

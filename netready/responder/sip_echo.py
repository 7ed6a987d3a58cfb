"""The responder's SIP echo (`--sip-echo-ports`): SIP ALG detection on UDP and TCP.

Any SIP request that arrives is answered with `200 OK` whose body is the request
exactly as received, base64-encoded (`Content-Type: application/x-netready-echo`). The
client compares it with what it sent: a difference means a box on the path (a "SIP
ALG") rewrote it. The encoding keeps an ALG on the way back from "fixing" the echoed
copy (the Linux SIP helper rewrites Via/Contact lines wherever they start a line, the
body included), which would hide the very rewrite we look for.
The reply carries the request's Via, From, To, Call-ID and CSeq, as RFC 3261 wants.

Hostile input stays harmless:

* only requests are answered (never a response, never ACK), anything that does not
  parse as SIP is dropped and counted;
* the request's padding (`X-Netready-Pad`, see `netready.probes.sip.pad_for_echo`) is
  removed before it is echoed: the client pads its ALG probe so that the echo is no
  larger than the request, and **over UDP no reply is ever larger than its request**
  (a larger one is dropped as `would-amplify`), so the echo cannot amplify;
* a UDP request above MAX_UDP_REQUEST bytes is dropped; each source address gets at
  most MAX_REPLIES_PER_S replies a second, and every reply is charged to the global
  UDP reply budget (`netready.responder.udp_guard`); sources that are the responder's
  own sockets or privileged ports are never answered;
* TCP connections are served on short daemon threads, at most MAX_WORKERS at once,
  one request each, every read bounded in size (MAX_TCP_HEAD, MAX_TCP_BODY) and time
  (TCP_DEADLINE_S). A client that says nothing within REQUEST_WINDOW_S gets the plain
  responder banner, so the firewall check's TCP probe works on these ports too;
* a 22-byte netready port probe (`NRP1...`) on a UDP echo port is echoed (as `NRE1`,
  with the media ports' probe limits), so the firewall check's UDP probe works on the
  same socket: a port may be both a probe port of the profile and the SIP echo port.

Every drop is counted by reason (`drops`).
"""

from __future__ import annotations

import base64
import contextlib
import socket
import time
from collections.abc import Iterable

from netready.model import PortRange
from netready.probes.sip import (
    ECHO_CONTENT_TYPE,
    ECHO_COPIED,
    content_length,
    parse_message,
    split_head,
    strip_echo_padding,
)
from netready.probes.udp_probe import ECHO_MAGIC, MAGIC, PROBE_LEN
from netready.responder.limits import AllowList, PerSecond
from netready.responder.tcp_echo import TcpEcho, WorkerPool
from netready.responder.tcp_ports import BACKLOG
from netready.responder.udp_guard import UdpGuard
from netready.responder.udp_ports import BURST, bind_socket, iter_ports

MAX_UDP_REQUEST = 4096
MAX_TCP_HEAD = 8192
MAX_TCP_BODY = 8192
REPLY_OVERHEAD = 200
MAX_REPLIES_PER_S = 50
MAX_WORKERS = 32
MAX_WORKERS_PER_SOURCE = 4
REQUEST_WINDOW_S = 0.3
TCP_DEADLINE_S = 3.0


def max_reply_bytes(request_bytes: int) -> int:
    """The amplification bound: copied headers (<= the request) + base64 body + overhead."""
    return (7 * request_bytes) // 3 + REPLY_OVERHEAD


def echo_reply(request: bytes) -> bytes | None:
    """The `200 OK` echoing `request` (without its padding) in its body, or None."""
    request = strip_echo_padding(request)
    try:
        msg = parse_message(request)
    except ValueError:
        return None
    method = msg.start_line.split(" ", 1)[0]
    if msg.is_response or method in ("ACK", "") or not method.isalpha():
        return None
    copied = [f"{n}: {v}" for n, v in msg.headers if n.lower() in ECHO_COPIED]
    body = base64.b64encode(request)
    if not any(line.lower().startswith(("via:", "v:")) for line in copied):
        return None
    head = "\r\n".join(
        [
            "SIP/2.0 200 OK",
            *copied,
            "Server: netready-responder sip-echo",
            f"Content-Type: {ECHO_CONTENT_TYPE}",
            f"Content-Length: {len(body)}",
        ]
    )
    reply = (head + "\r\n\r\n").encode("utf-8", errors="replace") + body
    if len(reply) > max_reply_bytes(len(request)):
        return None  # cannot happen for a well-formed request; the bound is kept anyway
    return reply


class SipEcho(TcpEcho):
    """UDP sockets and TCP listeners on the SIP echo ports, served from the responder loop."""

    def __init__(self, allow: AllowList | None = None, guard: UdpGuard | None = None) -> None:
        pool = WorkerPool("netready-sip-echo", MAX_WORKERS, MAX_WORKERS_PER_SOURCE)
        super().__init__(pool, allow)
        self.guard = guard or UdpGuard("0.0.0.0")
        self.udp_sockets: list[socket.socket] = []
        self.tcp_sockets: list[socket.socket] = []
        self._rate = PerSecond(MAX_REPLIES_PER_S)

    def bind(self, family: socket.AddressFamily, host: str, ranges: Iterable[PortRange]) -> None:
        """Bind UDP and TCP on every port of `ranges`; on failure close all and raise."""
        try:
            for port in iter_ports(ranges):
                udp = bind_socket(family, socket.SOCK_DGRAM, host, port, "SIP")
                self.udp_sockets.append(udp)
                self.guard.add_socket(udp)
                tcp = bind_socket(family, socket.SOCK_STREAM, host, port, "SIP")
                self.tcp_sockets.append(tcp)
                tcp.listen(BACKLOG)
        except BaseException:
            self.close()
            raise

    def on_udp(self, sock: socket.socket) -> None:
        """Answer up to BURST datagrams; never raises for bad input."""
        for _ in range(BURST):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.drops.count("socket-error")
                continue
            reply, why = self._udp_reply(data, str(addr[0]), int(addr[1]))
            if reply is None:
                self.drops.count(why)
                continue
            try:
                sock.sendto(reply, addr)
                self.echoed += 1
            except OSError:
                self.drops.count("send-error")

    def _udp_reply(self, data: bytes, host: str, port: int) -> tuple[bytes | None, str]:
        """(the answer to one datagram, "") or (None, the reason it gets none)."""
        if not self.allow.permits(host):
            return None, "not-allowed"
        guard, now_ns = self.guard, time.monotonic_ns()
        refused = guard.refuse_source(host, port, [])
        if refused is not None:
            return None, refused
        if len(data) == PROBE_LEN and data[:4] == MAGIC:
            refused = guard.admit_probe(host, now_ns) or guard.admit_reply(len(data), now_ns)
            return (None, refused) if refused else (ECHO_MAGIC + data[4:], "")
        if len(data) == PROBE_LEN and data[:4] == ECHO_MAGIC:
            return None, "echo-not-answered"
        if len(data) > MAX_UDP_REQUEST:
            return None, "too-large"
        reply = echo_reply(data)
        if reply is None:
            return None, "not-a-request"
        if len(reply) > len(data):
            return None, "would-amplify"  # an unpadded request: the client pads its probe
        if not self._rate.allow(host):
            return None, "source-rate"
        refused = guard.admit_reply(len(reply), now_ns)
        return (None, refused) if refused else (reply, "")

    def reply(self, request: bytes, peer: tuple[str, int]) -> tuple[bytes | None, str]:
        """`200 OK` carrying the request as received (base64); TCP, so no size rule."""
        if not self._rate.allow(peer[0]):
            return None, "source-rate"
        answer = echo_reply(request)
        return answer, "" if answer is not None else "not-a-request"

    def read_request(self, conn: socket.socket) -> bytes | None:
        """One request (b"" = the client said nothing); None for oversize, slow or broken."""
        deadline = time.monotonic() + TCP_DEADLINE_S
        data = b""
        conn.settimeout(REQUEST_WINDOW_S)
        try:
            first = conn.recv(4096)
        except TimeoutError:
            return b""
        if not first:
            return None
        data = first
        while True:
            parts = split_head(data)
            if parts is not None:
                head, rest = parts
                length = _content_length(head)
                if length is None or length > MAX_TCP_BODY:
                    return None
                if len(rest) >= length:
                    return data[: len(data) - len(rest) + length]
            elif len(data) > MAX_TCP_HEAD:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            conn.settimeout(left)
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                return None
            if not chunk:
                return None
            data += chunk

    def close(self) -> None:
        """Close every socket (workers finish on their own within TCP_DEADLINE_S)."""
        for sock in self.udp_sockets + self.tcp_sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self.udp_sockets.clear()
        self.tcp_sockets.clear()


def _content_length(head: bytes) -> int | None:
    """Content-Length of a head (0 when absent), None when it is not a number."""
    found = content_length(head)
    if found is None and b"content-length" not in head.lower() and b"\nl:" not in head.lower():
        return 0
    return found

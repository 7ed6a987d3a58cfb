"""Paced STUN Binding stream: round-trip delay, jitter and loss against a plain STUN server.

The fallback when no netready responder answers: the platform's own STUN server (UDP 3478)
answers Binding requests, so a paced stream of them measures the round trip to the real
platform. Each request is the bare 20-byte header (RFC 5389 §6, no attributes), with a fresh
random transaction ID that identifies its reply. Send times are taken right after the pacer's
spin (time.time_ns), receive times are kernel timestamps (SO_TIMESTAMPNS), both on
CLOCK_REALTIME. The replies' XOR-MAPPED-ADDRESS is the site's public address and port.
Directions cannot be separated: a STUN server stamps nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aioice import stun

from netready.probes.pacing import (
    START_LEAD_NS,
    Pacer,
    ProgressFn,
    ProgressGate,
    open_udp,
)
from netready.probes.sockopts import RxMeta, enable_rx_metadata

STUN_PORT = 3478
HEADER_BYTES = 20
_COOKIE = stun.COOKIE.to_bytes(4, "big")
_ANSWER_CLASSES = (stun.Class.RESPONSE, stun.Class.ERROR)


@dataclass
class StunSample:
    """One Binding request and its answer (nanoseconds on CLOCK_REALTIME)."""

    seq: int
    scheduled_ns: int = 0
    t1_ns: int = 0  # request sent
    t4_ns: int | None = None  # first valid answer received
    duplicates: int = 0
    arrival_index: int | None = None
    error_code: int | None = None  # set when the answer was a Binding error response


@dataclass
class StunRun:
    """A whole STUN stream: the samples plus what is needed to judge the instrument."""

    samples: list[StunSample]
    server: str  # "host:port" the requests went to
    local_address: str  # our side of the socket, to compare with the mapped address
    rate_pps: int
    dscp: int
    request_bytes: int  # STUN message size (add 8 UDP + 20 IPv4 / 40 IPv6 on the wire)
    reply_timeout_s: float
    timestamp_source: str  # "kernel" if every answer had a kernel timestamp, else "user"
    started_ns: int
    finished_ns: int
    interrupted: bool = False
    mapped_addresses: dict[str, int] = field(default_factory=dict)  # "addr:port" -> answers
    reply_bytes_max: int = 0
    ignored_replies: int = 0  # not a fresh answer to a request of this run
    ignored_reasons: dict[str, int] = field(default_factory=dict)
    late_replies: int = 0  # came back after reply_timeout_s: counted as lost (RFC 7680 Tmax)
    error_replies: int = 0  # Binding error responses (still a round trip; see error_code)
    send_errors: int = 0
    refused: int = 0  # ICMP errors (port unreachable) reported on the socket

    @property
    def received(self) -> int:
        """Requests that got a valid answer in time."""
        return sum(s.t4_ns is not None for s in self.samples)

    @property
    def mapped_address(self) -> str | None:
        """The first XOR-MAPPED-ADDRESS seen ("addr:port"): the site's public side."""
        return next(iter(self.mapped_addresses), None)


def endpoint(host: str, port: int) -> str:
    """host:port, with brackets around IPv6 addresses."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class _Answers:
    """Matches answers to requests by transaction ID. Runs only on the sending thread."""

    samples: list[StunSample]
    timeout_ns: int
    by_tid: dict[bytes, int] = field(default_factory=dict)
    sent: int = 0
    received: int = 0
    user_stamped: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    mapped: Counter[str] = field(default_factory=Counter)
    reply_bytes_max: int = 0
    late: int = 0
    errors: int = 0
    send_errors: int = 0
    refused: int = 0

    def handle(self, data: bytes, meta: RxMeta, user_ns: int) -> None:
        """Record one datagram; anything that is not a fresh answer of this run is counted."""
        if len(data) < HEADER_BYTES or data[0] & 0xC0 or data[4:8] != _COOKIE:
            self.ignored["not_stun"] += 1
            return
        seq = self.by_tid.get(bytes(data[8:20]))
        if seq is None:
            self.ignored["unknown_transaction"] += 1
            return
        try:
            msg = stun.parse_message(data)
        except Exception:  # a third-party parser on untrusted input: anything means garbage
            self.ignored["malformed"] += 1
            return
        if msg.message_method != stun.Method.BINDING or msg.message_class not in _ANSWER_CLASSES:
            self.ignored["not_binding_answer"] += 1
            return
        sample = self.samples[seq]
        if sample.t4_ns is not None:
            sample.duplicates += 1
            return
        t4 = meta.kernel_ns if meta.kernel_ns is not None else user_ns
        if t4 - sample.t1_ns > self.timeout_ns:
            self.late += 1
            return
        self.user_stamped += meta.kernel_ns is None
        sample.t4_ns, sample.arrival_index = t4, self.received
        self.received += 1
        self.reply_bytes_max = max(self.reply_bytes_max, len(data))
        if msg.message_class == stun.Class.ERROR:
            sample.error_code, self.errors = msg.error_code or 0, self.errors + 1
        mapped = msg.attributes.get("XOR-MAPPED-ADDRESS") or msg.attributes.get("MAPPED-ADDRESS")
        if isinstance(mapped, tuple) and len(mapped) == 2:
            self.mapped[endpoint(str(mapped[0]), int(mapped[1]))] += 1

    def on_error(self, error: OSError) -> None:
        """A socket error met while reading: ICMP unreachable is counted, others ignored."""
        if isinstance(error, ConnectionRefusedError):
            self.refused += 1

    def send(self, sock_send: Callable[[bytes], int], request: bytes) -> None:
        """Send one request. A pending ICMP error fails one send() without sending: retry once."""
        for _attempt in range(2):
            try:
                sock_send(request)
                return
            except ConnectionRefusedError:
                self.refused += 1
            except OSError:
                break
        self.send_errors += 1


def run_stun_stream(
    address: str,
    port: int = STUN_PORT,
    *,
    rate_pps: int = 50,
    duration_s: float = 15.0,
    reply_timeout_s: float = 3.0,
    dscp: int = 46,
    source_port: int = 0,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> StunRun:
    """Send `rate_pps` STUN Binding requests per second for `duration_s`; collect the answers.

    Blocking: run it on a thread of its own. Requests go from one UDP socket (from
    `source_port` if given, marked with `dscp`). Returns what was measured, with
    interrupted=True when `cancel` was set; never raises on what the network sends back.
    Raises ValueError for bad arguments and OSError when no socket can be opened.
    """
    if rate_pps < 1 or not 0 <= dscp < 64 or reply_timeout_s <= 0 or duration_s < 0:
        raise ValueError(
            f"bad stream parameters: {rate_pps} packets/s, {duration_s} s, DSCP {dscp},"
            f" reply timeout {reply_timeout_s} s"
        )
    count, interval = round(duration_s * rate_pps), 1_000_000_000 // rate_pps
    rx = _Answers([StunSample(i) for i in range(count)], int(reply_timeout_s * 1e9))
    sock = open_udp(address, port, source_port=source_port, tos=dscp << 2)
    interrupted, request = False, b""
    kernel_stamps = enable_rx_metadata(sock)
    local, peer = sock.getsockname(), sock.getpeername()
    pacer = Pacer(sock, rx.handle, rx.on_error)
    started = time.time_ns()
    try:
        start = time.perf_counter_ns() + START_LEAD_NS
        gate = ProgressGate(start)
        for i, sample in enumerate(rx.samples):
            if cancel is not None and cancel.is_set():
                interrupted = True
                break
            tid = os.urandom(12)
            request = bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST, tid))
            deadline = start + i * interval
            now = pacer.wait(deadline)
            t1 = time.time_ns()
            rx.send(sock.send, request)
            sample.t1_ns, sample.scheduled_ns = t1, t1 - (now - deadline)  # deadline on REALTIME
            rx.by_tid[tid] = i
            rx.sent = i + 1
            if progress and gate.due(deadline + interval):
                progress(rx.sent / count, f"{rx.sent} of {count} STUN requests, {rx.received} back")
        if not interrupted:
            interrupted = pacer.stragglers(rx.timeout_ns, lambda: rx.received < rx.sent, cancel)
        if progress:
            progress(1.0, f"{rx.sent} STUN requests sent, {rx.received} answered")
    finally:
        sock.close()
    del rx.samples[rx.sent :]
    return StunRun(
        samples=rx.samples,
        server=endpoint(str(peer[0]), int(peer[1])),
        local_address=endpoint(str(local[0]), int(local[1])),
        rate_pps=rate_pps,
        dscp=dscp,
        request_bytes=len(request) or HEADER_BYTES,
        reply_timeout_s=reply_timeout_s,
        timestamp_source="kernel" if kernel_stamps and not rx.user_stamped else "user",
        started_ns=started,
        finished_ns=time.time_ns(),
        interrupted=interrupted,
        mapped_addresses=dict(rx.mapped),
        reply_bytes_max=rx.reply_bytes_max,
        ignored_replies=sum(rx.ignored.values()),
        ignored_reasons=dict(rx.ignored),
        late_replies=rx.late,
        error_replies=rx.errors,
        send_errors=rx.send_errors,
        refused=rx.refused,
    )

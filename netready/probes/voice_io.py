"""The voice stream's socket side: the source port, and matching replies to samples.

`Receiver` is called only from the sending thread, between send slots, so it needs no
locks. In authenticated mode it verifies each reply's base HMAC before reading any
field and the HMAC TLV before reading the Class of Service TLV.
"""

from __future__ import annotations

import errno
import random
import socket
import time
from dataclasses import dataclass, field

from netready.probes.sockopts import (
    RxMeta,
    parse_ancillary,
    receive,
    set_tx_tos,
    set_tx_ttl,
)
from netready.probes.stamp import (
    TLV_CLASS_OF_SERVICE,
    TLV_FLAG_I,
    TLV_FLAG_M,
    TLV_FLAG_U,
    parse_tlvs,
    tlv_integrity_ok,
    unpack_cos,
    unpack_reflector,
)

SEND_TTL = 255  # the reflector reports the TTL it saw, so 255 - that = forward hop count
RECV_BUFSIZE = 2048


@dataclass
class VoiceSample:
    """One test packet and what came back for it (nanoseconds on CLOCK_REALTIME)."""

    seq: int
    scheduled_ns: int
    t1_ns: int
    t2_ns: int | None = None
    t3_ns: int | None = None
    t4_ns: int | None = None
    reflector_seq: int | None = None
    rx_ttl_at_reflector: int | None = None
    dscp_at_reflector: int | None = None
    dscp_received: int | None = None
    duplicates: int = 0
    arrival_index: int | None = None
    cos_rp: int | None = None  # CoS TLV RP from the reflector: 0 = it applied our DSCP1


@dataclass
class Receiver:
    """Matches replies to samples. Called only from the sending thread, between slots."""

    samples: list[VoiceSample]
    ssid: int
    timeout_ns: int
    key: bytes | None = None
    sent: int = 0
    received: int = 0
    user_stamped: int = 0
    remote_sync: set[bool] = field(default_factory=set)
    ignored: int = 0
    late: int = 0

    def handle(self, data: bytes, meta: RxMeta, user_ns: int) -> None:
        """Record one datagram; anything that is not a fresh reply of this run is only counted."""
        try:
            reply = unpack_reflector(data, self.key)  # verifies the HMAC first
        except ValueError:
            self.ignored += 1
            return
        seq = reply.sender_seq
        if seq >= self.sent or reply.ssid not in (0, self.ssid):
            self.ignored += 1
            return
        sample = self.samples[seq]
        if reply.sender_timestamp_ns != sample.t1_ns:
            self.ignored += 1
            return
        if sample.t4_ns is not None:
            sample.duplicates += 1
            return
        t4 = meta.kernel_ns if meta.kernel_ns is not None else user_ns
        if t4 - sample.t1_ns > self.timeout_ns:
            self.late += 1
            return
        self.user_stamped += meta.kernel_ns is None
        self.remote_sync.add(reply.error_estimate.synchronised)
        sample.t2_ns, sample.t3_ns, sample.t4_ns = (
            reply.receive_timestamp_ns,
            reply.timestamp_ns,
            t4,
        )
        sample.reflector_seq, sample.rx_ttl_at_reflector = reply.seq, reply.sender_ttl
        sample.dscp_received = None if meta.tos is None else meta.tos >> 2
        sample.arrival_index, self.received = self.received, self.received + 1
        if self.key is None or tlv_integrity_ok(self.key, data[:4], reply.tlvs):
            read_cos(sample, reply.tlvs)

    def drain(self, sock: socket.socket) -> None:
        """Read every datagram already queued, without blocking."""
        while True:
            try:
                data, anc = receive(sock, RECV_BUFSIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable, reported once on a connected socket
                return
            self.handle(data, parse_ancillary(anc), time.time_ns())


def read_cos(sample: VoiceSample, tlvs: bytes) -> None:
    """Record the reflector's Class of Service TLV (DSCP it received, RP) on `sample`."""
    try:
        parsed = parse_tlvs(tlvs)
    except ValueError:
        return
    if any(tlv.flags & TLV_FLAG_I for tlv in parsed):
        return  # the reflector could not verify our TLVs (RFC 8972 §4.8): use none of them
    for tlv in parsed:
        if tlv.type == TLV_CLASS_OF_SERVICE and not tlv.flags & (TLV_FLAG_U | TLV_FLAG_M):
            cos = unpack_cos(tlv.value)
            sample.dscp_at_reflector, sample.cos_rp = cos.dscp2, cos.rp
            return


#: Random ports tried in a source range before walking the whole range in order.
RANDOM_PORT_TRIES = 32


def bind_source(sock: socket.socket, family: int, port: int, ports: tuple[int, int] | None) -> None:
    """Bind to `port`, or to a random free port of `ports` (first, last), or leave it to
    the kernel, also when every port of the range is taken (e.g. by a responder on the
    same host): the caller compares the bound port with the range."""
    wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
    if ports is None:
        if port:
            sock.bind((wildcard, port))
        return
    first, last = ports
    count = last - first + 1
    start = random.randrange(count)
    order = [random.randrange(count) for _ in range(RANDOM_PORT_TRIES)]
    order += [(start + i) % count for i in range(count)]
    for offset in order:
        try:
            sock.bind((wildcard, first + offset))
            return
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise


def open_socket(
    address: str, port: int, source_port: int, source_ports: tuple[int, int] | None, dscp: int
) -> socket.socket:
    """A non-blocking UDP socket connected to (address, port), marked with `dscp`."""
    family, kind, proto, _name, sockaddr = socket.getaddrinfo(
        address, port, type=socket.SOCK_DGRAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        bind_source(sock, family, source_port, source_ports)
        sock.connect(sockaddr)
        set_tx_tos(sock, dscp << 2)
        set_tx_ttl(sock, SEND_TTL)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock

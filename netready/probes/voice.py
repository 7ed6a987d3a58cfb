"""Paced call-like STAMP stream (G.711 shape by default) with kernel receive timestamps."""

from __future__ import annotations

import secrets
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from netready.probes.sockopts import (
    ANCILLARY_BUFSIZE,
    RxMeta,
    clock_is_synchronised,
    enable_rx_metadata,
    parse_ancillary,
    set_tx_tos,
    set_tx_ttl,
)
from netready.probes.stamp import (
    TLV_CLASS_OF_SERVICE,
    TLV_FLAG_M,
    TLV_FLAG_U,
    ErrorEstimate,
    SenderPacket,
    pack_sender,
    parse_tlvs,
    sender_tlvs,
    unix_ns_to_ntp,
    unpack_cos,
    unpack_reflector,
)

SEND_TTL = 255  # the reflector reports the TTL it saw, so 255 - that = forward hop count
SPIN_MIN_NS = 300_000  # wait in the kernel until at least this long before a slot, then spin
SPIN_MAX_NS = 1_500_000
OVERSHOOT_CAP_NS = 1_000_000  # one late wake-up (VM preemption) must not inflate the margin
START_LEAD_NS = 20_000_000
STRAGGLER_POLL_S = 0.05
PROGRESS_EVERY_NS = 200_000_000
PROGRESS_MIN_SLACK_NS = 2_000_000  # only report progress with this much time left to a slot
RECV_BUFSIZE = 2048
_HEAD = struct.Struct("!IQ")  # sequence number and T1 at the start of every test packet

ProgressFn = Callable[[float, str], None]


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
class VoiceRun:
    """A whole stream: the samples plus what is needed to judge the instrument itself."""

    samples: list[VoiceSample]
    rate_pps: int
    payload_bytes: int
    dscp: int
    local_clock_synchronised: bool
    remote_clock_synchronised: bool | None
    timestamp_source: str
    started_ns: int
    finished_ns: int
    interrupted: bool = False
    ignored_replies: int = 0  # not a reply to a probe of this run (hostile, stray, malformed)
    late_replies: int = 0  # came back after reply_timeout_s: counted as lost (RFC 7680 Tmax)
    send_errors: int = 0
    sent_ttl: int = SEND_TTL


@dataclass
class _Receiver:
    """Matches replies to samples. Called only from the sending thread, between slots."""

    samples: list[VoiceSample]
    ssid: int
    timeout_ns: int
    sent: int = 0
    received: int = 0
    user_stamped: int = 0
    remote_sync: set[bool] = field(default_factory=set)
    ignored: int = 0
    late: int = 0

    def handle(self, data: bytes, meta: RxMeta, user_ns: int) -> None:
        """Record one datagram; anything that is not a fresh reply of this run is only counted."""
        try:
            reply = unpack_reflector(data)
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
        _read_cos(sample, reply.tlvs)

    def drain(self, sock: socket.socket) -> None:
        """Read every datagram already queued, without blocking."""
        while True:
            try:
                data, anc, _flags, _addr = sock.recvmsg(RECV_BUFSIZE, ANCILLARY_BUFSIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP port unreachable, reported once on a connected socket
                return
            self.handle(data, parse_ancillary(anc), time.time_ns())


def _read_cos(sample: VoiceSample, tlvs: bytes) -> None:
    try:
        parsed = parse_tlvs(tlvs)
    except ValueError:
        return
    for tlv in parsed:
        if tlv.type == TLV_CLASS_OF_SERVICE and not tlv.flags & (TLV_FLAG_U | TLV_FLAG_M):
            cos = unpack_cos(tlv.value)
            sample.dscp_at_reflector, sample.cos_rp = cos.dscp2, cos.rp
            return


def _open_socket(address: str, port: int, source_port: int, dscp: int) -> socket.socket:
    family, kind, proto, _name, sockaddr = socket.getaddrinfo(
        address, port, type=socket.SOCK_DGRAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        if source_port:
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", source_port))
        sock.connect(sockaddr)
        set_tx_tos(sock, dscp << 2)
        set_tx_ttl(sock, SEND_TTL)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class _Pacer:
    """Waits for absolute deadlines: in select() (reading replies) until a margin before the
    slot, then spins. The margin follows the measured wake-up overshoot (2 x its average +
    0.2 ms, kept within 0.3-1.5 ms), so sends are on time without spinning more than needed.
    """

    sock: socket.socket
    rx: _Receiver
    overshoot_ns: float = SPIN_MIN_NS / 2
    use_select: bool = True

    def margin_ns(self) -> int:
        return int(min(SPIN_MAX_NS, max(SPIN_MIN_NS, 2 * self.overshoot_ns + 200_000)))

    def block(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if a datagram is waiting."""
        if self.use_select:
            try:
                return bool(select.select([self.sock], [], [], seconds)[0])
            except ValueError:  # descriptor above FD_SETSIZE
                self.use_select = False
        time.sleep(seconds)
        return False

    def wait(self, deadline: int) -> int:
        """Return once perf_counter_ns() >= deadline, with that reading."""
        while deadline - (now := time.perf_counter_ns()) > (margin := self.margin_ns()):
            target = deadline - margin
            if self.block((target - now) / 1e9):
                self.rx.drain(self.sock)
                continue
            overshoot = min(OVERSHOOT_CAP_NS, time.perf_counter_ns() - target)
            self.overshoot_ns += (overshoot - self.overshoot_ns) / 8
        while (now := time.perf_counter_ns()) < deadline:
            pass
        return now


def _template(payload_bytes: int, dscp: int, ssid: int, ee: ErrorEstimate) -> bytearray:
    tlvs = sender_tlvs(payload_bytes, dscp)
    return bytearray(pack_sender(SenderPacket(0, time.time_ns(), ee, ssid, tlvs)))


def _stragglers(pacer: _Pacer, timeout_ns: int, cancel: threading.Event | None) -> bool:
    """Wait up to `timeout_ns` for outstanding replies; True if cancelled meanwhile."""
    end = time.perf_counter_ns() + timeout_ns
    rx = pacer.rx
    while rx.received < rx.sent and (left := end - time.perf_counter_ns()) > 0:
        if cancel is not None and cancel.is_set():
            return True
        if pacer.block(min(STRAGGLER_POLL_S, left / 1e9)):
            rx.drain(pacer.sock)
    return False


def run_voice_stream(
    address: str,
    port: int,
    *,
    rate_pps: int = 50,
    duration_s: float = 60.0,
    payload_bytes: int = 172,
    dscp: int = 46,
    reply_timeout_s: float = 3.0,
    source_port: int = 0,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> VoiceRun:
    """Send `rate_pps` STAMP packets per second for `duration_s` and collect the replies.

    Blocking: run it on a thread of its own. Returns what was measured, with interrupted=True
    when `cancel` was set. Raises only for bad arguments or when no socket can be opened.
    """
    if rate_pps < 1 or not 0 <= dscp < 64 or reply_timeout_s <= 0 or duration_s < 0:
        raise ValueError(
            f"bad stream parameters: {rate_pps} packets/s, {duration_s} s, DSCP {dscp},"
            f" reply timeout {reply_timeout_s} s"
        )
    local_sync = clock_is_synchronised()
    ssid = secrets.randbelow(0xFFFF) + 1
    template = _template(payload_bytes, dscp, ssid, ErrorEstimate.for_error(1_000_000, local_sync))
    count, interval = round(duration_s * rate_pps), 1_000_000_000 // rate_pps
    rx = _Receiver([VoiceSample(i, 0, 0) for i in range(count)], ssid, int(reply_timeout_s * 1e9))
    sock = _open_socket(address, port, source_port, dscp)
    kernel_stamps = enable_rx_metadata(sock)
    pacer = _Pacer(sock, rx)
    started = time.time_ns()
    interrupted, send_errors = False, 0
    try:
        start = last_progress = time.perf_counter_ns() + START_LEAD_NS
        for i, sample in enumerate(rx.samples):
            if cancel is not None and cancel.is_set():
                interrupted = True
                break
            deadline = start + i * interval
            now = pacer.wait(deadline)
            t1 = time.time_ns()
            _HEAD.pack_into(template, 0, i, unix_ns_to_ntp(t1))
            try:
                sock.send(template)
            except OSError:
                send_errors += 1
            sample.t1_ns, sample.scheduled_ns = t1, t1 - (now - deadline)  # deadline on REALTIME
            rx.sent = i + 1
            now = time.perf_counter_ns()
            if (
                progress
                and now - last_progress >= PROGRESS_EVERY_NS
                and (deadline + interval - now > PROGRESS_MIN_SLACK_NS)
            ):
                last_progress = now
                progress(rx.sent / count, f"{rx.sent} of {count} sent, {rx.received} back")
        if not interrupted:
            interrupted = _stragglers(pacer, rx.timeout_ns, cancel)
        if progress:
            progress(1.0, f"{rx.sent} sent, {rx.received} back")
    finally:
        sock.close()
    del rx.samples[rx.sent :]
    return VoiceRun(
        samples=rx.samples,
        rate_pps=rate_pps,
        payload_bytes=payload_bytes,
        dscp=dscp,
        local_clock_synchronised=local_sync,
        remote_clock_synchronised=all(rx.remote_sync) if rx.remote_sync else None,
        timestamp_source="kernel" if kernel_stamps and not rx.user_stamped else "user",
        started_ns=started,
        finished_ns=time.time_ns(),
        interrupted=interrupted,
        ignored_replies=rx.ignored,
        late_replies=rx.late,
        send_errors=send_errors,
    )

"""Paced call-like STAMP stream (G.711 shape by default) with kernel receive timestamps."""

from __future__ import annotations

import secrets
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
SPIN_NS = 300_000  # sleep until this long before a slot, then spin
START_LEAD_NS = 20_000_000
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
        """Read every reply already queued, without blocking."""
        while True:
            try:
                data, anc, _flags, _addr = sock.recvmsg(RECV_BUFSIZE, ANCILLARY_BUFSIZE)
            except (BlockingIOError, InterruptedError, TimeoutError):
                return
            except OSError:  # e.g. ICMP port unreachable reported on a connected socket
                continue
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


def _open_socket(
    address: str, port: int, source_port: int, dscp: int
) -> tuple[socket.socket, bool]:
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
        kernel = enable_rx_metadata(sock)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock, kernel


def _wait_until(deadline: int) -> int:
    """Sleep until shortly before `deadline` (perf_counter ns), then spin; returns the exit time."""
    now = time.perf_counter_ns()
    if deadline - now > SPIN_NS:
        time.sleep((deadline - now - SPIN_NS) / 1e9)
    while (now := time.perf_counter_ns()) < deadline:
        pass
    return now


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
    _thread: bool = False,
) -> VoiceRun:
    """Send `rate_pps` STAMP packets per second for `duration_s` and collect the replies.

    Blocking; run it on its own thread. Returns partial results with interrupted=True when
    `cancel` is set. Raises only for bad arguments or when the socket cannot be opened.
    """
    if rate_pps < 1 or not 0 <= dscp < 64 or reply_timeout_s <= 0:
        raise ValueError(f"bad stream parameters: {rate_pps} pps, DSCP {dscp}, {reply_timeout_s} s")
    local_sync = clock_is_synchronised()
    ssid = secrets.randbelow(0xFFFF) + 1
    ee = ErrorEstimate.for_error(1_000_000, local_sync)
    template = bytearray(
        pack_sender(SenderPacket(0, time.time_ns(), ee, ssid, sender_tlvs(payload_bytes, dscp)))
    )
    count, interval = round(duration_s * rate_pps), 1_000_000_000 // rate_pps
    samples = [VoiceSample(i, 0, 0) for i in range(count)]
    rx = _Receiver(samples, ssid, int(reply_timeout_s * 1e9))
    sock, kernel = _open_socket(address, port, source_port, dscp)
    stop = threading.Event()
    thread = None
    if _thread:
        sock.settimeout(0.05)

        def loop() -> None:
            while not stop.is_set():
                try:
                    data, anc, _f, _a = sock.recvmsg(RECV_BUFSIZE, ANCILLARY_BUFSIZE)
                except (TimeoutError, InterruptedError):
                    continue
                except OSError:
                    continue
                rx.handle(data, parse_ancillary(anc), time.time_ns())

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
    started = time.time_ns()
    interrupted = False
    try:
        start = time.perf_counter_ns() + START_LEAD_NS
        last_progress = start
        send_errors = 0
        for i in range(count):
            if cancel is not None and cancel.is_set():
                interrupted = True
                break
            deadline = start + i * interval
            now = _wait_until(deadline)
            t1 = time.time_ns()
            _HEAD.pack_into(template, 0, i, unix_ns_to_ntp(t1))
            sample = samples[i]
            sample.t1_ns, sample.scheduled_ns = t1, t1 - (now - deadline)
            rx.sent = i + 1
            try:
                sock.send(template)
            except OSError:
                send_errors += 1
            if not _thread:
                rx.drain(sock)
            now = time.perf_counter_ns()
            if (
                progress
                and now - last_progress >= PROGRESS_EVERY_NS
                and deadline + interval - now > PROGRESS_MIN_SLACK_NS
            ):
                last_progress = now
                progress(i / count, f"{i + 1} of {count} sent, {rx.received} back")
        if not interrupted and count:
            end = time.perf_counter_ns() + int(reply_timeout_s * 1e9)
            while rx.received < rx.sent and (now := time.perf_counter_ns()) < end:
                if cancel is not None and cancel.is_set():
                    interrupted = True
                    break
                if _thread:
                    time.sleep(0.01)
                else:
                    sock.settimeout(min(0.05, (end - now) / 1e9))
                    rx.drain(sock)
    finally:
        stop.set()
        if thread:
            thread.join()
        sock.close()
    finished = time.time_ns()
    del samples[rx.sent :]
    return VoiceRun(
        samples,
        rate_pps,
        payload_bytes,
        dscp,
        local_sync,
        None if not rx.remote_sync else all(rx.remote_sync),
        "kernel" if kernel and not rx.user_stamped else "user",
        started,
        finished,
        interrupted,
        rx.ignored,
        rx.late,
        send_errors,
    )

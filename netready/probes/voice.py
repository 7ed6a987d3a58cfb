"""Paced call-like STAMP stream (G.711 shape by default) with kernel receive timestamps.

Like RTP, the stream can leave from a random free port of a range (`source_ports`) and go
to a port of the platform's RTP range, where `netready responder` reflects STAMP too.
With `hmac_key` it runs in authenticated mode (RFC 8762 §4.2.2, 112-byte base and an
HMAC TLV over the CoS TLV): every reply's HMACs are verified before any field is used,
and replies that fail are counted as ignored.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from netready.probes.live import LiveStats
from netready.probes.sockopts import clock_is_synchronised, enable_rx_metadata
from netready.probes.stamp import (
    AUTH_BASE_SIZE,
    ErrorEstimate,
    SenderPacket,
    hmac_tlv_offset,
    pack_sender,
    seal,
    sender_tlvs,
    unix_ns_to_ntp,
)
from netready.probes.voice_io import SEND_TTL, Receiver, VoiceSample, open_socket

SPIN_MIN_NS = 300_000  # wait in the kernel until at least this long before a slot, then spin
SPIN_MAX_NS = 1_500_000
OVERSHOOT_CAP_NS = 1_000_000  # one late wake-up (VM preemption) must not inflate the margin
START_LEAD_NS = 20_000_000
STRAGGLER_POLL_S = 0.05
PROGRESS_EVERY_NS = 200_000_000
PROGRESS_MIN_SLACK_NS = 2_000_000  # only report progress with this much time left to a slot
MIN_KEY_BYTES = 16
_SEQ = struct.Struct("!I")  # sequence number at offset 0 of every test packet
_T1 = struct.Struct("!Q")  # T1, at:
T1_OFFSET = 4  # unauthenticated packets (RFC 8762 §4.2.1)
T1_OFFSET_AUTH = 16  # authenticated packets (RFC 8762 §4.2.2)

__all__ = ["SEND_TTL", "ProgressFn", "VoiceRun", "VoiceSample", "run_voice_stream"]
RT_PRIORITY = 10  # SCHED_FIFO priority of the pacing thread (low among real-time tasks)

ProgressFn = Callable[[float, str], None]
LiveFn = Callable[[dict[str, float]], None]


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
    source_port: int = 0  # the local UDP port the stream left from
    source_ports: tuple[int, int] | None = None  # the range asked for (see source_in_range)
    ssid: int = 0  # the STAMP Session-Sender Identifier it used
    authenticated: bool = False  # RFC 8762 authenticated mode (HMAC-SHA-256/128)
    realtime: bool = False  # the pacing thread ran with SCHED_FIFO (root or CAP_SYS_NICE)

    @property
    def source_in_range(self) -> bool | None:
        """Did the stream leave from a port of `source_ports`? None if no range was asked.

        False when every port of the range was taken (the kernel picked one instead).
        """
        if self.source_ports is None:
            return None
        return self.source_ports[0] <= self.source_port <= self.source_ports[1]


@dataclass
class _Pacer:
    """Waits for absolute deadlines: in select() (reading replies) until a margin before the
    slot, then spins. The margin follows the measured wake-up overshoot (2 x its average +
    0.2 ms, kept within 0.3-1.5 ms), so sends are on time without spinning more than needed.
    """

    sock: socket.socket
    rx: Receiver
    overshoot_ns: float = SPIN_MIN_NS / 2
    use_select: bool = True

    def margin_ns(self) -> int:
        """How long before a slot to stop waiting in the kernel and start spinning."""
        return int(min(SPIN_MAX_NS, max(SPIN_MIN_NS, 2 * self.overshoot_ns + 200_000)))

    def block(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if a datagram is waiting.

        select() has microsecond resolution but no descriptor above FD_SETSIZE (1024);
        there, poll() (millisecond resolution: the spin margin adapts) takes over.
        """
        if self.use_select:
            try:
                return bool(select.select([self.sock], [], [], seconds)[0])
            except ValueError:  # descriptor above FD_SETSIZE
                if not hasattr(select, "poll"):  # Windows: no poll (and no such limit)
                    raise
                self.use_select = False
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(seconds * 1000.0))

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


def _template(
    payload_bytes: int, dscp: int, ssid: int, ee: ErrorEstimate, key: bytes | None
) -> bytearray:
    tlvs = sender_tlvs(payload_bytes, dscp, authenticated=key is not None)
    return bytearray(pack_sender(SenderPacket(0, time.time_ns(), ee, ssid, tlvs), key))


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


def _check_arguments(
    rate_pps: int,
    dscp: int,
    reply_timeout_s: float,
    duration_s: float,
    source_port: int,
    source_ports: tuple[int, int] | None,
    hmac_key: bytes | None,
    ssid: int,
) -> None:
    if rate_pps < 1 or not 0 <= dscp < 64 or reply_timeout_s <= 0 or duration_s < 0:
        raise ValueError(
            f"bad stream parameters: {rate_pps} packets/s, {duration_s} s, DSCP {dscp},"
            f" reply timeout {reply_timeout_s} s"
        )
    if source_ports is not None and (
        source_port or not 1 <= source_ports[0] <= source_ports[1] <= 65535
    ):
        raise ValueError(f"bad source ports {source_ports} (give one port or one range)")
    if hmac_key is not None and len(hmac_key) < MIN_KEY_BYTES:
        raise ValueError(f"the HMAC key has {len(hmac_key)} bytes; at least 16 are needed")
    if not 0 <= ssid <= 0xFFFF:
        raise ValueError(f"SSID {ssid} is outside 0-65535")


def _realtime_on() -> bool:
    """Give this (the pacing) thread SCHED_FIFO so the VM's other work cannot delay a slot.

    Only this thread: on Linux, pid 0 means the calling thread. The pacer sleeps most of each
    20 ms slot, so it cannot starve the machine (and the kernel caps RT time at 95 %).
    Without root or CAP_SYS_NICE this fails and the stream runs as before.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
    except (OSError, AttributeError):
        return False
    return True


def _realtime_off() -> None:
    with contextlib.suppress(OSError, AttributeError):  # no sched_* on Windows and macOS
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


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
    source_ports: tuple[int, int] | None = None,
    hmac_key: bytes | None = None,
    ssid: int = 0,
    clock_synchronised: bool | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    live: LiveFn | None = None,
) -> VoiceRun:
    """Send `rate_pps` STAMP packets per second for `duration_s` and collect the replies.

    The stream leaves from `source_port`, or from a random free port of `source_ports`
    (first, last), or from a port the kernel picks (also when every port of the range is
    taken); VoiceRun.source_port tells which, VoiceRun.source_in_range whether it is in
    the range.
    `hmac_key` switches to authenticated mode (payload_bytes >= 140 then) with `ssid`
    (0: a random one; the responder picks the key by SSID, or its default key).
    `clock_synchronised` overrides the host clock's own state (None = ask the kernel), for
    an operator who knows better, e.g. both ends on one host or on one PTP grandmaster.

    `live` gets running figures (engine.live.LiveStats) at each progress step, for charts.

    Blocking: run it on a thread of its own. Returns what was measured, with interrupted=True
    when `cancel` was set. Raises only for bad arguments or when no socket can be opened.
    """
    _check_arguments(
        rate_pps, dscp, reply_timeout_s, duration_s, source_port, source_ports, hmac_key, ssid
    )
    local_sync = clock_is_synchronised() if clock_synchronised is None else clock_synchronised
    ssid = ssid or secrets.randbelow(0xFFFF) + 1
    ee = ErrorEstimate.for_error(1_000_000, local_sync)
    template = _template(payload_bytes, dscp, ssid, ee, hmac_key)
    t1_at = T1_OFFSET if hmac_key is None else T1_OFFSET_AUTH
    hmac_at = None if hmac_key is None else hmac_tlv_offset(template[AUTH_BASE_SIZE:])
    count, interval = round(duration_s * rate_pps), 1_000_000_000 // rate_pps
    rx = Receiver(
        [VoiceSample(i, 0, 0) for i in range(count)], ssid, int(reply_timeout_s * 1e9), hmac_key
    )
    sock = open_socket(address, port, source_port, source_ports, dscp)
    local_port = int(sock.getsockname()[1])
    kernel_stamps = enable_rx_metadata(sock)
    pacer = _Pacer(sock, rx)
    live_stats = LiveStats(int(reply_timeout_s * 1e9), local_sync)
    started = time.time_ns()
    interrupted, send_errors = False, 0
    realtime = _realtime_on()
    try:
        start = last_progress = time.perf_counter_ns() + START_LEAD_NS
        for i, sample in enumerate(rx.samples):
            if cancel is not None and cancel.is_set():
                interrupted = True
                break
            deadline = start + i * interval
            now = pacer.wait(deadline)
            t1 = time.time_ns()
            _SEQ.pack_into(template, 0, i)
            _T1.pack_into(template, t1_at, unix_ns_to_ntp(t1))
            if hmac_key is not None:
                seal(template, hmac_key, hmac_at)
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
                if live:
                    live_stats.measured_one_way = local_sync and rx.remote_sync == {True}
                    live(live_stats.update(rx.samples, rx.sent, time.time_ns()))
        if not interrupted:
            interrupted = _stragglers(pacer, rx.timeout_ns, cancel)
        if progress:
            progress(1.0, f"{rx.sent} sent, {rx.received} back")
    finally:
        sock.close()
        if realtime:
            _realtime_off()
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
        source_port=local_port,
        source_ports=source_ports,
        ssid=ssid,
        realtime=realtime,
        authenticated=hmac_key is not None,
    )

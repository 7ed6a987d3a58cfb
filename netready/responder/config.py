"""What `netready responder` binds and which limits it enforces (`ResponderConfig`), and
the descriptor limit that binding needs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from netready.model import PortRange
from netready.responder.limits import IPNetwork, ReflectorLimits
from netready.responder.udp_ports import ResponderError

#: Descriptors kept free beyond the sockets we bind (accepted TCP connections,
#: files the process opens later, the interpreter's own).
FD_HEADROOM = 256


@dataclass(frozen=True)
class ResponderConfig:
    """What the responder binds, and its limits. Port 0 for the STAMP port picks a free one.

    Limits (like irtt's server; 0 switches a rate or time limit off): `max_session_s`,
    `min_interval_ms` (a session's average interval), `max_packet` (bytes of UDP payload),
    `max_pps_per_source` (STAMP packets/s of one source address over all its sessions;
    port probes are not counted), `max_sessions` (tracked at once; a new session takes the
    place of the least recently active one if that one has been quiet for 5 s, else
    the newcomer is dropped), `allow` (source networks that may use
    the responder at all, STAMP, port probes and TCP alike; empty = everyone).
    `keys` (SSID -> HMAC key, 0 = default) switches STAMP to authenticated mode;
    `replay_window_s` is then how far a sender's clock may be from ours (0: off).
    Global caps against spoofed floods (`netready.responder.udp_guard`):
    `max_probe_echoes_per_source` and `max_probe_echoes_total` (port-probe echoes a
    second), `max_reply_bytes_per_s` (every UDP reply, all services together).
    """

    listen: str = "127.0.0.1"
    stamp_port: int = 862
    udp_ports: tuple[PortRange, ...] = ()
    tcp_ports: tuple[PortRange, ...] = ()
    tls_ports: tuple[PortRange, ...] = ()  # TLS listeners; a port here is not also plain TCP
    tls_cert: str = ""  # PEM files; "" = a self-signed certificate made at start
    tls_key: str = ""
    sip_echo_ports: tuple[PortRange, ...] = ()  # SIP echo on UDP and TCP (not also probe/TCP)
    h323_echo_ports: tuple[PortRange, ...] = ()  # H.323 (H.225) echo on TCP (not also TCP/TLS)
    clock_synchronised: bool | None = None  # None = ask the host clock (and keep asking)
    max_session_s: float = 600.0
    min_interval_ms: float = 5.0
    max_packet: int = 1472
    max_pps_per_source: int = 500
    max_sessions: int = 4096
    allow: tuple[IPNetwork, ...] = ()
    keys: Mapping[int, bytes] | None = field(default=None, repr=False, compare=False)
    session_idle_s: float = 30.0
    replay_window_s: float = 30.0
    max_probe_echoes_per_source: int = 10_000
    max_probe_echoes_total: int = 50_000
    max_reply_bytes_per_s: int = 20_000_000

    @property
    def limits(self) -> ReflectorLimits:
        """The per-client limits the STAMP reflector enforces."""
        return ReflectorLimits(
            max_session_s=self.max_session_s,
            min_interval_ms=self.min_interval_ms,
            max_packet=self.max_packet,
            max_pps_per_source=self.max_pps_per_source,
            replay_window_s=self.replay_window_s,
        )

    def check(self) -> None:
        """Raise ResponderError naming the first setting that cannot work."""
        try:
            self.limits.check()
        except ValueError as exc:
            raise ResponderError(str(exc)) from None
        if self.keys is not None and self.max_packet < 112:
            raise ResponderError(
                f"max packet {self.max_packet} bytes is below the 112-byte authenticated packet"
            )
        budgets = (
            self.max_probe_echoes_per_source,
            self.max_probe_echoes_total,
            self.max_reply_bytes_per_s,
        )
        if min(budgets) < 0:
            raise ResponderError("the reply budgets cannot be negative (0 switches one off)")
        if self.max_sessions < 1:
            raise ResponderError("max sessions must be at least 1")
        if self.session_idle_s <= 0:
            raise ResponderError("the session idle time must be positive")
        if not 0 <= self.stamp_port <= 65535:
            raise ResponderError(f"STAMP port {self.stamp_port} is outside 0-65535")


def parse_port_list(text: str) -> tuple[PortRange, ...]:
    """Parse "16384-32767,50000-50100,60000" into sorted, merged PortRanges (1-65535)."""
    ranges: list[PortRange] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            if text.strip():
                raise ValueError(f"empty entry in port list {text!r}")
            continue
        first_s, sep, last_s = item.partition("-")
        try:
            first = int(first_s.strip())
            last = int(last_s.strip()) if sep else first
        except ValueError:
            raise ValueError(f"{item!r} is not a port or a range like 16384-32767") from None
        for port in (first, last):
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} in {item!r} is outside 1-65535")
        if first > last:
            raise ValueError(f"range {item!r} runs backwards (first port above last)")
        ranges.append(PortRange(first, last))
    return merge_ranges(ranges)


def merge_ranges(ranges: Iterable[PortRange]) -> tuple[PortRange, ...]:
    """Sorted ranges with overlapping and adjacent ones joined (a port appears once)."""
    merged: list[PortRange] = []
    for r in sorted(ranges, key=lambda r: r.first):
        if merged and r.first <= merged[-1].last + 1:
            merged[-1] = PortRange(merged[-1].first, max(merged[-1].last, r.last))
        else:
            merged.append(r)
    return tuple(merged)


def subtract_ranges(
    ranges: Iterable[PortRange], remove: Iterable[PortRange]
) -> tuple[PortRange, ...]:
    """`ranges` without the ports of `remove` (merged, sorted)."""
    gone = merge_ranges(remove)
    out: list[PortRange] = []
    for r in merge_ranges(ranges):
        first = r.first
        for g in gone:
            if g.last < first or g.first > r.last:
                continue
            if g.first > first:
                out.append(PortRange(first, g.first - 1))
            first = g.last + 1
        if first <= r.last:
            out.append(PortRange(first, r.last))
    return tuple(out)


def ensure_fd_limit(sockets: int) -> None:
    """Raise the soft RLIMIT_NOFILE (never the hard one) so `sockets` more fds fit."""
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    needed = sockets + in_use + FD_HEADROOM
    try:
        import resource  # POSIX only
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or needed <= soft:
        return
    if hard != resource.RLIM_INFINITY and needed > hard:
        raise ResponderError(
            f"the responder needs about {needed} file descriptors ({sockets} sockets, "
            f"{in_use} already open, {FD_HEADROOM} spare) but this process may have at most "
            f"{hard} (hard RLIMIT_NOFILE); configure fewer ports or raise `ulimit -Hn`"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))

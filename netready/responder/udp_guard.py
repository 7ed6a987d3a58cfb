"""What every UDP service of the responder checks before it answers a datagram.

Internet-facing UDP reflectors are abused with forged sources: an attacker makes the
responder answer a victim, or answer itself (two of its own sockets, or two
reflectors, then echo each other for ever). `UdpGuard` keeps the rules shared by the
STAMP port, the media ports and the SIP echo:

* `refuse_source`: never answer a datagram that claims to come from one of the
  responder's own sockets (its bound ports on one of its own addresses; with a
  wildcard listen address the host's addresses are learned from each datagram's
  destination, loopback always counts), nor from a privileged port (< 1024): a real
  client sends from an ephemeral port, while 862 (STAMP), 7 (echo), 19 (chargen) and
  the like are where other reflectors answer from;
* `admit_probe`: the port-probe echo is limited per source (token bucket, O(1)
  admission) and in all (`RateBudget`);
* `admit_reply`: a global budget of reply bytes a second over every UDP service, so
  spoofed sources that each stay under their own limit cannot make the responder send
  without bound.

Each refusal is a reason name; the services count them (`DropCounter`).
"""

from __future__ import annotations

import socket

from netready.probes.sockopts import AncillaryData
from netready.responder.limits import RateBudget, SourceLimiter
from netready.responder.udp_ports import IP_PKTINFO, IPV6_PKTINFO, is_wildcard

#: Ports below this are privileged: no client of ours sends from one.
FIRST_CLIENT_PORT = 1024
#: Local addresses learned from destinations at most (a host has a handful).
MAX_LEARNED_ADDRESSES = 1024
#: Defaults (ResponderConfig has the same): port-probe echoes per source address a second
#: (a sweep keeps 128 probes in flight; on loopback that is thousands a second) and for
#: everybody together; reply bytes a second over all UDP services together.
PROBE_ECHOES_PER_SOURCE = 10_000
PROBE_ECHOES_TOTAL = 50_000
REPLY_BYTES_PER_S = 20_000_000


def plain_address(host: str) -> str:
    """`host` without a scope id, IPv4-mapped IPv6 written as IPv4."""
    host = host.partition("%")[0]
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8 and ::1 (always the host's own addresses)."""
    return host.startswith("127.") or host == "::1"


def destination_address(anc: AncillaryData) -> str | None:
    """The datagram's destination address from IP_PKTINFO / IPV6_PKTINFO, if present."""
    for level, kind, blob in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(blob) >= 12:
            return socket.inet_ntop(socket.AF_INET, blob[8:12])
        if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(blob) >= 16:
            return plain_address(socket.inet_ntop(socket.AF_INET6, blob[:16]))
    return None


class DropCounter:
    """Datagrams (or connections) a service did not answer, in all and by reason."""

    def __init__(self) -> None:
        self.total = 0
        self.by_reason: dict[str, int] = {}

    def count(self, reason: str) -> None:
        """One more drop for `reason` (a kebab-case name, like the STAMP reasons)."""
        self.total += 1
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


class UdpGuard:
    """The source filter and the rate budgets shared by the responder's UDP services."""

    def __init__(
        self,
        listen: str,
        probe_per_source: float = PROBE_ECHOES_PER_SOURCE,
        probe_total: float = PROBE_ECHOES_TOTAL,
        reply_bytes_per_s: float = REPLY_BYTES_PER_S,
    ) -> None:
        self.wildcard = is_wildcard(listen)
        self.own_ports: set[int] = set()
        self.own_addresses: set[str] = set() if self.wildcard else {plain_address(listen)}
        self._probe_sources = SourceLimiter(probe_per_source)
        self._probe_total = RateBudget(probe_total)
        self._reply_bytes = RateBudget(reply_bytes_per_s)

    def add_socket(self, sock: socket.socket) -> None:
        """Remember a bound UDP socket: datagrams claiming to come from it are refused."""
        self.own_ports.add(int(sock.getsockname()[1]))

    def refuse_source(self, host: str, port: int, anc: AncillaryData) -> str | None:
        """The reason not to answer (host, port) at all, or None when it may be answered."""
        if port < FIRST_CLIENT_PORT:
            return "privileged-source-port"
        if port not in self.own_ports:
            return None
        host = plain_address(host)
        if self.wildcard:
            if is_loopback(host):
                return "own-socket-source"
            destination = destination_address(anc)
            if destination is not None and len(self.own_addresses) < MAX_LEARNED_ADDRESSES:
                self.own_addresses.add(destination)
        return "own-socket-source" if host in self.own_addresses else None

    def admit_probe(self, host: str, now_ns: int) -> str | None:
        """The reason not to echo a port probe from `host` now, or None to echo it."""
        if not self._probe_sources.admit(plain_address(host), now_ns):
            return "probe-source-rate"
        if not self._probe_total.charge(1, now_ns):
            return "probe-global-rate"
        return None

    def admit_reply(self, size: int, now_ns: int) -> str | None:
        """The reason not to send a `size`-byte reply now (global budget), or None."""
        return None if self._reply_bytes.charge(size, now_ns) else "global-reply-budget"

    def tick(self, now_ns: int) -> None:
        """Housekeeping: forget sources whose probe bucket has refilled."""
        self._probe_sources.prune(now_ns)

"""The responder's limits (like irtt's server): rates, sizes, session time, allowed sources.

Rates are token buckets on the datagrams' kernel receive times, so a burst that the
network bunched together is not cut: a bucket holds half a second of packets
(`BURST_S`) and refills at the configured rate. All state is bounded: the per-source
table and the allow-list cache never grow beyond `SOURCE_CAP` entries.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: A rate bucket holds this many seconds of packets (and at least MIN_BURST packets).
BURST_S = 0.5
MIN_BURST = 10.0
#: Most sources (per-source buckets, allow-list verdicts) remembered at once.
SOURCE_CAP = 65_536
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class ReflectorLimits:
    """What one STAMP client may do; 0 switches a rate or time limit off."""

    max_session_s: float = 600.0  # a session older than this is no longer answered
    min_interval_ms: float = 5.0  # a session's average packet interval (token bucket)
    max_packet: int = 1472  # larger datagrams are dropped (no IP fragments on a 1500 MTU)
    max_pps_per_source: int = 500  # all sessions of one source IP together
    replay_window_s: float = 30.0  # authenticated: sender clock within this of ours (0: off)

    def check(self) -> None:
        """Raise ValueError naming the first limit that makes no sense."""
        if min(self.max_session_s, self.min_interval_ms, self.max_pps_per_source) < 0 or (
            self.replay_window_s < 0
        ):
            raise ValueError("limits cannot be negative (0 switches a limit off)")
        if not 44 <= self.max_packet <= 65_507:
            raise ValueError(
                f"max packet {self.max_packet} bytes: give 44-65507 (a UDP payload that "
                "holds at least a STAMP base packet)"
            )


def burst_for(rate_per_s: float) -> float:
    """Bucket size for a rate: half a second of packets, at least MIN_BURST."""
    return max(MIN_BURST, rate_per_s * BURST_S)


def take_token(
    tokens: float, last_ns: int, now_ns: int, rate_per_s: float, burst: float
) -> tuple[bool, float]:
    """One token-bucket step: (admitted, tokens left). A clock going back refills nothing."""
    elapsed = now_ns - last_ns
    if elapsed > 0:
        tokens = min(burst, tokens + elapsed * rate_per_s / NS_PER_S)
    if tokens >= 1.0:
        return True, tokens - 1.0
    return False, tokens


class SourceLimiter:
    """Token bucket per source address over all its sessions (`rate_per_s` 0: no limit).

    The buckets are kept in least-recently-used order, so admitting a newcomer into a full
    table costs one look at the oldest bucket (O(1)), never a scan: if that bucket has
    refilled completely, its source behaves like a new one anyway and is forgotten for
    the newcomer; otherwise the newcomer is refused (a flood from spoofed sources).
    """

    def __init__(self, rate_per_s: float, cap: int = SOURCE_CAP) -> None:
        self.rate = float(rate_per_s)
        self.burst = burst_for(self.rate)
        self.cap = cap
        self.refused_newcomers = 0
        # source -> (tokens, last_ns), least recently used first. Tuples of numbers, not
        # lists: the garbage collector stops tracking them, so tens of thousands of
        # spoofed sources do not lengthen its full collections (each one stalls the loop).
        self._buckets: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._refill_ns = self.burst / self.rate * NS_PER_S if self.rate > 0 else 0.0

    def admit(self, source: str, now_ns: int) -> bool:
        """Take a token for `source`; False when it is over its rate (or the table is full)."""
        if self.rate <= 0:
            return True
        buckets = self._buckets
        bucket = buckets.get(source)
        if bucket is None:
            if len(buckets) >= self.cap:
                _tokens, oldest_ns = next(iter(buckets.values()))
                if now_ns - oldest_ns <= self._refill_ns:
                    self.refused_newcomers += 1
                    return False  # every remembered source is busy: refuse the newcomer
                buckets.popitem(last=False)
            buckets[source] = (self.burst - 1.0, now_ns)
            return True
        buckets.move_to_end(source)
        tokens, last_ns = bucket
        ok, tokens = take_token(tokens, last_ns, now_ns, self.rate, self.burst)
        buckets[source] = (tokens, max(last_ns, now_ns))
        return ok

    def prune(self, now_ns: int) -> None:
        """Forget sources whose bucket has refilled completely (they behave like new ones).

        Walks from the least recently used end and stops at the first busy source, so the
        cost is the number of sources forgotten.
        """
        buckets = self._buckets
        while buckets:
            _tokens, oldest_ns = next(iter(buckets.values()))
            if now_ns - oldest_ns <= self._refill_ns:
                return
            buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


class RateBudget:
    """One token bucket for everybody together: the global cap of a service.

    `charge(n)` takes `n` tokens (1 per packet, or the reply's bytes); `rate_per_s` 0
    switches the budget off. Spoofed sources can each stay under a per-source limit;
    this cap bounds what the responder sends in all, whoever asks.
    """

    def __init__(self, rate_per_s: float) -> None:
        self.rate = float(rate_per_s)
        self.burst = burst_for(self.rate)
        self._tokens = self.burst
        self._last_ns = 0

    def charge(self, amount: float, now_ns: int) -> bool:
        """Take `amount` tokens now; False (nothing taken) when the budget is spent."""
        if self.rate <= 0:
            return True
        elapsed = now_ns - self._last_ns
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate / NS_PER_S)
            self._last_ns = now_ns
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True


def parse_allow(texts: list[str] | tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Networks from CIDR strings ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7")."""
    networks: list[IPNetwork] = []
    for text in texts:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not an address or a network like 10.0.0.0/8") from None
    return tuple(networks)


class AllowList:
    """Which source addresses may use the responder (an empty list allows all)."""

    def __init__(self, networks: tuple[IPNetwork, ...] | list[IPNetwork]) -> None:
        self.networks = tuple(networks)
        self._verdicts: dict[str, bool] = {}

    def permits(self, host: str) -> bool:
        """True if `host` (an address string; IPv4-mapped IPv6 counts as IPv4) is allowed."""
        if not self.networks:
            return True
        verdict = self._verdicts.get(host)
        if verdict is None:
            verdict = self._decide(host)
            if len(self._verdicts) >= SOURCE_CAP:
                self._verdicts.clear()
            self._verdicts[host] = verdict
        return verdict

    def _decide(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


class LineBudget:
    """At most `per_s` log lines a second on average (bursts of `burst`); counts the rest."""

    def __init__(self, per_s: float = 20.0, burst: float = 100.0) -> None:
        self.per_s = per_s
        self.burst = burst
        self._tokens = burst
        self._last_ns = 0
        self.suppressed = 0

    def allow(self, now_ns: int) -> bool:
        """True if one more line may be logged now."""
        ok, self._tokens = take_token(self._tokens, self._last_ns, now_ns, self.per_s, self.burst)
        self._last_ns = max(self._last_ns, now_ns)
        if not ok:
            self.suppressed += 1
        return ok


class PerSecond:
    """At most `limit` events per source address in each whole second (thread-safe).

    Only the current second is remembered: when the second changes the table starts
    afresh (O(1) per call, amortised). At most `max_sources` sources are counted in one
    second; newcomers beyond that are refused until the next second, so a flood of
    spoofed sources costs bounded memory and no rebuilds.
    """

    def __init__(self, limit: int, max_sources: int = 4096) -> None:
        self.limit = limit
        self.max_sources = max_sources
        self._second = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, source: str) -> bool:
        """Count one event from `source`; False once it is over this second's limit."""
        now = int(time.monotonic())
        with self._lock:
            if now != self._second:
                self._second, self._counts = now, {}
            count = self._counts.get(source, 0) + 1
            if count == 1 and len(self._counts) >= self.max_sources:
                return False
            self._counts[source] = count
        return count <= self.limit


def prefix_of(host: str) -> str:
    """The network a source belongs to for per-network caps: its /24 (IPv4) or /64 (IPv6).

    IPv4-mapped IPv6 addresses count as IPv4; anything that is not an address is its own
    network (so callers may use plain names in tests).
    """
    host = host.partition("%")[0]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    if "." in host and ":" not in host:
        return host.rpartition(".")[0] + ".0/24"
    if ":" in host:
        try:
            packed = socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            return host
        return packed[:8].hex() + "/64"
    return host


class Workers:
    """Worker threads for TCP echoes: `total` at once, at most `per_source` for one address
    and `per_network` for one /24 (IPv4) or /64 (IPv6).

    Without the per-source cap, one client holding slow connections open could take every
    worker and shut others out (a stalled request keeps its worker until its deadline);
    without the per-network cap, a handful of neighbouring addresses could do the same.
    """

    def __init__(self, total: int, per_source: int, per_network: int = 0) -> None:
        self.total = total
        self.per_source = per_source
        self.per_network = per_network or 2 * per_source
        self._busy: dict[str, int] = {}
        self._busy_networks: dict[str, int] = {}
        self._in_use = 0
        self._lock = threading.Lock()

    def take(self, source: str) -> bool:
        """Reserve a worker for `source`; False when none may be had."""
        network = prefix_of(source)
        with self._lock:
            mine = self._busy.get(source, 0)
            ours = self._busy_networks.get(network, 0)
            if mine >= self.per_source or ours >= self.per_network or self._in_use >= self.total:
                return False
            self._busy[source] = mine + 1
            self._busy_networks[network] = ours + 1
            self._in_use += 1
            return True

    def give_back(self, source: str) -> None:
        """Release a worker taken for `source`."""
        network = prefix_of(source)
        with self._lock:
            if source not in self._busy:
                return
            self._in_use -= 1
            for table, key in ((self._busy, source), (self._busy_networks, network)):
                left = table.get(key, 0) - 1
                if left > 0:
                    table[key] = left
                else:
                    table.pop(key, None)

"""The responder's limits (like irtt's server): rates, sizes, session time, allowed sources.

Rates are token buckets on the datagrams' kernel receive times, so a burst that the
network bunched together is not cut: a bucket holds half a second of packets
(`BURST_S`) and refills at the configured rate. All state is bounded: the per-source
table and the allow-list cache never grow beyond `SOURCE_CAP` entries.
"""

from __future__ import annotations

import ipaddress
import threading
import time
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

    def check(self) -> None:
        """Raise ValueError naming the first limit that makes no sense."""
        if self.max_session_s < 0 or self.min_interval_ms < 0 or self.max_pps_per_source < 0:
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
    """Token bucket per source address over all its sessions (`rate_per_s` 0: no limit)."""

    def __init__(self, rate_per_s: float, cap: int = SOURCE_CAP) -> None:
        self.rate = float(rate_per_s)
        self.burst = burst_for(self.rate)
        self.cap = cap
        self._buckets: dict[str, list[float]] = {}  # source -> [tokens, last_ns]

    def admit(self, source: str, now_ns: int) -> bool:
        """Take a token for `source`; False when it is over its rate (or the table is full)."""
        if self.rate <= 0:
            return True
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= self.cap:
                self.prune(now_ns)
                if len(self._buckets) >= self.cap:
                    return False  # a flood from spoofed sources: refuse the newcomer
            self._buckets[source] = [self.burst - 1.0, float(now_ns)]
            return True
        ok, tokens = take_token(bucket[0], int(bucket[1]), now_ns, self.rate, self.burst)
        bucket[0] = tokens
        bucket[1] = float(max(int(bucket[1]), now_ns))
        return ok

    def prune(self, now_ns: int) -> None:
        """Forget sources whose bucket has refilled completely (they behave like new ones)."""
        if self.rate <= 0:
            return
        refill_ns = self.burst / self.rate * NS_PER_S
        stale = [s for s, (_t, last) in self._buckets.items() if now_ns - last > refill_ns]
        for source in stale:
            del self._buckets[source]

    def __len__(self) -> int:
        return len(self._buckets)


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

    The table forgets sources of past seconds once it holds more than `max_sources`, so a
    flood of spoofed sources costs bounded memory.
    """

    def __init__(self, limit: int, max_sources: int = 4096) -> None:
        self.limit = limit
        self.max_sources = max_sources
        self._seen: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def allow(self, source: str) -> bool:
        """Count one event from `source`; False once it is over this second's limit."""
        now = int(time.monotonic())
        with self._lock:
            if len(self._seen) > self.max_sources:
                self._seen = {k: v for k, v in self._seen.items() if v[0] == now}
            second, count = self._seen.get(source, (now, 0))
            count = count + 1 if second == now else 1
            self._seen[source] = (now, count)
        return count <= self.limit


class Workers:
    """Worker threads for TCP echoes: `total` at once, at most `per_source` for one address.

    Without the per-source cap, one client holding slow connections open could take every
    worker and shut others out (a stalled request keeps its worker until its deadline).
    """

    def __init__(self, total: int, per_source: int) -> None:
        self.total = total
        self.per_source = per_source
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, source: str) -> bool:
        """Reserve a worker for `source`; False when none may be had."""
        with self._lock:
            mine = self._busy.get(source, 0)
            if mine >= self.per_source or sum(self._busy.values()) >= self.total:
                return False
            self._busy[source] = mine + 1
            return True

    def give_back(self, source: str) -> None:
        """Release a worker taken for `source`."""
        with self._lock:
            left = self._busy.get(source, 0) - 1
            if left > 0:
                self._busy[source] = left
            else:
                self._busy.pop(source, None)

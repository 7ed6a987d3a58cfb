"""`netready responder --metrics ADDR:PORT`: the responder's counters as OpenMetrics.

A custom prometheus_client collector reads the snapshots `Responder.stats`
(`ResponderStats`) and `Responder.echo_stats` (`EchoStats`) when Prometheus scrapes,
so the packet path pays nothing for it. Every field of both snapshots is exported by
one rule, so counters and drop reasons added later appear without a change here:

* an int field `X` becomes the counter `netready_responder_X_total` (help text and a
  clearer name for the known ones in `NAMES`);
* an int field `X_dropped` becomes `netready_responder_X_dropped_total{reason=...}`,
  broken down by the `(reason, count)` pairs (or mapping) of a field `X_drops` where
  there is one; drops no reason explains are counted as `reason="other"`;
* any other field of `(reason, count)` pairs `X_drops` becomes
  `netready_responder_X_dropped_total{reason=...}` as well, and one of another name `Y`
  becomes `netready_responder_Y_total{reason=...}`.

Besides: `netready_responder_build_info{version,python}`, the STAMP sessions tracked
now (`netready_responder_stamp_sessions_active`), the start time and the
process' own figures (`netready_responder_process_open_fds`, `..._max_fds`, memory,
CPU), which matter for a responder holding ~16,900 file descriptors. The HTTP server
(prometheus_client's `start_http_server`) runs on its own daemon thread, bound only to
the given address, and `MetricsServer.stop()` shuts it down.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import platform
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from netready import __version__
from netready.addr import split_host_port
from netready.errors import UsageError
from netready.responder.echo_stats import EchoStats
from netready.responder.stats import ResponderStats
from netready.responder.udp_ports import ResponderError

PREFIX = "netready_responder_"

#: Snapshot field -> (metric name without prefix and `_total`, help). Fields not listed
#: are still exported, under their own name.
NAMES: dict[str, tuple[str, str]] = {
    "stamp_reflected": ("stamp_reflected", "STAMP test packets reflected"),
    "stamp_dropped": ("stamp_dropped", "STAMP test packets not answered, by reason"),
    "stamp_sessions": ("stamp_sessions", "STAMP sessions started"),
    "stamp_evicted": (
        "stamp_sessions_evicted",
        "active STAMP sessions forgotten because the session table was full",
    ),
    "udp_echoed": ("udp_echoed", "UDP port probes echoed"),
    "udp_dropped": ("udp_dropped", "UDP port probes not echoed, by reason"),
    "tcp_accepted": ("tcp_accepted", "TCP connections accepted (banner and TLS ports)"),
    "tcp_refused": ("tcp_refused", "TCP connections refused (allow-list, limits)"),
    "tcp_errors": ("tcp_errors", "TCP connections that failed (accept, send, reset)"),
    "internal_errors": ("internal_errors", "exceptions caught by the responder loop"),
    "sip_echoed": ("sip_echoed", "SIP requests echoed (UDP and TCP)"),
    "sip_dropped": ("sip_dropped", "SIP requests not echoed, by reason"),
    "h323_echoed": ("h323_echoed", "H.225 SETUP messages echoed"),
    "h323_dropped": ("h323_dropped", "H.225 SETUP messages not echoed, by reason"),
    "tls_handshakes": ("tls_handshakes", "TLS handshakes completed"),
    "tls_handshake_failures": ("tls_handshake_failures", "TLS handshakes that failed"),
}

#: The reason label for drops that no breakdown explains.
OTHER_REASON = "other"


class StatsSource(Protocol):
    """What the collector reads: a running (or stopped) `Responder`."""

    @property
    def stats(self) -> ResponderStats: ...

    @property
    def echo_stats(self) -> EchoStats: ...

    @property
    def active_sessions(self) -> int: ...


def _reason_pairs(value: object) -> list[tuple[str, int]] | None:
    """`value` as (reason, count) pairs if it is a mapping or a sequence of pairs, else None."""
    if isinstance(value, Mapping):
        items: Iterable[Any] = value.items()
    elif isinstance(value, tuple | list):
        items = value
    else:
        return None
    pairs: list[tuple[str, int]] = []
    for item in items:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            return None
        reason, count = item
        if not isinstance(reason, str) or not isinstance(count, int):
            return None
        pairs.append((reason, count))
    return pairs


def _name_and_help(field: str) -> tuple[str, str]:
    name, help_text = NAMES.get(field, (field, f"responder counter {field}"))
    return PREFIX + name, help_text


def _dropped_family(field: str, total: int, pairs: list[tuple[str, int]]) -> Metric:
    name, help_text = _name_and_help(field)
    family = CounterMetricFamily(name, help_text, labels=["reason"])
    by_reason: dict[str, int] = {}
    for reason, count in pairs:
        by_reason[reason] = by_reason.get(reason, 0) + count
    explained = sum(by_reason.values())
    if total > explained:
        by_reason[OTHER_REASON] = by_reason.get(OTHER_REASON, 0) + total - explained
    if not by_reason:
        by_reason[OTHER_REASON] = 0  # the family is there from the first scrape on
    for reason, count in sorted(by_reason.items()):
        family.add_metric([reason], count)
    return family


def snapshot_fields(*snapshots: object) -> dict[str, object]:
    """The fields of several stats dataclasses as one mapping (a breakdown `X_drops` in
    one finds its total `X_dropped` in another)."""
    values: dict[str, object] = {}
    for snapshot in snapshots:
        assert dataclasses.is_dataclass(snapshot)
        values.update((f.name, getattr(snapshot, f.name)) for f in dataclasses.fields(snapshot))
    return values


def snapshot_families(values: Mapping[str, object]) -> Iterator[Metric]:
    """One metric family per counter among the snapshot fields, by the rules above."""
    breakdowns = {
        field: pairs
        for field, value in values.items()
        if field.endswith("_drops") and (pairs := _reason_pairs(value)) is not None
    }
    for field, value in values.items():
        if field in breakdowns:
            dropped_field = field.removesuffix("_drops") + "_dropped"
            if dropped_field not in values:  # a breakdown without its own total
                yield _dropped_family(dropped_field, 0, breakdowns[field])
            continue
        pairs = None if isinstance(value, str | int) else _reason_pairs(value)
        if pairs is not None:  # some other breakdown by reason: a counter per reason
            name, help_text = _name_and_help(field)
            family = CounterMetricFamily(name, help_text, labels=["reason"])
            for reason, count in sorted(pairs):
                family.add_metric([reason], count)
            yield family
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            continue  # nothing else is a counter
        if field.endswith("_dropped"):
            reasons = breakdowns.get(field.removesuffix("_dropped") + "_drops", [])
            yield _dropped_family(field, value, reasons)
            continue
        name, help_text = _name_and_help(field)
        yield CounterMetricFamily(name, help_text, value=value)


class ResponderCollector:
    """prometheus_client collector: reads the responder's snapshots at scrape time."""

    def __init__(self, source: StatsSource, started_at: float | None = None) -> None:
        self._source = source
        self._started_at = time.time() if started_at is None else started_at

    def describe(self) -> list[Metric]:
        """Nothing up front: the families follow the snapshot's fields at scrape time."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The metric families of one scrape."""
        yield InfoMetricFamily(
            PREFIX + "build",
            "netready version and Python version of this responder",
            value={"version": __version__, "python": platform.python_version()},
        )
        yield GaugeMetricFamily(
            PREFIX + "start_time_seconds",
            "when this responder started, seconds since the Unix epoch",
            value=self._started_at,
        )
        yield GaugeMetricFamily(
            PREFIX + "stamp_sessions_active",
            "STAMP sessions tracked right now",
            value=self._source.active_sessions,
        )
        yield from snapshot_families(snapshot_fields(self._source.stats, self._source.echo_stats))


def parse_metrics_address(text: str) -> tuple[str, int]:
    """`--metrics ADDR:PORT` ([ADDR]:PORT for IPv6): an IP literal (no name lookup) and a port."""
    example = "give ADDR:PORT, e.g. 127.0.0.1:9862 or [::1]:9862"
    try:
        host, port = split_host_port(text, default_port=0)
    except ValueError as exc:
        raise UsageError(f"--metrics: {exc} ({example})") from None
    if not port:
        raise UsageError(f"--metrics: {text!r}: no port ({example})")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--metrics: {host!r} is not an IP address ({example})") from None
    return host, port


def metrics_registry(source: StatsSource) -> CollectorRegistry:
    """A registry of its own (not prometheus_client's global one): the responder's
    counters, build info and this process' figures, all named netready_responder_*."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ResponderCollector(source))
    ProcessCollector(namespace=PREFIX.rstrip("_"), registry=registry)
    return registry


class MetricsServer:
    """The OpenMetrics endpoint on its own thread; `stop()` ends it."""

    def __init__(self, host: str, port: int, source: StatsSource) -> None:
        self.host, self.port = host, port
        self._registry = metrics_registry(source)
        self._server: Any = None
        self._thread: Any = None

    def start(self) -> None:
        """Bind and serve; a port that cannot be bound is a one-line ResponderError."""
        try:
            self._server, self._thread = start_http_server(
                self.port, addr=self.host, registry=self._registry
            )
        except OSError as exc:
            raise ResponderError(
                f"--metrics {self.host}:{self.port}: cannot listen: {exc.strerror or exc}"
            ) from None
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Where Prometheus scrapes, e.g. http://127.0.0.1:9862/metrics."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)

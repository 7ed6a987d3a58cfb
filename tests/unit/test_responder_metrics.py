"""The responder's OpenMetrics exposition, read back with prometheus_client's own parser."""

from __future__ import annotations

import dataclasses
import re

import pytest
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from netready.errors import UsageError
from netready.responder.echo_stats import EchoStats
from netready.responder.metrics import metrics_registry, parse_metrics_address
from netready.responder.stats import ResponderStats

SNAKE = re.compile(r"^netready_responder_[a-z0-9]+(_[a-z0-9]+)*$")


class FakeResponder:
    """Snapshots as a running responder would give them."""

    def __init__(self, stats: object, echo: EchoStats) -> None:
        self._stats, self._echo = stats, echo

    @property
    def stats(self) -> ResponderStats:
        return self._stats  # type: ignore[return-value]

    @property
    def echo_stats(self) -> EchoStats:
        return self._echo

    @property
    def active_sessions(self) -> int:
        return 2


def sample_stats() -> ResponderStats:
    return ResponderStats(
        stamp_reflected=100,
        stamp_dropped=7,
        stamp_sessions=3,
        udp_echoed=40,
        udp_dropped=2,
        tcp_accepted=9,
        tcp_errors=1,
        internal_errors=0,
        stamp_drops=(("rate", 4), ("malformed", 2), ("other", 1)),
        tcp_refused=5,
        stamp_evicted=1,
    )


def exposition(stats: object, echo: EchoStats | None = None) -> dict[str, object]:
    text = generate_latest(metrics_registry(FakeResponder(stats, echo or EchoStats()))).decode()
    assert text.endswith("# EOF\n")
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(families: dict[str, object], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    family = families[name]
    return {
        tuple(sorted(s.labels.items())): s.value
        for s in family.samples  # type: ignore[attr-defined]
        if s.name == name + "_total"
    }


def test_names_types_units_and_values() -> None:
    echo = EchoStats(sip_echoed=6, sip_dropped=1, h323_echoed=2, tls_handshakes=8)
    families = exposition(sample_stats(), echo)
    for name, family in families.items():
        assert SNAKE.match(name), name
        assert family.documentation  # type: ignore[attr-defined]
    counters = {n for n, f in families.items() if f.type == "counter"}  # type: ignore[attr-defined]
    assert {
        "netready_responder_stamp_reflected",
        "netready_responder_stamp_dropped",
        "netready_responder_stamp_sessions",
        "netready_responder_stamp_sessions_evicted",
        "netready_responder_udp_echoed",
        "netready_responder_udp_dropped",
        "netready_responder_tcp_accepted",
        "netready_responder_tcp_refused",
        "netready_responder_tcp_errors",
        "netready_responder_internal_errors",
        "netready_responder_sip_echoed",
        "netready_responder_sip_dropped",
        "netready_responder_h323_echoed",
        "netready_responder_h323_dropped",
        "netready_responder_tls_handshakes",
        "netready_responder_tls_handshake_failures",
        "netready_responder_process_cpu_seconds",
    } <= counters
    assert families["netready_responder_build"].type == "info"  # type: ignore[attr-defined]
    build = families["netready_responder_build"].samples[0]  # type: ignore[attr-defined]
    assert build.name == "netready_responder_build_info" and build.labels["version"]
    start = families["netready_responder_start_time_seconds"]
    assert start.type == "gauge"  # type: ignore[attr-defined]
    assert families["netready_responder_process_open_fds"].type == "gauge"  # type: ignore[attr-defined]
    active = families["netready_responder_stamp_sessions_active"]
    assert active.type == "gauge" and active.samples[0].value == 2  # type: ignore[attr-defined]
    assert samples(families, "netready_responder_stamp_reflected") == {(): 100}
    assert samples(families, "netready_responder_stamp_dropped") == {
        (("reason", "malformed"),): 2,
        (("reason", "other"),): 1,
        (("reason", "rate"),): 4,
    }
    assert samples(families, "netready_responder_udp_dropped") == {(("reason", "other"),): 2}
    assert samples(families, "netready_responder_tcp_refused") == {(): 5}
    assert samples(families, "netready_responder_sip_echoed") == {(): 6}
    assert samples(families, "netready_responder_tls_handshakes") == {(): 8}


def test_every_snapshot_field_is_exported() -> None:
    families = exposition(sample_stats())
    exported = " ".join(families)
    for snapshot in (ResponderStats, EchoStats):
        for field in dataclasses.fields(snapshot):
            stem = field.name.removesuffix("_drops").removesuffix("_dropped")
            stem = {"stamp_evicted": "stamp_sessions_evicted"}.get(stem, stem)
            assert f"netready_responder_{stem}" in exported, field.name


@dataclasses.dataclass(frozen=True)
class GrownStats(ResponderStats):
    """ResponderStats as the limits work may grow it: new reasons, counters and breakdowns."""

    stamp_replies_truncated: int = 0
    tcp_refusals: tuple[tuple[str, int], ...] = ()
    label: str = "not a counter"


def test_new_fields_and_drop_reasons_are_exported_generically() -> None:
    grown = GrownStats(
        **{
            **dataclasses.asdict(sample_stats()),
            "stamp_drops": (("rate", 4), ("amplification", 3)),
            "udp_drops": (("allow-list", 2),),
            "sip_drops": (("too-large", 5),),
        },
        stamp_replies_truncated=11,
        tcp_refusals=(("per-source", 3), ("workers", 1)),
    )
    families = exposition(grown)
    assert samples(families, "netready_responder_stamp_dropped") == {
        (("reason", "amplification"),): 3,
        (("reason", "rate"),): 4,
    }
    assert samples(families, "netready_responder_udp_dropped") == {(("reason", "allow-list"),): 2}
    # the SIP echo's breakdown (its total is also in EchoStats): one labelled family
    assert samples(families, "netready_responder_sip_dropped") == {(("reason", "too-large"),): 5}
    assert samples(families, "netready_responder_stamp_replies_truncated") == {(): 11}
    assert samples(families, "netready_responder_tcp_refusals") == {
        (("reason", "per-source"),): 3,
        (("reason", "workers"),): 1,
    }
    assert not [name for name in families if "label" in name]


def test_the_default_exposition_has_no_extra_dropped_family() -> None:
    families = exposition(sample_stats())
    assert samples(families, "netready_responder_sip_dropped") == {(("reason", "other"),): 0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:9862", ("127.0.0.1", 9862)), ("[::1]:9862", ("::1", 9862))],
)
def test_metrics_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_metrics_address(text) == expected


@pytest.mark.parametrize("text", ["", "9862", "localhost:9862", "1.2.3.4:0", "1.2.3.4:x", "::1"])
def test_bad_metrics_address_names_the_flag(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--metrics: "):
        parse_metrics_address(text)

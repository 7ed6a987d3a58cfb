"""Live figures of a stream: settled in send order, lost after the timeout, RFC 3550 jitter."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from netready.probes.live import LiveStats

MS = 1_000_000


@dataclass
class S:
    t1_ns: int
    t2_ns: int | None = None
    t3_ns: int | None = None
    t4_ns: int | None = None


def _replied(t1: int, up_ms: float, down_ms: float) -> S:
    t2 = t1 + int(up_ms * MS)
    t3 = t2 + 50_000
    return S(t1, t2, t3, t3 + int(down_ms * MS))


def test_a_missing_reply_waits_for_the_timeout_then_counts_as_lost() -> None:
    live = LiveStats(timeout_ns=1000 * MS)
    samples = [_replied(0, 10, 10), S(20 * MS), _replied(40 * MS, 10, 10)]
    first = live.update(samples, sent=3, now_ns=100 * MS)
    assert first["settled"] == 1 and first["lost"] == 0  # the second may still come back
    later = live.update(samples, sent=3, now_ns=1100 * MS)
    assert later["settled"] == 3 and later["lost"] == 1 and later["received"] == 2


def test_jitter_is_the_rfc3550_estimate_per_direction() -> None:
    live = LiveStats(timeout_ns=1000 * MS, measured_one_way=True)
    samples = [_replied(i * 20 * MS, 10 + (i % 2) * 4, 5) for i in range(200)]
    values = live.update(samples, sent=200, now_ns=10_000 * MS)
    assert values["jitter_up_ms"] == pytest.approx(4.0, rel=0.01)  # |D| = 4 ms every packet
    assert values["jitter_down_ms"] == pytest.approx(0.0, abs=1e-6)
    assert values["delay_down_ms"] == pytest.approx(5.0)
    assert values["delay_measured"] == 1.0


def test_without_synchronised_clocks_delay_is_half_the_round_trip() -> None:
    live = LiveStats(timeout_ns=1000 * MS)
    values = live.update([_replied(0, 30, 10)], sent=1, now_ns=MS)
    assert values["delay_up_ms"] == values["delay_down_ms"] == pytest.approx(20.0)
    assert values["delay_measured"] == 0.0

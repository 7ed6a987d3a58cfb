"""Chart series of the voice path, recomputed from the signed `media.voice` evidence samples.

The samples are what the report signs: `[seq, t1_ns, t2_ns, t3_ns, t4_ns, reflector_seq]` per
probe of a STAMP stream (nanoseconds as strings, null when no reply came), or
`[seq, t1_ns, t4_ns, duplicates, error_code]` for the STUN round-trip fallback. Transit times,
RFC 3550 jitter and the split of losses per direction come from `netready.metrics.stats`, so the
charts follow the same definitions as the signed metrics. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from netready.metrics.stats import (
    JITTER_WARMUP_PACKETS,
    NS_PER_MS,
    down_transit_ns,
    loss_shares,
    received_samples,
    rfc3550_jitter_ns,
    rtt_ns,
    up_transit_ns,
)
from netready.probes.voice import VoiceRun
from netready.probes.voice_io import VoiceSample

#: Most points a chart series keeps (min and max of each bucket, so spikes survive).
MAX_POINTS = 600
NS_PER_S = 1_000_000_000

Point = tuple[float, float]


@dataclass(frozen=True)
class _Samples:
    """Stands in for a VoiceRun where only `.samples` is read (`stats._received`)."""

    samples: list[VoiceSample]


@dataclass(frozen=True)
class Series:
    """One line of a chart: `key` names it (up, down, rtt_half, rtt), points are (s, ms)."""

    key: str
    points: list[Point]


@dataclass
class VoiceSeries:
    """Everything the two voice charts draw."""

    kind: str  # "stamp" (per direction) or "stun" (round trip only)
    delay_method: str  # "measured" or "estimated_rtt_half"
    duration_s: float
    delay: list[Series] = field(default_factory=list)
    jitter: list[Series] = field(default_factory=list)
    #: lost probes as (send time s, share of the loss on this path 0..1), per row key
    losses: dict[str, list[Point]] = field(default_factory=dict)
    #: probes sent after the last answered one: lost or still in flight, direction unknown
    unknown: list[float] = field(default_factory=list)
    #: the jitter verdict ignores the running estimate before this time (warm-up)
    warmup_until_s: float | None = None
    packets: int = 0


def _int(value: Any) -> int | None:
    """A nanosecond value of the evidence (a string, sometimes an int) or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"not an integer: {value!r}")


def stamp_samples(rows: Sequence[Any]) -> list[VoiceSample]:
    """VoiceSample objects from evidence rows; arrival order = order of T4 (receive stamps).

    The evidence does not carry the receive order itself; with kernel or user-space receive
    timestamps taken in arrival order, ascending T4 is that order.
    """
    samples = []
    for row in rows:
        if not isinstance(row, list | tuple) or len(row) != 6:
            raise ValueError("a STAMP sample is [seq, t1_ns, t2_ns, t3_ns, t4_ns, reflector_seq]")
        seq, t1 = _int(row[0]), _int(row[1])
        if seq is None or t1 is None:
            raise ValueError("a STAMP sample needs seq and t1_ns")
        samples.append(
            VoiceSample(
                seq=seq,
                scheduled_ns=t1,
                t1_ns=t1,
                t2_ns=_int(row[2]),
                t3_ns=_int(row[3]),
                t4_ns=_int(row[4]),
                reflector_seq=_int(row[5]),
            )
        )
    arrived = sorted((s for s in samples if s.t4_ns is not None), key=lambda s: s.t4_ns or 0)
    for index, s in enumerate(arrived):
        s.arrival_index = index
    return samples


def downsample(points: Sequence[Point], max_points: int = MAX_POINTS) -> list[Point]:
    """At most `max_points` points: the lowest and highest of each bucket, in time order."""
    if len(points) <= max_points:
        return list(points)
    buckets = max(1, max_points // 2)
    size = len(points) / buckets
    out: list[Point] = []
    for b in range(buckets):
        chunk = points[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        lo = min(range(len(chunk)), key=lambda i: chunk[i][1])
        hi = max(range(len(chunk)), key=lambda i: chunk[i][1])
        out += [chunk[i] for i in sorted({lo, hi})]
    return out


def _jitter_points(
    ordered: list[VoiceSample], transit: Callable[[VoiceSample], int], t0: int
) -> list[Point]:
    """Running RFC 3550 jitter (ms) after each packet from the second on, at its send time."""
    js = rfc3550_jitter_ns([transit(s) for s in ordered])
    return [
        ((s.t1_ns - t0) / NS_PER_S, j / NS_PER_MS) for s, j in zip(ordered[1:], js, strict=True)
    ]


def _stamp(evidence: dict[str, Any], rows: Sequence[Any]) -> VoiceSeries | None:
    samples = stamp_samples(rows)
    if not samples:
        return None
    t0 = min(s.t1_ns for s in samples)
    end = max(s.t1_ns for s in samples)
    method = str(evidence.get("delay_method", "estimated_rtt_half"))
    out = VoiceSeries("stamp", method, (end - t0) / NS_PER_S, packets=len(samples))
    got = sorted(received_samples(cast(VoiceRun, _Samples(samples))), key=lambda s: s.seq)
    x = {s.seq: (s.t1_ns - t0) / NS_PER_S for s in samples}
    if method == "measured":
        out.delay = [
            Series("up", [(x[s.seq], up_transit_ns(s) / NS_PER_MS) for s in got]),
            Series("down", [(x[s.seq], down_transit_ns(s) / NS_PER_MS) for s in got]),
        ]
    else:
        out.delay = [Series("rtt_half", [(x[s.seq], rtt_ns(s) / (2 * NS_PER_MS)) for s in got])]
    if len(got) > 1:
        by_reflector = sorted(got, key=lambda s: s.reflector_seq or 0)
        by_arrival = sorted(got, key=lambda s: s.arrival_index or 0)
        out.jitter = [
            Series("up", _jitter_points(by_reflector, up_transit_ns, t0)),
            Series("down", _jitter_points(by_arrival, down_transit_ns, t0)),
        ]
        if len(got) > JITTER_WARMUP_PACKETS:
            out.warmup_until_s = x[by_reflector[JITTER_WARMUP_PACKETS].seq]
    if got:
        up, down, _, _ = loss_shares(got)
        answered = {s.seq for s in got}
        for key, shares in (("up", up), ("down", down)):
            out.losses[key] = [
                (x[seq], float(share))
                for seq, share in enumerate(shares)
                if share and seq not in answered and seq in x
            ]
        last = max(answered)
        out.unknown = sorted(x[s.seq] for s in samples if s.seq > last)
    else:
        out.unknown = sorted(x.values())
    return out


def _stun(evidence: dict[str, Any], rows: Sequence[Any]) -> VoiceSeries | None:
    parsed: list[tuple[int, int, int | None]] = []
    for row in rows:
        if not isinstance(row, list | tuple) or len(row) < 3:
            raise ValueError("a STUN sample is [seq, t1_ns, t4_ns, ...]")
        seq, t1 = _int(row[0]), _int(row[1])
        if seq is None or t1 is None:
            raise ValueError("a STUN sample needs seq and t1_ns")
        parsed.append((seq, t1, _int(row[2])))
    if not parsed:
        return None
    t0 = min(p[1] for p in parsed)
    end = max(p[1] for p in parsed)
    out = VoiceSeries("stun", "estimated_rtt_half", (end - t0) / NS_PER_S, packets=len(parsed))
    got = sorted((p for p in parsed if p[2] is not None), key=lambda p: p[0])
    rtt = [(p[0], p[1], int(p[2] or 0) - p[1]) for p in got]
    out.delay = [
        Series("rtt_half", [((t1 - t0) / NS_PER_S, r / (2 * NS_PER_MS)) for _, t1, r in rtt])
    ]
    by_arrival = sorted(got, key=lambda p: p[2] or 0)
    js = rfc3550_jitter_ns([int(p[2] or 0) - p[1] for p in by_arrival])
    out.jitter = [
        Series(
            "rtt",
            [
                ((p[1] - t0) / NS_PER_S, j / NS_PER_MS)
                for p, j in zip(by_arrival[1:], js, strict=True)
            ],
        )
    ]
    if len(by_arrival) > JITTER_WARMUP_PACKETS:
        out.warmup_until_s = (by_arrival[JITTER_WARMUP_PACKETS][1] - t0) / NS_PER_S
    out.losses["rt"] = [((p[1] - t0) / NS_PER_S, 1.0) for p in parsed if p[2] is None]
    return out


def voice_series(evidence: dict[str, Any]) -> VoiceSeries | None:
    """The chart data of a media.voice check, or None when it has no usable samples.

    Raises ValueError when the samples are malformed (the caller shows that instead of charts).
    """
    rows = evidence.get("samples")
    if not isinstance(rows, list) or not rows:
        return None
    fmt = evidence.get("samples_format")
    if isinstance(fmt, list) and fmt[:3] == ["seq", "t1_ns", "t4_ns"]:
        return _stun(evidence, rows)
    if all(isinstance(r, list) and len(r) == 6 for r in rows):
        return _stamp(evidence, rows)
    if all(isinstance(r, list) and len(r) == 5 for r in rows):
        return _stun(evidence, rows)
    raise ValueError("unknown sample format")

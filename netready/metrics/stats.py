"""Voice-path metrics of a STAMP stream: delay, jitter, loss per direction, and MOS, without I/O."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from fractions import Fraction

from netready.metrics import emodel
from netready.probes.voice import VoiceRun, VoiceSample

NS_PER_MS = 1_000_000
LOSS_WINDOW_S = 15
JITTER_WARMUP_PACKETS = 16
DELAY_STATISTICS = ("p50", "p95", "p99", "max", "mean", "min")
JITTER_STATISTICS = ("running_max", "final")
LOSS_STATISTICS = ("whole_run", "worst_window")
DEFINITIONS = {
    "percentile": "nearest rank on the raw samples, no interpolation",
    "rtt": "(T4 - T1) - (T3 - T2)",
    "jitter": "RFC 3550 J += (|D| - J) / 16 in arrival order (up: at the reflector, down: here);"
    f" running_max = highest J from packet {JITTER_WARMUP_PACKETS + 1} on (all if fewer)",
    "ipdv": "RFC 3393 on consecutive sequence numbers; percentiles of |IPDV|",
    "pdv": "RFC 5481: p99 of one-way transit minus its minimum",
    "loss": "RFC 8762 §4 stateful reflector: up = (S_max+1) - (R_max+1),"
    " down = (R_max+1) - replies; probes after the last one answered are unknown",
    "worst_window": f"sliding {LOSS_WINDOW_S} s window over the probes;"
    " losses placed by sequence gaps",
    "mos": "ITU-T G.107 simplified: Ta = mean one-way delay of both directions + 2 x the larger"
    " jitter + 20 ms packetisation + codec lookahead + 10 ms devices; Ppl = whole-run mean of both"
    " directions; BurstR from the round-trip loss pattern",
}
Metrics = dict[str, float]


def percentile(sorted_values: Sequence[int], pct: int) -> int:
    """Nearest-rank percentile of ascending integers: always one of the samples."""
    return sorted_values[max(0, -(-pct * len(sorted_values) // 100) - 1)]


def summary(prefix: str, values: Sequence[int], divisor: int) -> Metrics:
    """min/mean/p50/p95/p99/max of integer samples as `prefix_<stat>_ms`; value / divisor = ms."""
    ordered = sorted(values)
    stats = {"min": ordered[0], "p50": percentile(ordered, 50), "p95": percentile(ordered, 95)}
    stats |= {"p99": percentile(ordered, 99), "max": ordered[-1]}
    out = {f"{prefix}_{name}_ms": value / divisor for name, value in stats.items()}
    out[f"{prefix}_mean_ms"] = sum(ordered) / (len(ordered) * divisor)
    return out


def rfc3550_jitter_ns(transits_in_arrival_order: Sequence[int]) -> list[float]:
    """The running RFC 3550 estimate after each packet from the second on (ns)."""
    j, out = 0.0, []
    for prev, cur in itertools.pairwise(transits_in_arrival_order):
        j += (abs(cur - prev) - j) / 16
        out.append(j)
    return out


def received_samples(run: VoiceRun) -> list[VoiceSample]:
    return [
        s
        for s in run.samples
        if s.t2_ns is not None and s.t3_ns is not None and s.t4_ns is not None
        if s.reflector_seq is not None
    ]


def up_transit_ns(s: VoiceSample) -> int:
    return int(s.t2_ns or 0) - s.t1_ns


def down_transit_ns(s: VoiceSample) -> int:
    return int(s.t4_ns or 0) - int(s.t3_ns or 0)


def rtt_ns(s: VoiceSample) -> int:
    return up_transit_ns(s) + down_transit_ns(s)


def _direction(
    got: list[VoiceSample],
    name: str,
    transit: Callable[[VoiceSample], int],
    order: Callable[[VoiceSample], int],
    jitter_stat: str,
) -> Metrics:
    """Jitter, IPDV and PDV of one direction (all cancel a constant clock offset)."""
    out: Metrics = {}
    by_seq = {s.seq: transit(s) for s in got}
    ordered = sorted(by_seq.values())
    out[f"pdv_{name}_p99_ms"] = (percentile(ordered, 99) - ordered[0]) / NS_PER_MS
    ipdv = sorted(abs(by_seq[k + 1] - d) for k, d in by_seq.items() if k + 1 in by_seq)
    if ipdv:
        out[f"ipdv_{name}_p95_ms"] = percentile(ipdv, 95) / NS_PER_MS
        out[f"ipdv_{name}_p99_ms"] = percentile(ipdv, 99) / NS_PER_MS
    js = rfc3550_jitter_ns([transit(s) for s in sorted(got, key=order)])
    if js:
        out[f"jitter_{name}_final_ms"] = js[-1] / NS_PER_MS
        warm = js[JITTER_WARMUP_PACKETS - 1 :] or js
        out[f"jitter_{name}_running_max_ms"] = max(warm) / NS_PER_MS
        out[f"jitter_{name}_ms"] = out[f"jitter_{name}_{jitter_stat}_ms"]
    return out


def _delay(got: list[VoiceSample], measured: bool, stat: str) -> Metrics:
    """One-way delay per direction: T2 - T1 and T4 - T3, or RTT / 2 for both."""
    out: Metrics = {}
    for name, transit in (("up", up_transit_ns), ("down", down_transit_ns)):
        if measured:
            out |= summary(f"delay_{name}", [transit(s) for s in got], NS_PER_MS)
        else:
            out |= summary(f"delay_{name}", [rtt_ns(s) for s in got], 2 * NS_PER_MS)
        out[f"delay_{name}_ms"] = out[f"delay_{name}_{stat}_ms"]
    return out


def loss_shares(got: list[VoiceSample]) -> tuple[list[Fraction], list[Fraction], int, int]:
    """Per probe up to S_max: share lost up, share lost down; longest burst up and down.

    Between two answered probes, the reflector's sequence jump tells how many of the missing
    probes were lost on the way back; the rest were lost on the way there (RFC 8762 §4).
    """
    up: list[Fraction] = []
    down: list[Fraction] = []
    burst_up = burst_down = 0
    prev_s = prev_r = -1
    for s in sorted(got, key=lambda x: x.seq):
        gap = s.seq - prev_s - 1
        gap_down = max(0, min(gap, int(s.reflector_seq or 0) - prev_r - 1))
        if gap:
            up += [Fraction(gap - gap_down, gap)] * gap
            down += [Fraction(gap_down, gap)] * gap
        up.append(Fraction(0))
        down.append(Fraction(0))
        burst_up, burst_down = max(burst_up, gap - gap_down), max(burst_down, gap_down)
        prev_s, prev_r = s.seq, max(prev_r, int(s.reflector_seq or 0))
    return up, down, burst_up, burst_down


def _worst_window(up: list[Fraction], down: list[Fraction], width: int) -> tuple[float, float]:
    """Highest loss percentage per direction over every run of `width` consecutive probes."""
    sum_up = list(itertools.accumulate(up, initial=Fraction(0)))
    sum_down = list(itertools.accumulate(down, initial=Fraction(0)))
    worst_up, worst_down = Fraction(0), Fraction(0)
    for start in range(len(up) - width + 1):
        lost_up = sum_up[start + width] - sum_up[start]
        worst_up = max(worst_up, lost_up / width)
        if lost_up < width:
            worst_down = max(
                worst_down, (sum_down[start + width] - sum_down[start]) / (width - lost_up)
            )
    return float(100 * worst_up), float(100 * worst_down)


def _loss(run: VoiceRun, got: list[VoiceSample]) -> tuple[Metrics, dict[str, object]]:
    sent = len(run.samples)
    out: Metrics = {"loss_rt_pct": 100 * (sent - len(got)) / sent} if sent else {}
    if not got:
        out["loss_unknown_count"] = float(sent)
        return out, {"why": "no reply came back, so loss cannot be split by direction"}
    s_max = max(s.seq for s in got)
    r_max = max(int(s.reflector_seq or 0) for s in got)
    unknown = sent - (s_max + 1)
    lost_up, lost_down = max(0, s_max - r_max), max(0, r_max + 1 - len(got))
    out["loss_up_pct"] = 100 * lost_up / (s_max + 1)
    out["loss_down_pct"] = 100 * lost_down / (r_max + 1)
    out["loss_up_upper_pct"] = 100 * (lost_up + unknown) / sent
    out["loss_down_upper_pct"] = 100 * (lost_down + unknown) / (r_max + 1 + unknown)
    out["loss_unknown_count"] = float(unknown)
    up, down, out["longest_burst_up"], out["longest_burst_down"] = loss_shares(got)
    width = max(1, min(len(up), round(LOSS_WINDOW_S * run.rate_pps)))
    out["worst_window_loss_up_pct"], out["worst_window_loss_down_pct"] = _worst_window(
        up, down, width
    )
    consistent = r_max <= s_max and r_max + 1 >= len(got)
    evidence: dict[str, object] = {"sender_seq_max": s_max, "reflector_seq_max": r_max}
    evidence |= {"replies": len(got), "unknown": unknown, "consistent": consistent}
    evidence["window_packets"] = width
    return out, evidence


def _reordered(got: list[VoiceSample]) -> int:
    """RFC 4737 §3: a packet whose sequence is below the next expected one is reordered."""
    next_expected, count = 0, 0
    for s in sorted(got, key=lambda x: x.arrival_index or 0):
        if s.seq < next_expected:
            count += 1
        else:
            next_expected = s.seq + 1
    return count


def _mos(m: Metrics, got: list[VoiceSample], codec: str) -> tuple[Metrics, dict[str, object]]:
    needed = ("delay_up_mean_ms", "delay_down_mean_ms", "jitter_up_ms", "jitter_down_ms")
    if any(k not in m for k in (*needed, "loss_up_pct", "loss_down_pct")):
        return {}, {"why": "needs delay, jitter and loss of both directions"}
    delay = (m["delay_up_mean_ms"] + m["delay_down_mean_ms"]) / 2
    ta = emodel.mouth_to_ear_ms(delay, max(m["jitter_up_ms"], m["jitter_down_ms"]), codec)
    ppl = (m["loss_up_pct"] + m["loss_down_pct"]) / 2
    answered = {s.seq for s in got}
    burst_r = emodel.burst_ratio([k not in answered for k in range(max(answered) + 1)])
    r = emodel.r_factor(ta, ppl, burst_r, codec)
    inputs: dict[str, object] = {"codec": codec, "ta_ms": ta, "ppl_pct": ppl, "burst_r": burst_r}
    return {"r_factor": r, "mos": emodel.mos(r)}, inputs


def _dscp(run: VoiceRun, got: list[VoiceSample]) -> dict[str, object]:
    at_ref = Counter(str(s.dscp_at_reflector) for s in got if s.dscp_at_reflector is not None)
    received = Counter(str(s.dscp_received) for s in got if s.dscp_received is not None)
    applied = bool(got) and all(s.cos_rp == 0 for s in got)
    return {
        "sent": run.dscp,
        "at_reflector": dict(at_ref),
        "received": dict(received),
        "upstream_kept": set(at_ref) == {str(run.dscp)} if at_ref else None,
        "downstream_kept": set(received) == {str(run.dscp)} if received and applied else None,
    }


def _ns(value: int | None) -> str | None:
    return None if value is None else str(value)


def _evidence(run: VoiceRun, got: list[VoiceSample]) -> dict[str, object]:
    ttl = Counter(str(s.rx_ttl_at_reflector) for s in got if s.rx_ttl_at_reflector is not None)
    return {
        "timestamp_source": run.timestamp_source,
        "clocks": {
            "local_synchronised": run.local_clock_synchronised,
            "remote_synchronised": run.remote_clock_synchronised,
        },
        "dscp": _dscp(run, got),
        "ttl": {"sent": run.sent_ttl, "at_reflector": dict(ttl)},
        "stream": {
            "rate_pps": run.rate_pps,
            "payload_bytes": run.payload_bytes,
            "started_ns": str(run.started_ns),
            "finished_ns": str(run.finished_ns),
            "interrupted": run.interrupted,
            "ignored_replies": run.ignored_replies,
            "late_replies": run.late_replies,
            "send_errors": run.send_errors,
        },
        "definitions": DEFINITIONS,
        "samples": [
            [s.seq, str(s.t1_ns), _ns(s.t2_ns), _ns(s.t3_ns), _ns(s.t4_ns), s.reflector_seq]
            for s in run.samples
        ],
    }


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def voice_metrics(
    run: VoiceRun,
    *,
    delay_statistic: str = "p95",
    jitter_statistic: str = "running_max",
    loss_statistic: str = "whole_run",
    codec: str = "g711",
) -> tuple[Metrics, dict[str, object]]:
    """All voice-path metrics of a run and the evidence behind them; never rounds."""
    _check_choice("delay_statistic", delay_statistic, DELAY_STATISTICS)
    _check_choice("jitter_statistic", jitter_statistic, JITTER_STATISTICS)
    _check_choice("loss_statistic", loss_statistic, LOSS_STATISTICS)
    emodel.codec(codec)
    got = received_samples(run)
    m: Metrics = {"packets_sent": float(len(run.samples)), "packets_received": float(len(got))}
    evidence = _evidence(run, got)
    if run.samples:
        late = summary("send_late", [s.t1_ns - s.scheduled_ns for s in run.samples], NS_PER_MS)
        m |= {f"send_late_{k}_ms": late[f"send_late_{k}_ms"] for k in ("mean", "p99", "max")}
    m["duplicate_count"] = float(sum(s.duplicates for s in run.samples))
    measured = run.local_clock_synchronised and run.remote_clock_synchronised is True
    evidence["delay_method"] = "measured" if measured else "estimated_rtt_half"
    if got:
        m |= summary("rtt", [rtt_ns(s) for s in got], NS_PER_MS)
        m |= _delay(got, measured, delay_statistic)
        m |= _direction(
            got, "up", up_transit_ns, lambda s: int(s.reflector_seq or 0), jitter_statistic
        )
        m |= _direction(
            got, "down", down_transit_ns, lambda s: s.arrival_index or 0, jitter_statistic
        )
        m["reordered_count"] = float(_reordered(got))
    else:
        evidence["why"] = "no reply came back: delay and jitter cannot be computed"
    loss, evidence["loss"] = _loss(run, got)
    m |= loss
    mos, evidence["emodel"] = _mos(m, got, codec)  # Ppl: whole-run loss, whatever the verdict uses
    m |= mos
    if loss_statistic == "worst_window" and "loss_up_pct" in m:
        m["loss_up_pct"] = m["worst_window_loss_up_pct"]
        m["loss_down_pct"] = m["worst_window_loss_down_pct"]
    return m, evidence

"""Round-trip metrics of a STUN Binding stream, and conservative per-direction stand-ins.

A STUN server stamps nothing, so only the round trip is measured. The per-direction contract
metrics (delay_up/down, jitter_up/down, loss_up/down) are derived so a verdict that passes on
them would also pass on the true one-way values: delay is the round trip halved (exact for a
symmetric path), jitter and loss are the round-trip values (upper bounds, see DEFINITIONS).
"""

from __future__ import annotations

import itertools

from netready.metrics import emodel
from netready.metrics.stats import (
    DELAY_STATISTICS,
    JITTER_STATISTICS,
    JITTER_WARMUP_PACKETS,
    LOSS_STATISTICS,
    LOSS_WINDOW_S,
    NS_PER_MS,
    rfc3550_jitter_ns,
    summary,
)
from netready.probes.stun_stream import StunRun, StunSample

METHOD = "stun-rtt"
Metrics = dict[str, float]
DEFINITIONS = {
    "percentile": "nearest rank on the raw samples, no interpolation",
    "rtt": "T4 - T1: kernel receive time of the Binding answer minus the send time of its"
    " request, both on the local clock; includes the STUN server's processing time",
    "rtt_jitter": "RFC 3550 J += (|D| - J) / 16 over consecutive RTTs in arrival order;"
    f" running_max = highest J from packet {JITTER_WARMUP_PACKETS + 1} on (all if fewer)",
    "loss_rt": "requests without an answer within the reply timeout, over the requests sent;"
    " requests still in flight when an interrupted run stopped are unknown, not lost",
    "worst_window": f"sliding {LOSS_WINDOW_S} s window over the requests",
    "delay": "estimated: round trip halved; directions could not be separated"
    " (exact for a symmetric path; on an asymmetric one the slower direction is longer)",
    "jitter": "both directions = the round-trip jitter: an RTT difference is the sum of the two"
    " one-way differences, so with independent directions its mean magnitude is at least"
    " that of either one (E|a + b| >= E|a| for independent zero-mean b); it also carries the"
    " server's processing variation. A conservative upper bound, not an exact per-direction"
    " value; only opposite, cancelling variation in the two directions could hide jitter",
    "loss": "both directions = the round-trip loss: a request lost either way is lost for the"
    " round trip, so round-trip loss >= the loss of each direction (an upper bound)",
    "mos": "ITU-T G.107 simplified as in media.voice, from the estimates: Ta = RTT mean / 2 +"
    " 2 x round-trip jitter + 20 ms packetisation + codec lookahead + 10 ms devices;"
    " Ppl = round-trip loss; BurstR from the round-trip loss pattern",
}


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")


def _answered(run: StunRun) -> list[StunSample]:
    return [s for s in run.samples if s.t4_ns is not None]


def _rtt(s: StunSample) -> int:
    return int(s.t4_ns or 0) - s.t1_ns


def in_flight_cutoff_ns(interrupted: bool, finished_ns: int, reply_timeout_s: float) -> int | None:
    """In an interrupted run, unanswered requests sent after this time are unknown, not lost
    (still in flight when it stopped); None for a run that was not interrupted."""
    return finished_ns - int(reply_timeout_s * 1e9) if interrupted else None


def _in_flight(run: StunRun) -> set[int]:
    """Unanswered requests of an interrupted run sent less than a reply timeout before its end."""
    cutoff = in_flight_cutoff_ns(run.interrupted, run.finished_ns, run.reply_timeout_s)
    if cutoff is None:
        return set()
    return {s.seq for s in run.samples if s.t4_ns is None and s.t1_ns > cutoff}


def _worst_window(lost: list[bool], width: int) -> float:
    """Highest loss percentage over every run of `width` consecutive requests."""
    sums = list(itertools.accumulate(lost, initial=0))
    return max(100 * (sums[i + width] - sums[i]) / width for i in range(len(lost) - width + 1))


def _longest_burst(lost: list[bool]) -> int:
    return max((len(list(g)) for is_lost, g in itertools.groupby(lost) if is_lost), default=0)


def _loss(run: StunRun, stat: str) -> tuple[Metrics, dict[str, object], list[bool]]:
    unknown = _in_flight(run)
    lost = [s.t4_ns is None for s in run.samples if s.seq not in unknown]
    out: Metrics = {"loss_unknown_count": float(len(unknown))}
    evidence: dict[str, object] = {"settled": len(lost), "unknown": len(unknown)}
    if not lost:
        evidence["why"] = "no request was settled, so loss cannot be computed"
        return out, evidence, lost
    width = max(1, min(len(lost), round(LOSS_WINDOW_S * run.rate_pps)))
    out["loss_rt_pct"] = 100 * sum(lost) / len(lost)
    out["worst_window_loss_rt_pct"] = _worst_window(lost, width)
    out["longest_loss_burst"] = float(_longest_burst(lost))
    chosen = out["loss_rt_pct" if stat == "whole_run" else "worst_window_loss_rt_pct"]
    out["loss_up_pct"] = out["loss_down_pct"] = chosen
    evidence |= {"window_packets": width, "statistic": stat}
    return out, evidence, lost


def _delay_jitter(got: list[StunSample], delay_stat: str, jitter_stat: str) -> Metrics:
    rtts = [_rtt(s) for s in got]
    out = summary("rtt", rtts, NS_PER_MS)
    for name in ("up", "down"):
        out |= summary(f"delay_{name}", rtts, 2 * NS_PER_MS)
        out[f"delay_{name}_ms"] = out[f"delay_{name}_{delay_stat}_ms"]
    js = rfc3550_jitter_ns([_rtt(s) for s in sorted(got, key=lambda s: s.arrival_index or 0)])
    if js:
        out["rtt_jitter_final_ms"] = js[-1] / NS_PER_MS
        out["rtt_jitter_running_max_ms"] = max(js[JITTER_WARMUP_PACKETS - 1 :] or js) / NS_PER_MS
        out["rtt_jitter_ms"] = out[f"rtt_jitter_{jitter_stat}_ms"]
        out["jitter_up_ms"] = out["jitter_down_ms"] = out["rtt_jitter_ms"]
    return out


def _mos(m: Metrics, lost: list[bool], codec: str) -> tuple[Metrics, dict[str, object]]:
    if any(k not in m for k in ("rtt_mean_ms", "rtt_jitter_ms", "loss_rt_pct")):
        return {}, {"why": "needs round-trip delay, jitter and loss"}
    ta = emodel.mouth_to_ear_ms(m["rtt_mean_ms"] / 2, m["rtt_jitter_ms"], codec)
    burst_r = emodel.burst_ratio(lost)
    r = emodel.r_factor(ta, m["loss_rt_pct"], burst_r, codec)
    inputs: dict[str, object] = {"codec": codec, "ta_ms": ta, "ppl_pct": m["loss_rt_pct"]}
    inputs["burst_r"] = burst_r
    return {"r_factor": r, "mos": emodel.mos(r)}, inputs


def _ns(value: int | None) -> str | None:
    return None if value is None else str(value)


def _evidence(run: StunRun) -> dict[str, object]:
    mapped = run.mapped_address
    return {
        "method": METHOD,
        "directions_separated": False,
        "delay_method": "estimated_rtt_half",
        "note": "a STUN server answers Binding requests but stamps nothing,"
        " so only the round trip can be measured",
        "server": run.server,
        "timestamp_source": run.timestamp_source,
        "mapped_address": mapped,
        "local_address": run.local_address,
        "behind_nat": None if mapped is None else mapped != run.local_address,
        "mapped_addresses": run.mapped_addresses,
        "stream": {
            "rate_pps": run.rate_pps,
            "dscp": run.dscp,
            "request_bytes": run.request_bytes,
            "request_note": "bare Binding request: STUN header only, no attributes;"
            " plus 8 UDP and 20 (IPv4) or 40 (IPv6) header bytes on the wire",
            "reply_bytes_max": run.reply_bytes_max,
            "reply_timeout_s": run.reply_timeout_s,
            "started_ns": str(run.started_ns),
            "finished_ns": str(run.finished_ns),
            "interrupted": run.interrupted,
            "ignored_replies": run.ignored_replies,
            "ignored_reasons": run.ignored_reasons,
            "late_replies": run.late_replies,
            "error_replies": run.error_replies,
            "send_errors": run.send_errors,
            "icmp_refused": run.refused,
        },
        "definitions": DEFINITIONS,
        "samples_format": ["seq", "t1_ns", "t4_ns", "duplicates", "error_code"],
        "samples": [
            [s.seq, str(s.t1_ns), _ns(s.t4_ns), s.duplicates, s.error_code] for s in run.samples
        ],
    }


def stun_metrics(
    run: StunRun,
    *,
    delay_statistic: str = "p95",
    jitter_statistic: str = "running_max",
    loss_statistic: str = "whole_run",
    codec: str = "g711",
) -> tuple[Metrics, dict[str, object]]:
    """Round-trip metrics of a STUN stream, the per-direction stand-ins, and the evidence.

    The statistics choose which value becomes delay_*_ms, rtt_jitter_ms / jitter_*_ms and
    loss_*_pct, as in media.voice. Never rounds; never raises on an empty or silent run.
    """
    _check_choice("delay_statistic", delay_statistic, DELAY_STATISTICS)
    _check_choice("jitter_statistic", jitter_statistic, JITTER_STATISTICS)
    _check_choice("loss_statistic", loss_statistic, LOSS_STATISTICS)
    emodel.codec(codec)
    got = _answered(run)
    m: Metrics = {"packets_sent": float(len(run.samples)), "packets_received": float(len(got))}
    m["duplicate_count"] = float(sum(s.duplicates for s in run.samples))
    evidence = _evidence(run)
    if run.samples:
        late = summary("send_late", [s.t1_ns - s.scheduled_ns for s in run.samples], NS_PER_MS)
        m |= {f"send_late_{k}_ms": late[f"send_late_{k}_ms"] for k in ("mean", "p99", "max")}
    if got:
        m |= _delay_jitter(got, delay_statistic, jitter_statistic)
    else:
        evidence["why_no_delay"] = "no answer came back: delay and jitter cannot be computed"
    loss, evidence["loss"], lost = _loss(run, loss_statistic)
    m |= loss
    m_mos, evidence["emodel"] = _mos(m, lost, codec)
    m |= m_mos
    return m, evidence

"""STUN round-trip metrics on synthetic runs with known answers."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
import rfc8785

from netready.metrics import emodel
from netready.metrics.stats import rfc3550_jitter_ns
from netready.metrics.stun_stats import stun_metrics
from netready.probes.stun_stream import StunRun, StunSample

MS = 1_000_000
BASE_NS = 1_700_000_000 * 10**9  # far above 2^53: must reach the report as strings
INTERVAL_NS = 20 * MS


def make_run(
    rtts_ms: Sequence[float | None],
    *,
    rate_pps: int = 50,
    late_ns: int = 0,
    interrupted: bool = False,
    arrival: list[int] | None = None,
    reply_timeout_s: float = 3.0,
) -> StunRun:
    """Request i sent at BASE + i x 20 ms; None = no answer. `arrival`: seqs in arrival order."""
    samples = []
    for i, rtt in enumerate(rtts_ms):
        t1 = BASE_NS + i * INTERVAL_NS
        s = StunSample(i, t1 - late_ns, t1)
        if rtt is not None:
            s.t4_ns = t1 + round(rtt * MS)
        samples.append(s)
    answered = [s for s in samples if s.t4_ns is not None]
    order = arrival if arrival is not None else [s.seq for s in answered]
    for index, seq in enumerate(order):
        samples[seq].arrival_index = index
    last = samples[-1].t1_ns if samples else BASE_NS
    return StunRun(
        samples=samples,
        server="127.0.0.1:3478",
        local_address="192.168.1.10:40000",
        rate_pps=rate_pps,
        dscp=46,
        request_bytes=20,
        reply_timeout_s=reply_timeout_s,
        timestamp_source="kernel",
        started_ns=BASE_NS,
        finished_ns=last + (MS if interrupted else int(reply_timeout_s * 1e9)),
        interrupted=interrupted,
        mapped_addresses={"203.0.113.7:61000": len(answered)} if answered else {},
    )


def test_constant_rtt_has_no_jitter_and_halves_into_directions() -> None:
    m, ev = stun_metrics(make_run([40.0] * 100))
    assert m["rtt_min_ms"] == m["rtt_p95_ms"] == m["rtt_max_ms"] == m["rtt_mean_ms"] == 40.0
    assert m["delay_up_ms"] == m["delay_down_ms"] == 20.0
    assert m["rtt_jitter_ms"] == m["jitter_up_ms"] == m["jitter_down_ms"] == 0.0
    assert m["loss_rt_pct"] == m["loss_up_pct"] == m["loss_down_pct"] == 0.0
    assert m["packets_sent"] == m["packets_received"] == 100.0
    assert ev["method"] == "stun-rtt" and ev["directions_separated"] is False
    assert ev["delay_method"] == "estimated_rtt_half"
    assert ev["mapped_address"] == "203.0.113.7:61000" and ev["behind_nat"] is True


def test_percentiles_are_nearest_rank_and_the_statistic_is_chosen() -> None:
    run = make_run([float(x) for x in range(1, 101)])
    m, _ = stun_metrics(run)
    assert (m["rtt_min_ms"], m["rtt_p50_ms"], m["rtt_p95_ms"]) == (1.0, 50.0, 95.0)
    assert (m["rtt_p99_ms"], m["rtt_max_ms"], m["rtt_mean_ms"]) == (99.0, 100.0, 50.5)
    assert m["delay_up_ms"] == m["delay_down_ms"] == m["delay_up_p95_ms"] == 47.5
    m_max, _ = stun_metrics(run, delay_statistic="max")
    assert m_max["delay_up_ms"] == m_max["delay_down_ms"] == 50.0


def test_boundary_delay_exactly_at_the_limit() -> None:
    """RTT p95 of 300 ms gives exactly 150 ms each way: nothing is rounded on the way."""
    m, _ = stun_metrics(make_run([300.0] * 95 + [301.0] * 5))
    assert m["rtt_p95_ms"] == 300.0 and m["delay_up_ms"] == 150.0
    m, _ = stun_metrics(make_run([300.0] * 94 + [300.002] * 6))
    assert m["delay_up_ms"] == 150.001


def test_jitter_is_rfc3550_over_rtt_and_feeds_both_directions() -> None:
    rtts = [10.0, 20.0] * 50
    m, _ = stun_metrics(make_run(list(rtts)))
    js = rfc3550_jitter_ns([round(r * MS) for r in rtts])
    assert m["rtt_jitter_final_ms"] == js[-1] / MS
    assert m["rtt_jitter_running_max_ms"] == max(js[15:]) / MS
    assert m["rtt_jitter_ms"] == m["rtt_jitter_running_max_ms"]
    assert m["jitter_up_ms"] == m["jitter_down_ms"] == m["rtt_jitter_ms"]
    final, _ = stun_metrics(make_run(list(rtts)), jitter_statistic="final")
    assert final["jitter_up_ms"] == final["rtt_jitter_final_ms"] == js[-1] / MS


def test_running_max_starts_at_packet_17() -> None:
    """A spike between packets 1 and 2 is in J from packet 2 on; running_max ignores 2..16."""
    rtts = [10.0, 170.0] + [170.0] * 15  # 17 packets: js[15] is J at packet 17
    m, _ = stun_metrics(make_run(rtts))
    js = rfc3550_jitter_ns([round(r * MS) for r in rtts])
    assert m["rtt_jitter_running_max_ms"] == js[15] / MS < js[0] / MS == 10.0
    short, _ = stun_metrics(make_run(rtts[:16]))  # fewer than 17: the max over all
    assert short["rtt_jitter_running_max_ms"] == 10.0


def test_jitter_follows_arrival_order() -> None:
    rtts: list[float | None] = [10.0, 50.0, 10.0, 10.0]
    in_seq, _ = stun_metrics(make_run(rtts))
    reordered, _ = stun_metrics(make_run(rtts, arrival=[0, 2, 3, 1]))
    expect = rfc3550_jitter_ns([10 * MS, 10 * MS, 10 * MS, 50 * MS])[-1] / MS
    assert reordered["rtt_jitter_final_ms"] == expect != in_seq["rtt_jitter_final_ms"]


def test_loss_is_round_trip_and_bounds_both_directions() -> None:
    rtts: list[float | None] = [5.0] * 100
    rtts[10] = rtts[50] = None
    m, ev = stun_metrics(make_run(rtts))
    assert m["loss_rt_pct"] == m["loss_up_pct"] == m["loss_down_pct"] == 2.0
    assert m["packets_received"] == 98.0 and m["longest_loss_burst"] == 1.0
    assert ev["loss"] == {
        "settled": 100,
        "unknown": 0,
        "window_packets": 100,
        "statistic": "whole_run",
    }
    one: list[float | None] = [5.0] * 99 + [None]
    assert stun_metrics(make_run(one))[0]["loss_rt_pct"] == 1.0  # "below 1 %" must fail on this


def test_worst_window_loss() -> None:
    rtts: list[float | None] = [5.0] * 100
    rtts[40:43] = [None, None, None]  # 3 in a row; at 1 packet/s the window is 15 packets
    m, _ = stun_metrics(make_run(rtts, rate_pps=1), loss_statistic="worst_window")
    assert m["loss_rt_pct"] == 3.0 and m["worst_window_loss_rt_pct"] == 20.0
    assert m["loss_up_pct"] == m["loss_down_pct"] == 20.0 and m["longest_loss_burst"] == 3.0


def test_interrupted_run_counts_requests_in_flight_as_unknown() -> None:
    rtts: list[float | None] = [5.0] * 20 + [None] * 3
    m, ev = stun_metrics(make_run(rtts, interrupted=True, reply_timeout_s=0.03))
    assert m["loss_unknown_count"] == 2.0  # sent less than 30 ms before the end
    assert m["loss_rt_pct"] == 100 * 1 / 21
    assert ev["stream"]["interrupted"] is True  # type: ignore[index]


def test_send_lateness() -> None:
    m, _ = stun_metrics(make_run([5.0] * 10, late_ns=250_000))
    assert m["send_late_mean_ms"] == m["send_late_p99_ms"] == m["send_late_max_ms"] == 0.25


def test_mos_uses_the_conservative_estimates() -> None:
    rtts: list[float | None] = [100.0] * 50 + [None] + [100.0] * 49
    m, ev = stun_metrics(make_run(rtts))
    ta = emodel.mouth_to_ear_ms(50.0, 0.0)
    assert m["r_factor"] == emodel.r_factor(ta, 1.0, 1.0) and m["mos"] == emodel.mos(m["r_factor"])
    assert ev["emodel"] == {"codec": "g711", "ta_ms": ta, "ppl_pct": 1.0, "burst_r": 1.0}


def test_nothing_answered() -> None:
    m, ev = stun_metrics(make_run([None] * 25))
    assert m["packets_sent"] == 25.0 and m["packets_received"] == 0.0
    assert m["loss_rt_pct"] == 100.0
    assert not {"rtt_p95_ms", "delay_up_ms", "jitter_up_ms", "mos"} & set(m)
    assert ev["mapped_address"] is None and ev["behind_nat"] is None and "why_no_delay" in ev


def test_empty_run_does_not_raise() -> None:
    m, ev = stun_metrics(make_run([]))
    assert m == {
        "packets_sent": 0.0,
        "packets_received": 0.0,
        "duplicate_count": 0.0,
        "loss_unknown_count": 0.0,
    }
    assert "why" in ev["loss"]  # type: ignore[operator]
    rfc8785.dumps(json.loads(json.dumps(ev)))


def test_single_answer_has_delay_but_no_jitter() -> None:
    m, _ = stun_metrics(make_run([7.0]))
    assert m["rtt_p99_ms"] == 7.0 and m["delay_up_ms"] == 3.5
    assert "rtt_jitter_ms" not in m and "jitter_up_ms" not in m


def test_evidence_is_report_safe() -> None:
    run = make_run([5.0, None, 6.0])
    run.samples[2].duplicates, run.samples[0].error_code = 1, 420
    m, ev = stun_metrics(run)
    assert m["duplicate_count"] == 1.0
    assert ev["samples"] == [
        [0, str(BASE_NS), str(BASE_NS + 5 * MS), 0, 420],
        [1, str(BASE_NS + INTERVAL_NS), None, 0, None],
        [2, str(BASE_NS + 2 * INTERVAL_NS), str(BASE_NS + 2 * INTERVAL_NS + 6 * MS), 1, None],
    ]
    rfc8785.dumps(json.loads(json.dumps(ev)))  # raises on integers above 2^53


@pytest.mark.parametrize(
    ("name", "value"),
    [("delay_statistic", "p90"), ("jitter_statistic", "mean"), ("loss_statistic", "last")],
)
def test_bad_statistic_is_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        stun_metrics(make_run([5.0]), **{name: value})

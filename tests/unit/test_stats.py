"""Voice metrics on synthetic streams with known answers."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from netready.metrics.stats import rfc3550_jitter_ns, voice_metrics
from netready.probes.voice import VoiceRun, VoiceSample

MS = 1_000_000
BASE_NS = 1_700_000_000 * 10**9
OFFSET_NS = 7 * MS  # unsynchronised reflector clock is 7 ms ahead: must cancel where it should


def make_run(
    up_ms: list[float],
    down_ms: list[float] | None = None,
    *,
    lost_up: Iterable[int] = (),
    lost_down: Iterable[int] = (),
    synchronised: bool = True,
    late_ns: int = 0,
) -> VoiceRun:
    """A 50 packets/s stream; the reflector numbers what it receives, replies arrive by T4."""
    down_ms = up_ms if down_ms is None else down_ms
    lost_up, lost_down = set(lost_up), set(lost_down)
    offset = 0 if synchronised else OFFSET_NS
    samples, reflected = [], 0
    for i, (up, down) in enumerate(zip(up_ms, down_ms, strict=True)):
        t1 = BASE_NS + i * 20 * MS
        s = VoiceSample(i, t1 - late_ns, t1)
        samples.append(s)
        if i in lost_up:
            continue
        s.reflector_seq, reflected = reflected, reflected + 1
        s.t2_ns = t1 + int(up * MS) + offset
        s.t3_ns = s.t2_ns + 50_000
        s.dscp_at_reflector, s.cos_rp, s.rx_ttl_at_reflector = 46, 0, 250
        if i not in lost_down:
            s.t4_ns = s.t3_ns + int(down * MS) - offset
            s.dscp_received = 46
    got = sorted((s for s in samples if s.t4_ns is not None), key=lambda s: s.t4_ns or 0)
    for index, s in enumerate(got):
        s.arrival_index = index
    return VoiceRun(samples, 50, 172, 46, synchronised, synchronised, "kernel", BASE_NS, BASE_NS)


def test_constant_delay_has_no_jitter() -> None:
    m, ev = voice_metrics(make_run([20.0] * 100, [30.0] * 100))
    assert m["jitter_up_ms"] == m["jitter_down_ms"] == 0.0
    assert m["ipdv_up_p99_ms"] == m["pdv_down_p99_ms"] == 0.0
    assert m["delay_up_ms"] == 20.0 and m["delay_down_ms"] == 30.0
    assert m["rtt_mean_ms"] == m["rtt_max_ms"] == 50.0
    assert ev["delay_method"] == "measured"
    assert m["loss_up_pct"] == m["loss_down_pct"] == m["loss_rt_pct"] == 0.0


def test_alternating_delay_gives_the_rfc3550_value() -> None:
    n, d = 100, 2.0
    m, _ = voice_metrics(make_run([10.0 + d * (i % 2) for i in range(n)]))
    expected = d * (1 - (15 / 16) ** (n - 1))  # |D| = d for every packet after the first
    assert m["jitter_up_final_ms"] == pytest.approx(expected, abs=1e-9)
    assert m["jitter_up_ms"] == m["jitter_up_running_max_ms"] == m["jitter_up_final_ms"]
    assert m["jitter_down_ms"] == pytest.approx(expected, abs=1e-9)
    assert m["ipdv_up_p95_ms"] == d and m["pdv_up_p99_ms"] == d


def test_running_max_skips_the_first_16_packets() -> None:
    transits = [0, 16 * MS] + [16 * MS] * 40  # one early jump, then calm
    js = rfc3550_jitter_ns(transits)
    assert js[0] == MS  # (16 ms - 0) / 16
    run = make_run([t / MS for t in transits])
    m, _ = voice_metrics(run, jitter_statistic="running_max")
    assert m["jitter_up_ms"] == max(js[15:]) / MS < js[0] / MS
    assert voice_metrics(run, jitter_statistic="final")[0]["jitter_up_ms"] == js[-1] / MS


def test_p95_exactly_on_the_limit_stays_exact() -> None:
    delays = [150.0] * 95 + [200.0] * 5
    m, _ = voice_metrics(make_run(delays))
    assert m["delay_up_ms"] == 150.0 and m["delay_up_ms"] <= 150.0
    assert m["delay_up_p99_ms"] == m["delay_up_max_ms"] == 200.0
    m, ev = voice_metrics(make_run(delays, synchronised=False))
    assert ev["delay_method"] == "estimated_rtt_half"
    assert m["delay_up_ms"] == m["delay_down_ms"] == 150.0  # RTT 300 ms / 2, not 149.99...


def test_loss_split_per_direction_from_reflector_sequence_gaps() -> None:
    m, ev = voice_metrics(make_run([20.0] * 100, lost_up=[10, 11], lost_down=[50, 51, 52]))
    assert m["loss_up_pct"] == 2.0
    assert m["loss_down_pct"] == 100 * 3 / 98
    assert m["loss_rt_pct"] == 5.0 and m["loss_unknown_count"] == 0.0
    assert (m["longest_burst_up"], m["longest_burst_down"]) == (2, 3)
    assert m["packets_sent"] == 100 and m["packets_received"] == 95
    assert ev["loss"]["consistent"] is True  # type: ignore[index]


def test_one_gap_with_losses_both_ways() -> None:
    m, _ = voice_metrics(make_run([20.0] * 100, lost_up=[10], lost_down=[11]))
    assert (m["loss_up_pct"], m["loss_down_pct"]) == (1.0, 100 / 99)
    assert (m["longest_burst_up"], m["longest_burst_down"]) == (1, 1)
    assert m["worst_window_loss_down_pct"] == 100 / 99  # exact: shares of 1/2 each, no drift


def test_unanswered_tail_is_unknown_not_dropped() -> None:
    m, _ = voice_metrics(make_run([20.0] * 100, lost_up=[5, 97, 98, 99]))
    assert m["loss_unknown_count"] == 3.0
    assert m["loss_up_pct"] == 100 * 1 / 97
    assert m["loss_up_upper_pct"] == 4.0
    assert m["loss_rt_pct"] == 4.0


def test_worst_window() -> None:
    lost = range(2970, 3000 - 1)  # 29 lost up in the last 15 s; the last probe comes back
    run = make_run([20.0] * 3000, lost_up=lost)
    m, ev = voice_metrics(run)
    assert m["loss_up_pct"] == 100 * 29 / 3000
    assert m["worst_window_loss_up_pct"] == 100 * 29 / 750
    assert ev["loss"]["window_packets"] == 750  # type: ignore[index]
    m, _ = voice_metrics(run, loss_statistic="worst_window")
    assert m["loss_up_pct"] == m["worst_window_loss_up_pct"]


def test_reordering_and_duplicates() -> None:
    run = make_run([20.0] * 30)
    a, b = run.samples[10], run.samples[11]
    a.arrival_index, b.arrival_index = b.arrival_index, a.arrival_index
    run.samples[3].duplicates = 2
    m, _ = voice_metrics(run)
    assert m["reordered_count"] == 1.0 and m["duplicate_count"] == 2.0


def test_send_lateness_and_mos() -> None:
    m, ev = voice_metrics(make_run([20.0] * 50, late_ns=250_000))
    assert m["send_late_p99_ms"] == m["send_late_max_ms"] == m["send_late_mean_ms"] == 0.25
    assert m["mos"] == pytest.approx(4.41, abs=0.01)  # Ta = 20 + 30 ms: no impairment
    assert ev["emodel"]["ta_ms"] == 50.0  # type: ignore[index]


def test_dscp_evidence() -> None:
    run = make_run([20.0] * 10)
    run.samples[4].dscp_at_reflector = 0
    _, ev = voice_metrics(run)
    dscp = ev["dscp"]
    assert dscp == {  # upstream bleached once; downstream fine
        "sent": 46,
        "at_reflector": {"46": 9, "0": 1},
        "received": {"46": 10},
        "upstream_kept": False,
        "downstream_kept": True,
    }


def test_nothing_came_back() -> None:
    m, ev = voice_metrics(make_run([20.0] * 20, lost_up=range(20)))
    assert m["packets_received"] == 0.0 and m["loss_rt_pct"] == 100.0
    assert m["loss_unknown_count"] == 20.0
    assert not {"rtt_mean_ms", "delay_up_ms", "jitter_up_ms", "loss_up_pct", "mos"} & set(m)
    assert "no reply" in str(ev["why"])
    m, _ = voice_metrics(VoiceRun([], 50, 172, 46, False, None, "kernel", 0, 0, interrupted=True))
    assert m["packets_sent"] == 0.0


def test_evidence_is_canonical_json_safe() -> None:
    _, ev = voice_metrics(make_run([20.0] * 5, lost_down=[2], synchronised=False))
    samples = ev["samples"]
    t1 = BASE_NS + 40 * MS
    t2 = t1 + 20 * MS + OFFSET_NS
    assert samples[2] == [2, str(t1), str(t2), str(t2 + 50_000), None, 2]  # type: ignore[index]

    def walk(x: object) -> None:
        if isinstance(x, dict):
            assert all(isinstance(k, str) for k in x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, int) and not isinstance(x, bool):
            assert abs(x) < 2**53

    walk(ev)
    json.dumps(ev)


def test_unknown_choices_are_rejected() -> None:
    run = make_run([20.0] * 3)
    with pytest.raises(ValueError, match="delay_statistic must be one of"):
        voice_metrics(run, delay_statistic="p90")
    with pytest.raises(ValueError, match="unknown codec 'opus'"):
        voice_metrics(run, codec="opus")

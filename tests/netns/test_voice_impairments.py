"""The voice check against per-direction faults made in the impairment lab (issue #3 part 5).

Each test runs `netready check --only media.voice` for 5 s (250 packets at 50/s) from the site
namespace to a responder in the platform namespace, with one impairment set in the router.
Targets: delay p95 <= 150 ms, jitter (RFC 3550, running max) <= 20 ms, loss < 1 %, per direction.
"""

from __future__ import annotations

import itertools
import statistics
import struct
import sys

import pytest

from tests.netns.conftest import VoiceResult, VoiceRunner
from tests.netns.emulator import model_jitter, ttl_plus_one
from tests.netns.lab import Lab
from tests.netns.nft import loss_expr

DURATION = 5.0
PACKETS = 250  # DURATION x 50 packets/s
ONE_HOP = {"254": PACKETS}  # sent with TTL 255, one router between: the TTL fix works


def _measured(r: VoiceResult) -> bool:
    return bool(r.check["evidence"]["delay_method"] == "measured")


def _samples(r: VoiceResult) -> list[list[object]]:
    samples: list[list[object]] = r.check["evidence"]["samples"]
    return samples


def _mean_jitter_up_ms(samples: list[list[object]]) -> float:
    """Mean RFC 3550 J upstream from packet 17 on, i.e. after J's ramp-up from 0 (the same
    span netready takes its running maximum over)."""
    got = [s for s in samples if s[2] is not None]
    transits = [int(str(s[2])) - int(str(s[1])) for s in sorted(got, key=lambda s: int(str(s[5])))]
    j, js = 0.0, []
    for a, b in itertools.pairwise(transits):
        j += (abs(b - a) - j) / 16
        js.append(j)
    return statistics.fmean(js[15:]) / 1e6


def _rtt_sd_ms(samples: list[list[object]]) -> float:
    rtts = [
        (int(str(s[4])) - int(str(s[1]))) - (int(str(s[3])) - int(str(s[2])))
        for s in samples
        if s[4] is not None
    ]
    return statistics.stdev(rtts) / 1e6


@pytest.mark.root
def test_clean_path_passes(lab: Lab, voice_check: VoiceRunner) -> None:
    r = voice_check(DURATION)
    print(f"\nclean: {r.summary()}, rtt sd {_rtt_sd_ms(_samples(r)):.4f} ms, {r.seconds:.1f} s")
    assert (r.status, r.returncode) == ("pass", 0), r.check.get("reason")
    m = r.metrics
    assert m["packets_sent"] == m["packets_received"] == PACKETS
    assert m["loss_up_pct"] == m["loss_down_pct"] == 0.0
    assert m["delay_up_ms"] < 1.0 and m["delay_down_ms"] < 1.0
    assert m["jitter_up_ms"] < 5.0 and m["jitter_down_ms"] < 5.0  # VM hiccups: ~1 ms
    assert r.check["evidence"]["ttl"]["at_reflector"] == ONE_HOP


@pytest.mark.root
def test_160ms_one_way_delay_fails_on_delay(lab: Lab, voice_check: VoiceRunner) -> None:
    # 160 ms upstream only. The namespaces share one kernel clock and both ends are told so,
    # so one-way delay is measured (T2 - T1, T4 - T3), not estimated as RTT/2 (= 80 ms).
    lab.set_delay("up", 160.0)
    r = voice_check(DURATION)
    print(f"\n160 ms upstream: {r.summary()}")
    assert (r.status, r.returncode) == ("fail", 1)
    assert r.check["evidence"]["delay_method"] == "measured"
    assert r.failed_metrics() == {"delay_up_ms"}
    m = r.metrics
    # p95: the emulator and the sender busy-wait at the same instants (160 ms is a multiple
    # of the 20 ms spacing) on two CPUs, so a few packets come a millisecond or two late
    assert 160.0 <= m["delay_up_ms"] < 163.0
    assert m["delay_down_ms"] < 2.0
    assert 160.0 <= m["rtt_mean_ms"] < 161.0
    # not failing on jitter; one late wake-up of the emulator (VM) can lift the running max
    assert m["jitter_up_ms"] < 10.0 and m["jitter_down_ms"] < 5.0
    assert m["loss_up_pct"] == m["loss_down_pct"] == 0.0
    assert r.check["evidence"]["ttl"]["at_reflector"] == ONE_HOP  # routed twice, TTL fixed


@pytest.mark.root
def test_30ms_upstream_jitter_fails_only_jitter_up(lab: Lab, voice_check: VoiceRunner) -> None:
    # "30 ms jitter" = RFC 3550 J of about 30 ms. On a FIFO path with 20 ms spacing J stays
    # below 40 ms and needs clumps of packets to get near 30 (uniform ±45 FIFO gives only 19 ms,
    # and larger settings also push the delay over 150 ms). So this uses independent draws, as
    # netem does: uniform 45 ± 42 ms per packet, reordering allowed; in arrival order the
    # emulator's model gives J = 30.5 ms (checked here). netready judges the running maximum.
    assert 29.0 < model_jitter(45.0, 42.0, reorder=True) < 32.0
    lab.set_delay("up", 45.0, 42.0, reorder=True)
    r = voice_check(DURATION)
    mean_j = _mean_jitter_up_ms(_samples(r))
    print(f"\n45±42 up, reordering: {r.summary()}, mean J up {mean_j:.2f} ms")
    assert (r.status, r.returncode) == ("fail", 1)
    assert r.failed_metrics() == {"jitter_up_ms"}
    m = r.metrics
    assert m["jitter_up_ms"] > 20.0
    assert m["jitter_down_ms"] < 5.0
    assert 24.0 < mean_j < 37.0  # the model says 30.5 ms; ±20 % is about 3 sigma at 250 packets
    assert m["loss_up_pct"] == m["loss_down_pct"] == 0.0
    assert m["reordered_count"] > 0


def _expected_drops(lab: Lab, direction: str) -> int:
    """Drops of `numgen inc mod 1000 {25, 75, ...}` among the packets the router saw (the
    check's 1 s preflight crosses it too, so this can exceed the stream's own 5)."""
    seen = lab.counters()[f"seen {direction}"]
    return sum(1 for k in range(seen) if k % 50 == 25)


@pytest.mark.root
def test_2pct_downstream_loss_fails_only_loss_down(lab: Lab, voice_check: VoiceRunner) -> None:
    lab.set_loss("down", 2.0)  # replies 25, 75, 125, 175, 225 of 250
    r = voice_check(DURATION)
    print(f"\n2 % loss down: {r.summary()}")
    assert (r.status, r.returncode) == ("fail", 1)
    assert r.failed_metrics() == {"loss_down_pct"}
    m = r.metrics
    assert m["loss_down_pct"] == 2.0 and m["loss_up_pct"] == 0.0
    assert (m["packets_sent"], m["packets_received"]) == (PACKETS, PACKETS - 5)
    assert _expected_drops(lab, "down") == lab.dropped()["down"] >= 5
    assert lab.dropped()["up"] == 0


@pytest.mark.root
def test_2pct_upstream_loss_fails_only_loss_up(lab: Lab, voice_check: VoiceRunner) -> None:
    lab.set_loss("up", 2.0)  # probes 25, 75, 125, 175, 225 of 250
    r = voice_check(DURATION)
    print(f"\n2 % loss up: {r.summary()}")
    assert (r.status, r.returncode) == ("fail", 1)
    assert r.failed_metrics() == {"loss_up_pct"}
    m = r.metrics
    assert m["loss_up_pct"] == 2.0 and m["loss_down_pct"] == 0.0
    assert (m["packets_sent"], m["packets_received"]) == (PACKETS, PACKETS - 5)
    assert _expected_drops(lab, "up") == lab.dropped()["up"] >= 5
    assert lab.dropped()["down"] == 0


@pytest.mark.root
def test_emulator_precision_40ms_one_way(lab: Lab, voice_check: VoiceRunner) -> None:
    lab.set_delay("up", 40.0, 0.0)
    r = voice_check(DURATION)
    seen_up = lab.counters()["seen up"]
    stats = lab.stop_delay("up") or {}
    emu = stats.get("stats", {})
    m = r.metrics
    print(
        f"\n40 ms up: {r.summary()}, rtt p50 {m['rtt_p50_ms']:.3f} max {m['rtt_max_ms']:.3f},"
        f" rtt sd {_rtt_sd_ms(_samples(r)):.4f} ms; emulator {emu}"
    )
    assert (r.status, r.returncode) == ("pass", 0), r.check.get("reason")
    # The median must be within +1 ms of the setting: the path adds ~0.13 ms and the
    # emulator ~0.1-0.2 ms on a quiet VM, but 0.53 ms was seen once while a whole test suite
    # competed for the two CPUs. The mean also carries single packets 2-17 ms late under such
    # load, so it gets 1.5 ms.
    assert 40.0 <= m["rtt_p50_ms"] <= 41.0
    assert 40.0 <= m["rtt_mean_ms"] <= 41.5
    if _measured(r):  # synchronised clock: the 40 ms must show on the way up only
        assert 40.0 <= m["delay_up_p50_ms"] <= 41.0 and m["delay_down_p50_ms"] < 1.0
    else:
        assert m["delay_up_mean_ms"] == pytest.approx(m["rtt_mean_ms"] / 2)
        assert m["delay_down_mean_ms"] == pytest.approx(m["rtt_mean_ms"] / 2)
    assert emu["written"] == emu["read"] == seen_up >= PACKETS
    assert emu["overflow"] == emu["write_errors"] == emu["not_ipv4"] == 0
    assert emu["late_mean_us"] < 500.0  # typically 5-80 µs; bounded, as it adds to the bias


@pytest.mark.root
def test_emulator_keeps_fifo_order_and_model_jitter(lab: Lab, voice_check: VoiceRunner) -> None:
    # ±20 ms at 20 ms spacing: independent draws would reorder about 1 packet in 8; FIFO holds
    # them back instead, and the model puts the mean J at 12.1 ms (2·20/3 = 13.3 unclamped).
    expected = model_jitter(40.0, 20.0)
    lab.set_delay("up", 40.0, 20.0)
    r = voice_check(DURATION)
    mean_j = _mean_jitter_up_ms(_samples(r))
    print(f"\n40±20 up, FIFO: {r.summary()}, mean J up {mean_j:.2f} (model {expected:.2f}) ms")
    assert r.metrics["reordered_count"] == 0.0
    assert abs(mean_j - expected) < 0.2 * expected
    assert r.metrics["jitter_down_ms"] < 5.0


REFUSED = (  # a TCP SYN to a closed port on the platform comes back as RST: the path works
    "import socket, sys; s = socket.socket(); s.settimeout(2);"
    " raise SystemExit(s.connect_ex((sys.argv[1], 9)) != 111)"
)


@pytest.mark.root
def test_labs_are_isolated_and_side_by_side(lab: Lab) -> None:
    with Lab() as other:
        names = set(lab.ns.values()) | set(other.ns.values())
        assert len(names) == 6
        for each in (lab, other):
            for role in ("site", "router", "platform"):
                assert each.ip(role, "route", "show", "default").strip() == ""
            assert each.run_in("site", ["ip", "route", "get", "192.0.2.1"], check=False).returncode
            assert (
                each.run_in("site", [sys.executable, "-c", REFUSED, each.platform_ip]).returncode
                == 0
            )
    listed = {
        line.split(" ")[0]
        for line in lab.run_in("site", ["ip", "netns", "list"]).stdout.splitlines()
    }
    assert set(lab.ns.values()) <= listed and not set(other.ns.values()) & listed


CONNECT = (  # prints the errno of a TCP connect to the platform: 0, 111 refused, 11 timed out
    "import socket, sys; s = socket.socket(); s.settimeout(0.5);"
    " print(s.connect_ex((sys.argv[1], int(sys.argv[2]))))"
)


@pytest.mark.root
def test_block_drops_and_rejects(lab: Lab) -> None:
    def connect(port: int) -> str:
        argv = [sys.executable, "-c", CONNECT, lab.platform_ip, str(port)]
        return lab.run_in("site", argv).stdout.strip()

    assert connect(9) == "111"  # closed port: RST from the platform
    lab.block("tcp", 9)
    lab.block("tcp", [10, "20-30"], action="reject")
    assert (connect(9), connect(10), connect(25)) == ("11", "111", "111")
    lab.clear()
    assert connect(9) == "111"


def _checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@pytest.mark.parametrize("ttl", [0, 1, 2, 63, 127, 253, 254])
@pytest.mark.parametrize("proto", [1, 6, 17, 255])
def test_ttl_fix_keeps_the_header_checksum_valid(ttl: int, proto: int) -> None:
    head = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0xB8, 200, 7, 0, ttl, proto, 0,
                                 bytes([198, 51, 100, 2]), bytes([203, 0, 113, 2])))  # fmt: skip
    head[10:12] = _checksum(bytes(head)).to_bytes(2, "big")
    ttl_plus_one(head)
    assert head[8] == ttl + 1
    assert _checksum(bytes(head)) == 0  # a valid header sums to 0xFFFF


def test_ttl_255_is_left_alone() -> None:
    head = bytearray(20)
    head[0], head[8] = 0x45, 255
    ttl_plus_one(head)
    assert head[8] == 255 and head[10:12] == b"\x00\x00"


def test_model_jitter_matches_rfc3550_theory_while_fifo_does_not_bind() -> None:
    assert model_jitter(40.0, 5.0) == pytest.approx(10 / 3, rel=0.03)  # 2·5/3
    assert model_jitter(40.0, 10.0) == pytest.approx(20 / 3, rel=0.03)
    assert model_jitter(40.0, 45.0) < 20.0 < model_jitter(40.0, 45.0, reorder=True)


def test_deterministic_loss_picks_evenly_spread_packets() -> None:
    assert (
        loss_expr(2.0, True)
        == "numgen inc mod 1000 { " + ", ".join(str(25 + 50 * j) for j in range(20)) + " }"
    )
    assert loss_expr(0.5, False) == "numgen random mod 1000 < 5"
    with pytest.raises(ValueError):
        loss_expr(0.25, True)

"""STAMP codec and stateful reflector core: golden packets, exact time math, hostile input."""

from __future__ import annotations

import contextlib
import struct
from dataclasses import replace
from time import time_ns

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netready.probes import stamp
from netready.probes.stamp import (
    BASE_SIZE,
    ClassOfService,
    ErrorEstimate,
    ReflectorPacket,
    SenderPacket,
    Tlv,
)
from netready.responder.limits import AllowList, ReflectorLimits, parse_allow
from netready.responder.stamp_reflector import StampReflector, clock_is_synchronised

# 2023-11-14 22:13:20 UTC = Unix 1_700_000_000 s = NTP 3_908_988_800 s = 0xE8FE6F80
T1_NS = 1_700_000_000_500_000_000  # .5 s   -> fraction 0x80000000
T2_NS = 1_700_000_000_250_000_000  # .25 s  -> fraction 0x40000000
T3_NS = 1_700_000_000_750_000_000  # .75 s  -> fraction 0xC0000000
EE_1MS_SYNC = ErrorEstimate(synchronised=True, ptp=False, scale=22, multiplier=1)  # 0x9601

# Session-Sender packet, RFC 8762 §4.2.1 / PROTOCOLS.md §1.4, written out field by field.
SENDER_GOLDEN = bytes.fromhex(
    "00000001"  # 0  sequence number 1
    "e8fe6f80"
    "80000000"  # 4  T1: NTP seconds, fraction
    "9601"  # 12 error estimate: S=1 Z=0 scale=22 multiplier=1
    "1234" + "00" * 28  # 14 SSID  # 16 MBZ
)
# Session-Reflector packet, RFC 8762 §4.3.1 / PROTOCOLS.md §1.5.
REFLECTOR_GOLDEN = bytes.fromhex(
    "00000007"  # 0  reflector's own sequence number
    "e8fe6f80"
    "c0000000"  # 4  T3
    "9601"  # 12 reflector error estimate
    "1234"  # 14 SSID
    "e8fe6f80"
    "40000000"  # 16 T2 (receive timestamp)
    "00000001"  # 24 sender sequence number
    "e8fe6f80"
    "80000000"  # 28 T1 copied
    "9601"  # 36 sender error estimate
    "0000"  # 38 MBZ
    "3f"  # 40 sender TTL as received (63)
    "000000"  # 41 MBZ
)


def test_ntp_epoch_offset_is_the_era_constant() -> None:
    assert stamp.NTP_UNIX_OFFSET_S == 2_208_988_800
    assert stamp.unix_ns_to_ntp(0) == 2_208_988_800 << 32
    assert stamp.ntp_to_unix_ns(2_208_988_800 << 32) == 0


def test_ntp_uses_2_pow_32_not_0xffffffff() -> None:
    assert stamp.unix_ns_to_ntp(T1_NS) & 0xFFFFFFFF == 0x80000000
    assert stamp.unix_ns_to_ntp(999_999_999) & 0xFFFFFFFF == (999_999_999 << 32) // 10**9


@given(st.integers(-(stamp.NTP_UNIX_OFFSET_S - 2**31) * 10**9, 4_000_000_000 * 10**9))
def test_ntp_round_trip_is_exact(unix_ns: int) -> None:
    assert stamp.ntp_to_unix_ns(stamp.unix_ns_to_ntp(unix_ns)) == unix_ns


def test_ntp_after_2036_uses_era_1() -> None:
    after_wrap = (2**32 - stamp.NTP_UNIX_OFFSET_S) * 10**9 + 5
    ntp = stamp.unix_ns_to_ntp(after_wrap)
    assert ntp >> 32 == 0
    assert stamp.ntp_to_unix_ns(ntp) == after_wrap


def test_ntp_out_of_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="outside the NTP range"):
        stamp.unix_ns_to_ntp(-(10**18) * 4)


def test_ptp_round_trip_and_bad_nanoseconds() -> None:
    assert stamp.ptp_to_unix_ns(stamp.unix_ns_to_ptp(T1_NS)) == T1_NS
    assert stamp.unix_ns_to_ptp(0) == 37 << 32
    with pytest.raises(ValueError, match="nanoseconds field"):
        stamp.ptp_to_unix_ns(10**9)


def test_error_estimate_bits_and_helper() -> None:
    assert EE_1MS_SYNC.to_int() == 0x9601
    assert ErrorEstimate.from_int(0x9601) == EE_1MS_SYNC
    assert ErrorEstimate.from_int(0x4000).ptp
    ee = ErrorEstimate.for_error(1_000_000, synchronised=True)
    assert ee.synchronised and not ee.ptp
    assert 1_000_000 <= ee.error_ns < 1_010_000
    assert ErrorEstimate.for_error(0, False) == ErrorEstimate(False, False, 0, 5)  # 1.16 ns


def test_sender_golden_bytes() -> None:
    pkt = SenderPacket(1, T1_NS, EE_1MS_SYNC, 0x1234)
    assert stamp.pack_sender(pkt) == SENDER_GOLDEN
    assert stamp.unpack_sender(SENDER_GOLDEN) == pkt


def test_reflector_golden_bytes() -> None:
    pkt = ReflectorPacket(7, T3_NS, EE_1MS_SYNC, 0x1234, T2_NS, 1, T1_NS, EE_1MS_SYNC, 63)
    assert stamp.pack_reflector(pkt) == REFLECTOR_GOLDEN
    assert stamp.unpack_reflector(REFLECTOR_GOLDEN + b"\x01\x02") == ReflectorPacket(
        7, T3_NS, EE_1MS_SYNC, 0x1234, T2_NS, 1, T1_NS, EE_1MS_SYNC, 63, b"\x01\x02"
    )


def test_packing_out_of_range_fields_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="out of range"):
        stamp.pack_sender(SenderPacket(2**32, T1_NS, EE_1MS_SYNC))


@pytest.mark.parametrize("unpack", [stamp.unpack_sender, stamp.unpack_reflector])
def test_short_packet_message(unpack: object) -> None:
    with pytest.raises(ValueError, match="is 43 bytes; the base packet needs 44"):
        unpack(b"\x00" * 43)  # type: ignore[operator]


def test_cos_tlv_bit_layout_erratum_8199() -> None:
    # DSCP1 46 | DSCP2 10 | ECN 2 | RP 1: 101110 00 | 1010 10 01 | 0 | 0
    assert stamp.pack_cos(ClassOfService(46, 10, 2, 1)) == bytes([0b10111000, 0b10101001, 0, 0])
    assert stamp.pack_cos(ClassOfService(0, 46)) == bytes([0b00000010, 0b11100000, 0, 0])
    assert stamp.unpack_cos(bytes([0xB8, 0xA9, 0xFF, 0xFF])) == ClassOfService(46, 10, 2, 1)
    with pytest.raises(ValueError, match="out of range"):
        stamp.pack_cos(ClassOfService(64))


def test_voice_payload_is_172_bytes_with_cos_and_padding() -> None:
    tlvs = stamp.sender_tlvs(172, 46, fill=b"\xaa")
    assert BASE_SIZE + len(tlvs) == 172
    cos, pad = stamp.parse_tlvs(tlvs)
    assert cos == Tlv(stamp.TLV_CLASS_OF_SERVICE, bytes([0xB8, 0, 0, 0]), stamp.TLV_FLAG_U)
    assert pad == Tlv(stamp.TLV_EXTRA_PADDING, b"\xaa" * 116, stamp.TLV_FLAG_U)
    assert len(stamp.sender_tlvs(52, 0)) == 8
    with pytest.raises(ValueError, match="too few for padding"):
        stamp.sender_tlvs(54, 46)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01", "header at offset 0 is cut off"),
        (b"\x00\x01\x00\x05abcd", "claims 5 bytes; only 4 follow"),
        (b"\x00\x04\x00\x03abc", "Class of Service TLV has length 3"),
    ],
)
def test_malformed_tlvs(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stamp.parse_tlvs(data)


# ---- the stateful reflector ----

PEER = ("127.0.0.1", 40000)


def request(seq: int = 0, ssid: int = 0x1234, tlvs: bytes = b"") -> bytes:
    return stamp.pack_sender(SenderPacket(seq, T1_NS, EE_1MS_SYNC, ssid, tlvs))


def reflect(r: StampReflector, data: bytes, peer: tuple[str, int] = PEER, tos: int | None = 0):  # type: ignore[no-untyped-def]
    return r.reflect(data, peer, T2_NS, 63, tos, lambda: T3_NS)


def test_reflection_fields_and_symmetric_size() -> None:
    data = request(1, tlvs=stamp.sender_tlvs(172, 46))
    reply, tos = reflect(StampReflector(clock_synchronised=True), data, tos=46 << 2 | 1)
    assert len(reply) == len(data) == 172
    pkt = stamp.unpack_reflector(reply)
    assert (pkt.seq, pkt.ssid, pkt.sender_seq, pkt.sender_ttl) == (0, 0x1234, 1, 63)
    assert (pkt.receive_timestamp_ns, pkt.timestamp_ns, pkt.sender_timestamp_ns) == (
        T2_NS,
        T3_NS,
        T1_NS,
    )
    assert pkt.error_estimate.synchronised and pkt.sender_error_estimate == EE_1MS_SYNC
    cos, pad = stamp.parse_tlvs(pkt.tlvs)
    assert cos.flags == 0 and stamp.unpack_cos(cos.value) == ClassOfService(46, 46, 1, 0)
    assert pad.flags == 0 and pad.value == data[BASE_SIZE + 12 :]
    assert tos == 46 << 2


def test_sender_fields_copied_bit_for_bit() -> None:
    data = bytearray(request(5))
    data[4:12] = b"\xe8\xfe\x6f\x80\x12\x34\x56\x7f"  # a fraction no ns value encodes to
    reply, _ = reflect(StampReflector(), bytes(data))
    assert reply[24:38] == bytes(data[0:14]) and reply[14:16] == data[14:16]


def test_short_request_is_dropped_never_padded() -> None:
    r = StampReflector()
    assert reflect(r, request()[:43]) is None
    assert r.sessions() == 0


def test_sequence_counter_per_session() -> None:
    r = StampReflector()
    seqs = [
        stamp.unpack_reflector(reflect(r, request(n, ssid), peer)[0]).seq
        for n, ssid, peer in [
            (10, 1, PEER),
            (11, 1, PEER),
            (12, 2, PEER),
            (13, 1, ("127.0.0.1", 40001)),
            (14, 1, PEER),
        ]
    ]
    assert seqs == [0, 1, 0, 0, 2]
    assert r.sessions() == 3


def test_idle_sessions_expire_and_the_cap_holds() -> None:
    r = StampReflector(session_idle_s=30.0, max_sessions=2)
    reflect(r, request(ssid=1))
    reflect(r, request(ssid=2))
    assert r.expire(T2_NS + 31 * 10**9) == [("127.0.0.1", 40000, 1), ("127.0.0.1", 40000, 2)]
    assert r.sessions() == 0


def test_unknown_tlv_echoed_with_u_and_malformed_marked_m() -> None:
    unknown = stamp.pack_tlv(Tlv(200, b"xyz!", 0))
    broken = b"\x00\x04\x00\x09abc"  # CoS with a length that runs past the end
    reply, tos = reflect(StampReflector(), request(tlvs=unknown + broken))
    tail = reply[BASE_SIZE:]
    assert tail[0] == stamp.TLV_FLAG_U and tail[1:8] == unknown[1:]
    assert tail[8] == stamp.TLV_FLAG_M and tail[9:] == broken[1:]
    assert tos is None


def test_cut_off_tlv_header_gets_m_flag() -> None:
    reply, _ = reflect(StampReflector(), request(tlvs=b"\x00\x01"))
    assert reply[BASE_SIZE:] == bytes([stamp.TLV_FLAG_M, 1])


def test_clock_is_synchronised_answers_a_bool() -> None:
    assert isinstance(clock_is_synchronised(), bool)


# ---- hostile input: only ValueError from the codec, only None or a same-size reply ----

FUZZ = settings(max_examples=2000, deadline=None)


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_unpackers_raise_only_value_error(data: bytes) -> None:
    for unpack in (stamp.unpack_sender, stamp.unpack_reflector, stamp.parse_tlvs, stamp.unpack_cos):
        with contextlib.suppress(ValueError):
            unpack(data)


@FUZZ
@given(st.binary(max_size=200), st.none() | st.integers(-1, 300), st.none() | st.integers(-1, 300))
def test_fuzz_reflector_never_raises_never_amplifies(
    data: bytes, ttl: int | None, tos: int | None
) -> None:
    r = StampReflector()
    out = r.reflect(data, PEER, T2_NS, ttl, tos, lambda: T3_NS)
    assert out is None or len(out[0]) == len(data)
    assert "error" not in r.drops


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 255), st.sampled_from([0, 1, 3, 4, 5, 8, 255]), st.binary(max_size=9)
        ),
        max_size=5,
    ),
    st.binary(max_size=6),
)
def test_fuzz_reflector_tlv_walk(tlvs: list[tuple[int, int, bytes]], junk: bytes) -> None:
    # Well-framed TLVs of any type and length, then junk: the walk must stay total.
    area = b"".join(struct.pack("!BBH", f, t, len(v)) + v for f, t, v in tlvs) + junk
    data = request(tlvs=area)
    out = StampReflector().reflect(data, PEER, T2_NS, 64, 0xB8, lambda: T3_NS)
    assert out is not None and len(out[0]) == len(data)


# ---- limits, sessions and their log lines (sans-IO: rx times are given) ----

MS = 1_000_000


def limited(**limits: float) -> tuple[StampReflector, list[str]]:
    log: list[str] = []
    values = {"min_interval_ms": 0.0, "max_pps_per_source": 0, **limits}
    r = StampReflector(limits=ReflectorLimits(**values), log=log.append)  # type: ignore[arg-type]
    return r, log


def at(r: StampReflector, rx_ns: int, ssid: int = 1, peer: tuple[str, int] = PEER) -> bool:
    return r.reflect(request(ssid=ssid), peer, rx_ns, 64, 0, lambda: rx_ns) is not None


def test_max_packet_drops_larger_datagrams() -> None:
    r, _ = limited(max_packet=172)
    assert reflect(r, request(tlvs=stamp.sender_tlvs(172, 46))) is not None
    assert reflect(r, request(tlvs=stamp.sender_tlvs(173, 46))) is None
    assert r.drops == {"too-large": 1}
    assert StampReflector().limits.max_packet == 1472


def test_min_interval_is_an_average_rate_with_half_a_second_of_burst() -> None:
    r, _ = limited(min_interval_ms=5.0)  # 200 packets/s, bucket of 100
    assert sum(at(r, T2_NS) for _ in range(300)) == 100
    assert r.drops == {"session-rate": 200}
    # a steady 50 packets/s never hits the limit, even after the burst used the bucket up
    assert all(at(r, T2_NS + 10 * MS + i * 20 * MS) for i in range(200))
    assert sum(at(r, T2_NS + 10**10, ssid=2) for _ in range(10)) == 10  # its own bucket


def test_packets_bunched_by_the_network_are_not_cut() -> None:
    r, _ = limited(min_interval_ms=5.0)
    # 50 packets/s with a 900 ms stall: 45 arrive at once, then the stream goes on
    times = [i * 20 * MS for i in range(50)] + [1_900 * MS] * 45 + [1_920 * MS, 1_940 * MS]
    assert all(at(r, T2_NS + t) for t in times)


def test_per_source_rate_covers_all_sessions_of_an_address() -> None:
    r, _ = limited(max_pps_per_source=100)  # bucket of 50 over every session of 127.0.0.1
    admitted = sum(at(r, T2_NS, ssid=1, peer=("127.0.0.1", 40000 + i)) for i in range(200))
    assert admitted == 50 and r.drops == {"source-rate": 150}
    assert at(r, T2_NS, peer=("127.0.0.2", 40000))  # another address has its own bucket
    assert at(r, T2_NS + 20 * MS, ssid=1, peer=("127.0.0.1", 40000))  # 2 tokens back


def test_max_session_time() -> None:
    r, log = limited(max_session_s=1.0)
    assert at(r, T2_NS) and at(r, T2_NS + 999 * MS)
    assert not at(r, T2_NS + 1_001 * MS) and not at(r, T2_NS + 1_500 * MS)
    assert r.drops == {"session-time": 2}
    assert sum("reached the maximum session time (1 s)" in line for line in log) == 1
    assert at(r, T2_NS + 1_500 * MS, ssid=2)  # a new session is answered
    r.close(T2_NS + 2 * 10**9)
    assert "ended (responder stopped): 2 reflected, 2 dropped (2 session-time), 1.5 s" in log[-2]


def test_a_full_table_never_pushes_out_an_active_session() -> None:
    r, log = limited()
    r = StampReflector(max_sessions=2, limits=r.limits, log=log.append)
    for i in range(2):  # two packets each: both sessions are confirmed streams
        assert at(r, T2_NS + i * MS, ssid=1) and at(r, T2_NS + i * MS, ssid=2)
    assert at(r, T2_NS + 2 * MS, ssid=1)  # session 1 is now the most recent
    assert not at(r, T2_NS + 3 * MS, ssid=3)  # both are active: the newcomer is dropped
    assert r.drops == {"table-full": 1} and r.sessions_evicted == 0
    quiet = T2_NS + 6 * 10**9  # session 2 quiet for 6 s, session 1 kept sending
    assert at(r, quiet - 10 * MS, ssid=1)
    assert at(r, quiet, ssid=3)  # takes the place of the quiet session 2
    assert r.sessions() == 2 and r.sessions_evicted == 1
    assert any("SSID 2 ended (evicted: session table full): 2 reflected" in x for x in log)
    seq = stamp.unpack_reflector(r.reflect(request(ssid=1), PEER, quiet + MS, 64, 0, time_ns)[0])
    assert seq.seq == 4  # session 1 kept its counter
    assert at(r, T2_NS + 40 * 10**9, ssid=4)  # room taken from an idle session
    assert r.sessions_evicted == 1 and "SSID 3 ended (idle)" in log[-2]


def test_a_flood_of_one_packet_sessions_makes_room_for_a_new_stream() -> None:
    """Newcomers take the place of one-packet sessions first: an honest stream that
    starts during a flood of made-up sessions is answered from its first packet on."""
    r, _log = limited()
    r = StampReflector(max_sessions=64, limits=r.limits)
    assert at(r, T2_NS, ssid=1) and at(r, T2_NS + MS, ssid=1)  # an established stream
    flood = [(f"192.0.2.{i % 250 + 1}", 40000 + i) for i in range(1000)]
    for i, peer in enumerate(flood):  # one packet per made-up session, all "recent"
        at(r, T2_NS + 2 * MS + i, ssid=i % 65535 + 1, peer=peer)
        if i == 500:  # a new honest stream starts in the middle of the flood
            honest = [
                at(r, T2_NS + 3 * MS + n, ssid=7, peer=("198.51.100.9", 5004)) for n in range(3)
            ]
    assert honest == [True, True, True]
    assert at(r, T2_NS + 10 * MS, ssid=1)  # the established stream was never pushed out
    assert r.sessions_evicted == 0 and r.unconfirmed_evicted >= 900 and not r.drops


def test_sessions_are_capped_per_source_and_per_network() -> None:
    r, _log = limited()
    r = StampReflector(max_sessions=10_000, limits=replace(r.limits, max_pps_per_source=0))
    answered = sum(at(r, T2_NS, ssid=ssid) for ssid in range(1, 200))
    assert answered == 64 and r.drops == {"sessions-per-source": 199 - 64}
    peers = [(f"192.0.2.{i}", port) for i in range(1, 255) for port in (40000, 40001)]
    answered = sum(at(r, T2_NS, peer=peer) for peer in peers)
    assert answered == 256 and r.drops["sessions-per-network"] == len(peers) - 256
    assert at(r, T2_NS, peer=("198.51.100.1", 40000))  # another /24 is not affected


def test_one_log_line_per_session_start_and_end() -> None:
    r, log = limited()
    for i in range(3):
        at(r, T2_NS + i * 20 * MS, ssid=0x1234)
    at(r, T2_NS, ssid=1, peer=("::1", 5004))
    assert log == [
        "STAMP session 1 from 127.0.0.1:40000 SSID 4660, authenticated: no",
        "STAMP session 2 from [::1]:5004 SSID 1, authenticated: no",
    ]
    assert r.expire(T2_NS + 31 * 10**9) == [("127.0.0.1", 40000, 0x1234), ("::1", 5004, 1)]
    assert log[2:] == [
        "STAMP session 1 from 127.0.0.1:40000 SSID 4660 ended (idle): 3 reflected, 0 dropped,"
        " 0.0 s",
        "STAMP session 2 from [::1]:5004 SSID 1 ended (idle): 1 reflected, 0 dropped, 0.0 s",
    ]
    assert r.sessions_started == 2 and r.sessions() == 0


def test_session_log_lines_are_rate_limited() -> None:
    r, log = limited()
    for n in range(1000):  # a flood of new sessions in one instant
        at(r, T2_NS, peer=(f"127.0.{n // 250}.{n % 250}", 10000))
    assert len(log) == 100
    at(r, T2_NS + 10**9, peer=("127.0.9.1", 9999))  # 20 lines a second come back
    assert log[-1].endswith("(900 session log lines suppressed before this one)")
    r.close(T2_NS + 2 * 10**9)
    assert log[-1] == "951 more STAMP sessions ended (responder stopped)"


def test_clock_state_can_change_while_running() -> None:
    r = StampReflector(clock_synchronised=False)
    assert not stamp.unpack_reflector(reflect(r, request())[0]).error_estimate.synchronised
    r.set_clock_synchronised(True)
    assert stamp.unpack_reflector(reflect(r, request())[0]).error_estimate.synchronised


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_packet": 43}, "give 44-65507"),
        ({"max_packet": 70000}, "give 44-65507"),
        ({"min_interval_ms": -1}, "cannot be negative"),
    ],
)
def test_nonsense_limits_are_refused(limits: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StampReflector(limits=ReflectorLimits(**limits))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="below the base packet"):
        StampReflector(keys={0: bytes(16)}, limits=ReflectorLimits(max_packet=100))


def test_allow_list() -> None:
    allow = AllowList(parse_allow(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]))
    assert allow.permits("10.1.2.3") and allow.permits("192.0.2.7")
    assert allow.permits("::ffff:10.9.9.9") and allow.permits("2001:db8::1")
    assert not allow.permits("127.0.0.1") and not allow.permits("::1")
    assert not allow.permits("not an address") and not allow.permits("192.0.2.8")
    assert AllowList(()).permits("127.0.0.1")
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an address or a network"):
        parse_allow(["10.0.0.0/33"])

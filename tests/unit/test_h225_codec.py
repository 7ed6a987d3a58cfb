"""The H.225 codec: SETUP encoding (a golden vector Wireshark decodes cleanly), parsing, the
address diff, the responder's echo answer, and hostile bytes (only ValueError, fuzzed)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netready.probes.h225 import (
    DEST,
    H245,
    RTCP,
    RTP,
    SOURCE,
    Endpoint,
    build_setup,
    diff_addresses,
    first_difference,
    parse_setup,
)
from netready.probes.h225_echo import REPLY_OVERHEAD, build_echo_reply, parse_echo_reply
from netready.probes.per import PerReader, PerWriter
from netready.probes.q931 import MSG_SETUP, parse_q931, split_tpkt, tpkt

LAN = "192.168.1.20"
PUBLIC = "203.0.113.1"
# build_setup(LAN:40000, 203.0.113.2:1720, h245 LAN:30000, rtp LAN:42000, crv 0x1234,
# conference 00..0f, call id 10..1f). `tshark -V` (4.0.17) decodes it as TPKT, Q.931 SETUP
# (bearer capability, display, user-user) and H.225.0 CS setup with every address and the
# fastStart OpenLogicalChannel, without a malformed or expert mark.
GOLDEN = bytes.fromhex(
    "03000086080212340504038090a228086e657472656164797e006b0520c8060008914a000200c0a8"
    "011475300200cb00710206b800000102030405060708090a0b0c0d0e0f00451c0700c0a801149c40"
    "1100101112131415161718191a1b1c1d1e1f1b01190000000c6013801114000100c0a80114a41000"
    "c0a80114a4110100010006800100"
)


def golden_probe() -> bytes:
    return build_setup(
        Endpoint(LAN, 40000),
        Endpoint("203.0.113.2", 1720),
        Endpoint(LAN, 30000),
        Endpoint(LAN, 42000),
        call_reference=0x1234,
        conference_id=bytes(range(16)),
        call_id=bytes(range(16, 32)),
    ).data


def test_setup_matches_the_golden_vector() -> None:
    data = golden_probe()
    assert data == GOLDEN
    payload, rest = split_tpkt(data) or (b"", b"x")
    assert rest == b"" and data[:4] == bytes([3, 0, 0, len(data)])
    q931 = parse_q931(payload)
    assert q931.message_type == MSG_SETUP and q931.call_reference == b"\x12\x34"
    assert b"\x06\x00\x08\x91\x4a\x00\x02" in data  # protocolIdentifier 0.0.8.2250.0.2


def test_round_trip_finds_every_address() -> None:
    probe = build_setup(
        Endpoint("10.1.2.3", 50000),
        Endpoint("198.51.100.9", 1720),
        Endpoint("10.1.2.3", 31000),
        Endpoint("10.1.2.3", 44000),
    )
    info = parse_setup(probe.data)
    assert info.addresses == probe.addresses
    assert list(info.addresses) == [SOURCE, DEST, H245, RTP, RTCP]
    assert str(info.addresses[RTCP]) == "10.1.2.3:44001"
    assert info.conference_id == probe.conference_id
    assert int.from_bytes(info.call_reference, "big") == probe.call_reference
    minimal = build_setup(Endpoint("10.1.2.3", 1))  # optional fields left out
    assert parse_setup(minimal.data).addresses == {SOURCE: Endpoint("10.1.2.3", 1)}


def test_each_address_sits_where_an_alg_rewrites_it_in_place() -> None:
    """Six octets per address, each found once: an in-place rewrite is seen field by field."""
    probe = build_setup(
        Endpoint(LAN, 40000), Endpoint("203.0.113.2", 1720), Endpoint(LAN, 30000),
        Endpoint(LAN, 42000),
    )  # fmt: skip
    data = probe.data
    for name in (SOURCE, H245, RTP, RTCP):
        before = probe.addresses[name]
        after = Endpoint(PUBLIC, before.port)
        assert data.count(before.pack()) == 1, name
        rewritten = data.replace(before.pack(), after.pack())
        changes = diff_addresses(probe.addresses, parse_setup(rewritten).addresses)
        assert [c.describe() for c in changes] == [f"{name} rewritten from {before} to {after}"]
    assert diff_addresses({SOURCE: Endpoint(LAN, 1)}, {})[0].describe() == (
        f"{SOURCE} removed (was {LAN}:1)"
    )
    assert first_difference(b"abc", b"abd") == 2 and first_difference(b"ab", b"abc") == 2


def test_echo_reply_carries_the_request_as_hex_and_the_peer() -> None:
    request = golden_probe()
    reply = build_echo_reply(request, (PUBLIC, 40001))
    assert reply is not None
    assert len(reply) <= 2 * len(request) + REPLY_OVERHEAD
    echo = parse_echo_reply(reply)
    assert echo.echoed == request and echo.peer == f"{PUBLIC}:40001"
    # no binary IPv4 address of the SETUP in the answer: an ALG finds nothing to "fix"
    for ip in (LAN, "203.0.113.2", PUBLIC):
        assert Endpoint(ip, 0).pack()[:4] not in reply
    parts = split_tpkt(reply)
    assert parts is not None
    q931 = parse_q931(parts[0])
    assert q931.message_type == 0x5A and q931.call_reference == b"\x92\x34"  # flag set
    v6 = build_echo_reply(request, ("2001:db8::1", 5))
    assert v6 is not None and parse_echo_reply(v6).peer == "[2001:db8::1]:5"


@pytest.mark.parametrize(
    "request_",
    [
        b"",
        b"\x03\x00\x00\x05",  # TPKT length 5 with nothing in it
        b"NETREADY\r\n",
        tpkt(b"\x08\x02\x12\x34\x5a"),  # a RELEASE COMPLETE, not a SETUP
        tpkt(b"\x09\x02\x12\x34\x05"),  # not Q.931
        golden_probe() + golden_probe(),  # two frames
        golden_probe()[:-1],  # truncated
    ],
)
def test_echo_answers_only_one_whole_setup(request_: bytes) -> None:
    assert build_echo_reply(request_, ("127.0.0.1", 1)) is None


def test_per_lengths_and_bounds() -> None:
    w = PerWriter()
    for n in (0, 127, 128, 16383):
        w.length(n)
    r = PerReader(w.done())
    assert [r.length() for _ in range(4)] == [0, 127, 128, 16383]
    with pytest.raises(ValueError):
        PerWriter().length(16384)
    with pytest.raises(ValueError):
        PerReader(b"\xc0\x00").length()  # fragmented form
    with pytest.raises(ValueError):
        PerReader(b"\x01").octets(2)
    assert PerWriter().done() == b"\x00"  # an empty open type is one zero octet


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x03",
        b"\x03\x00\x00\x04",
        b"\x04\x00\x00\x08abcd",
        b"\x03\x00\xff\xff" + b"\x00" * 100,
        tpkt(b"\x08"),
        tpkt(b"\x08\x0f\x00"),
        tpkt(b"\x08\x02\x12\x34\x05\x7e\x00"),
        tpkt(b"\x08\x02\x12\x34\x05\x7e\x00\x10\x05"),
        tpkt(b"\x08\x02\x12\x34\x05\x04\x03\x80"),
        tpkt(b"\x08\x02\x12\x34\x05\x7e\x00\x02\x05\xff"),
        tpkt(b"\x08\x02\x12\x34\x05\x7e\x00\x02\x06\x00"),
        tpkt(b"\x08\x02\x12\x34\x5a\x7e\x00\x02\x05\x00"),
        GOLDEN[:60],
        GOLDEN.replace(bytes.fromhex("7e006b0520"), bytes.fromhex("7e006b0521")),  # not setup
    ],
)
def test_hostile_bytes_are_value_errors(bad: bytes) -> None:
    for parse in (parse_setup, parse_echo_reply):
        with pytest.raises(ValueError):
            parse(bad)


def test_endpoints_are_ipv4_only() -> None:
    with pytest.raises(ValueError):
        Endpoint("::1", 1)
    with pytest.raises(ValueError):
        Endpoint("10.0.0.1", 70000)
    with pytest.raises(ValueError):
        Endpoint.unpack(b"\x01\x02")
    with pytest.raises(ValueError):
        build_setup(Endpoint("10.0.0.1", 1), call_reference=0x8000)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_all(data: bytes) -> None:
    """Every parser on `data`: a ValueError is fine, anything else fails the test."""
    for parse in (parse_setup, parse_echo_reply):
        with contextlib.suppress(ValueError):
            parse(data)
    with contextlib.suppress(ValueError):
        payload = split_tpkt(data)
        if payload is not None:
            parse_q931(payload[0])
    reply = build_echo_reply(data, ("127.0.0.1", 9))
    assert reply is None or len(reply) <= 2 * len(data) + REPLY_OVERHEAD


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _parse_all(data)
    _parse_all(tpkt(b"\x08\x02\x12\x34\x05" + data) if len(data) < 60000 else data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(GOLDEN) - 1), st.integers(0, 255)), max_size=6))
def test_fuzz_mutated_setup(edits: list[tuple[int, int]]) -> None:
    data = bytearray(GOLDEN)
    for offset, value in edits:
        data[offset] = value
    _parse_all(bytes(data))
    reply = build_echo_reply(GOLDEN, ("127.0.0.1", 9))
    assert reply is not None
    mutated = bytearray(reply)
    for offset, value in edits:
        mutated[offset % len(mutated)] = value
    _parse_all(bytes(mutated))

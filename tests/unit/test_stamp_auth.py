"""Authenticated STAMP (RFC 8762 §4.2.2/§4.3.2/§4.4, RFC 8972 §4.8), key files, hostile input.

Layouts are checked byte by byte against PROTOCOLS.md §1.6/§1.7; HMACs are recomputed
here with `hmac` directly, independent of the codec.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netready.probes import stamp
from netready.probes.sockopts import RxMeta
from netready.probes.stamp import (
    AUTH_BASE_SIZE,
    ClassOfService,
    ErrorEstimate,
    ReflectorPacket,
    SenderPacket,
    Tlv,
)
from netready.probes.stamp_keys import KeyFileError, load_hmac_keys
from netready.probes.voice_io import Receiver, VoiceSample
from netready.responder.stamp_reflector import StampReflector

T1_NS = 1_700_000_000_500_000_000  # NTP 0xE8FE6F80.80000000
T2_NS = 1_700_000_000_250_000_000
T3_NS = 1_700_000_000_750_000_000
EE = ErrorEstimate(synchronised=True, ptp=False, scale=22, multiplier=1)  # 0x9601
KEY = bytes(range(32))
OTHER = bytes(range(100, 132))
PEER = ("127.0.0.1", 40000)


def mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()[:16]


def auth_request(
    seq: int = 1, ssid: int = 0x1234, key: bytes = KEY, payload: int = 172, dscp: int = 46
) -> bytes:
    tlvs = stamp.sender_tlvs(payload, dscp, fill=b"\xa5", authenticated=True)
    return stamp.pack_sender(SenderPacket(seq, T1_NS, EE, ssid, tlvs), key)


def reflect(r: StampReflector, data: bytes, tos: int | None = 0):  # type: ignore[no-untyped-def]
    return r.reflect(data, PEER, T2_NS, 63, tos, lambda: T3_NS)


# ---- codec: layouts and HMACs ----


def test_authenticated_sender_layout() -> None:
    pkt = stamp.pack_sender(SenderPacket(1, T1_NS, EE, 0x1234), KEY)
    expected = bytes.fromhex(
        "00000001"  # 0  sequence number
        + "00" * 12  # 4  MBZ
        + "e8fe6f8080000000"  # 16 T1
        + "9601"  # 24 error estimate
        + "1234"  # 26 SSID
        + "00" * 68  # 28 MBZ
    )
    assert len(pkt) == AUTH_BASE_SIZE
    assert pkt[:96] == expected
    assert pkt[96:] == mac(KEY, expected)
    back = stamp.unpack_sender(pkt, KEY)
    assert (back.seq, back.timestamp_ns, back.error_estimate, back.ssid) == (1, T1_NS, EE, 0x1234)


def test_authenticated_reflector_layout() -> None:
    packet = ReflectorPacket(7, T3_NS, EE, 0x1234, T2_NS, 1, T1_NS, EE, 63)
    pkt = stamp.pack_reflector(packet, KEY)
    expected = bytes.fromhex(
        "00000007"  # 0  reflector sequence number
        + "00" * 12  # 4  MBZ
        + "e8fe6f80c0000000"  # 16 T3
        + "9601"  # 24 error estimate
        + "1234"  # 26 SSID
        + "00" * 4  # 28 MBZ
        + "e8fe6f8040000000"  # 32 T2
        + "00" * 8  # 40 MBZ
        + "00000001"  # 48 sender sequence number
        + "00" * 12  # 52 MBZ
        + "e8fe6f8080000000"  # 64 sender T1
        + "9601"  # 72 sender error estimate
        + "00" * 6  # 74 MBZ
        + "3f"  # 80 sender TTL
        + "00" * 15  # 81 MBZ
    )
    assert pkt[:96] == expected and pkt[96:] == mac(KEY, expected)
    assert stamp.unpack_reflector(pkt, KEY) == packet


def test_every_bit_of_the_first_112_octets_is_covered() -> None:
    pkt = bytearray(stamp.pack_sender(SenderPacket(1, T1_NS, EE, 9), KEY))
    for i in range(AUTH_BASE_SIZE):
        pkt[i] ^= 0x01
        with pytest.raises(ValueError, match="HMAC does not verify"):
            stamp.unpack_sender(bytes(pkt), KEY)
        pkt[i] ^= 0x01
    stamp.unpack_sender(bytes(pkt), KEY)
    with pytest.raises(ValueError, match="HMAC does not verify"):
        stamp.unpack_sender(bytes(pkt), OTHER)
    with pytest.raises(ValueError, match="needs 112"):
        stamp.unpack_reflector(bytes(pkt[:111]), KEY)


def test_hmac_tlv_covers_sequence_and_tlvs_before_it() -> None:
    pkt = auth_request()
    area = pkt[AUTH_BASE_SIZE:]
    assert len(pkt) == 172 and len(area) == 60
    at = stamp.hmac_tlv_offset(area)
    assert at == 40  # CoS (8) + padding (32), then the HMAC TLV (20) last
    assert area[at + 4 :] == mac(KEY, pkt[:4] + area[:at])
    assert stamp.tlv_integrity_ok(KEY, pkt[:4], area)
    assert not stamp.tlv_integrity_ok(OTHER, pkt[:4], area)
    assert not stamp.tlv_integrity_ok(KEY, b"\x00\x00\x00\x02", area)


def test_authenticated_payload_needs_room_for_the_tlvs() -> None:
    assert len(stamp.sender_tlvs(140, 46, authenticated=True)) == 28
    with pytest.raises(ValueError, match="at least 140 are needed"):
        stamp.sender_tlvs(139, 46, authenticated=True)


# ---- the reflector in authenticated mode ----


def test_authenticated_reflection() -> None:
    r = StampReflector(clock_synchronised=True, keys={0: KEY})
    request = auth_request()
    reply, tos = reflect(r, request, tos=46 << 2 | 2)
    assert len(reply) == len(request)
    pkt = stamp.unpack_reflector(reply, KEY)
    assert (pkt.seq, pkt.ssid, pkt.sender_seq, pkt.sender_ttl) == (0, 0x1234, 1, 63)
    assert (pkt.receive_timestamp_ns, pkt.timestamp_ns, pkt.sender_timestamp_ns) == (
        T2_NS,
        T3_NS,
        T1_NS,
    )
    assert reply[48:52] == request[0:4] and reply[64:74] == request[16:26]
    assert stamp.tlv_integrity_ok(KEY, reply[:4], pkt.tlvs)
    cos, pad, tag = stamp.parse_tlvs(pkt.tlvs)
    assert (cos.flags, pad.flags, tag.flags) == (0, 0, 0)
    assert stamp.unpack_cos(cos.value) == ClassOfService(46, 46, 2, 0)
    assert tos == 46 << 2


def test_bad_hmacs_are_dropped_and_counted() -> None:
    r = StampReflector(keys={0: KEY})
    flipped = bytearray(auth_request())
    flipped[30] ^= 0x80  # an MBZ octet
    plain = stamp.pack_sender(SenderPacket(1, T1_NS, EE, 5, stamp.sender_tlvs(172, 46)))
    for data in (auth_request(key=OTHER), bytes(flipped), plain, auth_request()[:111]):
        assert reflect(r, data) is None
    assert r.drops == {"bad-hmac": 3, "too-short": 1}
    assert r.sessions() == 0 and r.reflected == 0


def test_keys_are_chosen_by_ssid_with_a_default() -> None:
    r = StampReflector(keys={0: KEY, 7: OTHER})
    assert reflect(r, auth_request(ssid=7, key=OTHER)) is not None
    assert reflect(r, auth_request(ssid=7, key=KEY)) is None
    assert reflect(r, auth_request(ssid=9, key=KEY)) is not None  # default key
    no_default = StampReflector(keys={7: OTHER})
    assert reflect(no_default, auth_request(ssid=9, key=KEY)) is None
    assert no_default.drops == {"bad-hmac": 1}


def test_tampered_tlvs_get_the_i_flag_and_are_not_used() -> None:
    request = bytearray(auth_request())
    request[AUTH_BASE_SIZE + 4] = 10 << 2  # CoS DSCP1 changed on the way; base HMAC still good
    r = StampReflector(keys={0: KEY})
    reply, tos = reflect(r, bytes(request), tos=0xB8)
    assert tos is None  # no DSCP applied from unverified TLVs
    tlvs = stamp.parse_tlvs(stamp.unpack_reflector(reply, KEY).tlvs)
    assert all(t.flags & stamp.TLV_FLAG_I for t in tlvs)
    assert tlvs[0].value == bytes(request[AUTH_BASE_SIZE + 4 : AUTH_BASE_SIZE + 8])  # untouched


def test_cos_without_an_hmac_tlv_fails_integrity_padding_alone_does_not() -> None:
    cos_only = stamp.pack_sender(SenderPacket(1, T1_NS, EE, 3, stamp.sender_tlvs(60, 46)), KEY)
    reply, tos = reflect(StampReflector(keys={0: KEY}), cos_only)
    assert tos is None and reply[AUTH_BASE_SIZE] & stamp.TLV_FLAG_I
    padded = stamp.pack_sender(SenderPacket(1, T1_NS, EE, 3, stamp.padding_tlv(20)), KEY)
    reply, _ = reflect(StampReflector(keys={0: KEY}), padded)
    assert reply[AUTH_BASE_SIZE] == 0  # understood, no I flag


def test_receiver_verifies_reply_hmacs() -> None:
    r = StampReflector(keys={0: KEY})
    request = auth_request(seq=0, ssid=99)
    reply, _ = reflect(r, request, tos=46 << 2)
    sample = VoiceSample(0, 0, T1_NS)
    rx = Receiver([sample], ssid=99, timeout_ns=10**12, key=KEY, sent=1)
    forged = bytearray(reply)
    forged[20] ^= 1
    rx.handle(bytes(forged), RxMeta(kernel_ns=T3_NS + 1000), user_ns=0)
    assert (rx.ignored, rx.received) == (1, 0)
    bad_tlv = bytearray(reply)
    bad_tlv[AUTH_BASE_SIZE + 5] ^= 0xF0  # CoS DSCP2 forged: base HMAC still good
    rx.handle(bytes(bad_tlv), RxMeta(kernel_ns=T3_NS + 1000), user_ns=0)
    assert rx.received == 1 and sample.dscp_at_reflector is None  # timing kept, CoS not
    sample.t4_ns = None
    rx.received = 0
    rx.handle(reply, RxMeta(kernel_ns=T3_NS + 1000), user_ns=0)
    assert rx.received == 1 and sample.dscp_at_reflector == 46 and sample.cos_rp == 0


def test_short_or_missing_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        StampReflector(keys={0: b"too short"})
    with pytest.raises(ValueError, match="empty"):
        StampReflector(keys={})
    with pytest.raises(ValueError, match="outside 0-65535"):
        StampReflector(keys={70000: KEY})


# ---- key files ----


def write_keys(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "stamp.keys"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_key_file_formats(tmp_path: Path) -> None:
    single = write_keys(tmp_path, f"# the default key\n{KEY.hex()}  # trailing comment\n\n")
    assert load_hmac_keys(single) == {0: KEY}
    several = write_keys(tmp_path, f"0 {KEY.hex()}\n# per session\n7 {OTHER.hex().upper()}\n")
    assert load_hmac_keys(str(several)) == {0: KEY, 7: OTHER}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no key"),
        ("# nothing\n", "holds no key"),
        ("00112233445566778899aabbccddee\n", "line 1: the key has 15 bytes; at least 16"),
        ("zz" * 16, "line 1: the key is not hexadecimal"),
        (f"1 {'ab' * 16}\n1 {'cd' * 16}\n", "line 2: a second key for SSID 1"),
        (f"{'ab' * 16}\n2 {'cd' * 16}\n", "line 1: a line with only a key"),
        (f"70000 {'ab' * 16}\n", "line 1: expected `SSID HEXKEY`"),
        (f"-1 {'ab' * 16}\n", "line 1: expected `SSID HEXKEY`"),
        (f"1 {'ab' * 16} extra\n", "line 1: expected `SSID HEXKEY`"),
    ],
)
def test_key_file_errors_name_the_file_not_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write_keys(tmp_path, text)
    with pytest.raises(KeyFileError, match=message) as err:
        load_hmac_keys(path)
    assert str(path) in str(err.value)
    assert "ab" * 8 not in str(err.value) and "cd" * 8 not in str(err.value)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_key_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = write_keys(tmp_path, KEY.hex(), mode)
    with pytest.raises(KeyFileError, match=f"{path} is accessible by group or others") as err:
        load_hmac_keys(path)
    assert KEY.hex() not in str(err.value) and "\n" not in str(err.value)


def test_key_file_missing_or_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"nope\.keys"):
        load_hmac_keys(tmp_path / "nope.keys")
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_hmac_keys(tmp_path)


# ---- hostile input: nothing escapes, nothing amplifies, no internal error ----

FUZZ = settings(max_examples=2000, deadline=None)


@st.composite
def authenticated_packets(draw: st.DrawFn) -> bytes:
    """Packets with a valid base HMAC (so the TLV code is reached) and a hostile TLV area."""
    key = draw(st.sampled_from([KEY, OTHER]))
    base = bytearray(draw(st.binary(min_size=96, max_size=96)))
    tlvs = draw(
        st.one_of(
            st.binary(max_size=120),
            st.lists(
                st.tuples(
                    st.integers(0, 255), st.sampled_from([0, 1, 4, 8, 200]), st.binary(max_size=20)
                ),
                max_size=5,
            ).map(lambda ts: b"".join(struct.pack("!BBH", f, t, len(v)) + v for f, t, v in ts)),
        )
    )
    packet = bytearray(base + bytes(16) + tlvs)
    if draw(st.booleans()):
        stamp.seal(packet, key)  # also fills an HMAC TLV if the framing has one
    else:
        packet[96:112] = stamp.packet_hmac(key, packet)
    return bytes(packet)


@FUZZ
@given(
    st.one_of(st.binary(max_size=300), authenticated_packets()),
    st.none() | st.integers(-1, 300),
    st.none() | st.integers(-1, 300),
)
def test_fuzz_authenticated_reflector(data: bytes, ttl: int | None, tos: int | None) -> None:
    r = StampReflector(keys={0: KEY, 1: OTHER})
    out = r.reflect(data, PEER, T2_NS, ttl, tos, lambda: T3_NS)
    assert out is None or len(out[0]) == len(data)
    assert "error" not in r.drops and "malformed" not in r.drops
    if out is not None:
        used = OTHER if data[26:28] == b"\x00\x01" else KEY
        assert stamp.verify_packet_hmac(used, out[0])  # the reply always carries a valid HMAC


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=8))
def test_fuzz_codec_paths(data: bytes, seq: bytes) -> None:
    for key in (None, KEY):
        for unpack in (stamp.unpack_sender, stamp.unpack_reflector):
            with contextlib.suppress(ValueError):
                unpack(data, key)
    with contextlib.suppress(ValueError):
        stamp.parse_tlvs(data)
    stamp.hmac_tlv_offset(data)
    assert isinstance(stamp.tlv_integrity_ok(KEY, seq, data), bool)
    assert isinstance(stamp.verify_packet_hmac(KEY, data), bool)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=300), authenticated_packets()), st.none() | st.integers(0, 255))
def test_fuzz_receiver_with_key(data: bytes, tos: int | None) -> None:
    rx = Receiver([VoiceSample(0, 0, 1)], ssid=7, timeout_ns=10**9, key=KEY, sent=1)
    rx.handle(data, RxMeta(kernel_ns=5, tos=tos), user_ns=6)
    assert rx.ignored + rx.received + rx.late == 1


def test_random_tlv_garbage_after_a_valid_hmac_tlv() -> None:
    """Extra Padding after the HMAC TLV is allowed (RFC 8972 §4.8); anything else fails."""
    base = auth_request(payload=140)
    for tail, ok in ((stamp.padding_tlv(8), True), (stamp.pack_tlv(Tlv(4, bytes(4))), False)):
        data = bytearray(base + tail)
        stamp.seal(data, KEY)
        reply, _ = reflect(StampReflector(keys={0: KEY}), bytes(data))
        flags = [t.flags for t in stamp.parse_tlvs(reply[AUTH_BASE_SIZE:])]
        assert (not any(f & stamp.TLV_FLAG_I for f in flags)) is ok

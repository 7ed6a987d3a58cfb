"""The UDP probe wire format: golden bytes, precise errors, and a fuzz of the parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netready.probes.udp_probe import (
    MAGIC,
    NONCE_LEN,
    PROBE_LEN,
    is_probe,
    pack_probe,
    unpack_probe,
)

NONCE = bytes(range(16))


def test_golden_probe() -> None:
    assert PROBE_LEN == 22
    assert pack_probe(NONCE, 16384) == b"NRP1" + NONCE + b"\x40\x00"
    assert pack_probe(NONCE, 65535)[-2:] == b"\xff\xff"


def test_round_trip() -> None:
    assert unpack_probe(pack_probe(NONCE, 50100)) == (NONCE, 50100)


def test_unpack_accepts_memoryview_and_bytearray() -> None:
    data = pack_probe(NONCE, 1)
    assert unpack_probe(bytearray(data)) == (NONCE, 1)
    assert unpack_probe(memoryview(data)) == (NONCE, 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "probe must be exactly 22 bytes, got 0"),
        (b"NRP1" + NONCE + b"\x00", "probe must be exactly 22 bytes, got 21"),
        (b"NRP1" + NONCE + b"\x00\x00\x00", "probe must be exactly 22 bytes, got 23"),
        (b"NRP2" + NONCE + b"\x00\x01", "probe must start with b'NRP1', got b'NRP2'"),
    ],
)
def test_unpack_errors_are_precise(data: bytes, message: str) -> None:
    with pytest.raises(ValueError) as info:
        unpack_probe(data)
    assert str(info.value) == message
    assert not is_probe(data)


@pytest.mark.parametrize(
    ("nonce", "port", "message"),
    [
        (b"short", 1, "probe nonce must be 16 bytes, got 5"),
        (NONCE, -1, "probe port must be 0-65535, got -1"),
        (NONCE, 65536, "probe port must be 0-65535, got 65536"),
    ],
)
def test_pack_errors_are_precise(nonce: bytes, port: int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        pack_probe(nonce, port)
    assert str(info.value) == message


@given(st.binary(max_size=64))
def test_fuzz_unpack_raises_only_value_error(data: bytes) -> None:
    try:
        nonce, port = unpack_probe(data)
    except ValueError:
        assert not is_probe(data)
        return
    assert is_probe(data)
    assert pack_probe(nonce, port) == data


@given(st.binary(min_size=NONCE_LEN + 2, max_size=NONCE_LEN + 2))
def test_fuzz_magic_prefixed_input_always_parses(rest: bytes) -> None:
    nonce, port = unpack_probe(MAGIC + rest)
    assert nonce == rest[:NONCE_LEN]
    assert port == int.from_bytes(rest[NONCE_LEN:], "big")


@given(st.binary(min_size=NONCE_LEN, max_size=NONCE_LEN), st.integers(0, 65535))
def test_fuzz_round_trip(nonce: bytes, port: int) -> None:
    assert unpack_probe(pack_probe(nonce, port)) == (nonce, port)

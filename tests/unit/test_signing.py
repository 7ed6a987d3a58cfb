"""minisign-format signing: round trips, stock minisign interoperability, tampering, fuzzing."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netready.errors import SignatureError
from netready.report.signing import (
    MAX_TRUSTED_BYTES,
    MAX_UNTRUSTED_BYTES,
    PublicKey,
    SecretKey,
    Verified,
    sign,
    verify,
)
from tests.conftest import require_tool

Run = Callable[..., subprocess.CompletedProcess[str]]

DOC = (
    b'{"schema":"netready/report/v1","site":{"id":"berlin-hq","name":"Berlin HQ"},'
    b'"profile":{"name":"teams-direct-routing","sha256":"9f86d081884c7d659a2feaa0c55ad015'
    b'a3bf4f1b2b0b822cd15d6c15b0f00a08"},"started":"2024-05-01T10:00:00Z","checks":['
    b'{"id":"dns.resolve","verdict":"pass","ms":12},{"id":"stun.binding","verdict":"pass",'
    b'"ms":48},{"id":"turn.udp","verdict":"warn","detail":"relay RTT 180 ms"},{"id":'
    b'"sip.tls","verdict":"pass"}],"verdict":"ready-with-warnings","netready":"0.1.0"}\n'
)
TC = "timestamp:1714557600\tfile:report.json\tverdict:ready-with-warnings\thashed"


def need_minisign() -> str:
    """Path of stock minisign; skip without it, but fail when CI=true."""
    return require_tool("minisign")


@pytest.fixture
def minisign(tmp_path: Path) -> Run:
    """Run stock minisign in tmp_path, never waiting on stdin."""
    exe = need_minisign()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, *args],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )

    return run


@pytest.fixture(scope="module")
def key() -> SecretKey:
    return SecretKey.generate()


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def flip(text: str, pos: int) -> str:
    return text[:pos] + chr(ord(text[pos]) ^ 0x01) + text[pos + 1 :]


def message_of(action: Callable[..., object], *args: object) -> str:
    with pytest.raises(SignatureError) as info:
        action(*args)
    return str(info.value)


# ---------------------------------------------------------------- round trips and formats


def test_sign_verify_round_trip(key: SecretKey) -> None:
    minisig = sign(DOC, key, TC)
    lines = minisig.split("\n")
    assert minisig.endswith("\n") and len(lines) == 5 and lines[4] == ""
    assert lines[0] == "untrusted comment: signature from netready"
    assert lines[1].startswith("RU") and len(lines[1]) == 100  # "ED" prehashed
    assert lines[2] == f"trusted comment: {TC}"
    assert len(lines[3]) == 88
    got = verify(DOC, minisig, key.public_key())
    assert got == Verified(trusted_comment=TC, key_id_hex=key.public_key().key_id_hex, legacy=False)


def test_untrusted_comment_is_free(key: SecretKey) -> None:
    minisig = sign(DOC, key, TC, untrusted_comment="made by me")
    assert minisig.startswith("untrusted comment: made by me\n")
    edited = minisig.replace("made by me", "edited later, still valid")
    assert verify(DOC, edited, key.public_key()).trusted_comment == TC


def test_crlf_line_endings_accepted(key: SecretKey) -> None:
    minisig = sign(DOC, key, TC).replace("\n", "\r\n")
    assert verify(DOC, minisig, key.public_key()).trusted_comment == TC


def test_public_key_text_round_trip(key: SecretKey) -> None:
    pub = key.public_key()
    text = pub.to_text()
    first, second, end = text.split("\n")
    assert first == f"untrusted comment: minisign public key {pub.key_id_hex}"
    assert second.startswith("RW") and len(second) == 56 and end == ""
    assert PublicKey.from_text(text, "x.pub") == pub
    assert PublicKey.from_text(second, "inline") == pub  # the bare line, as `minisign -P`


def test_secret_key_text_round_trip(key: SecretKey) -> None:
    text = key.to_text()
    back = SecretKey.from_text(text, "x.key")
    assert back == key and back.public_key() == key.public_key()
    raw = base64.b64decode(text.split("\n")[1])
    assert len(raw) == 158 and raw[:6] == b"Ed\0\0B2" and raw[6:54] == bytes(48)


def test_key_id_hex_is_little_endian() -> None:
    pub = PublicKey(key_id=bytes(range(1, 9)), key=bytes(32))
    assert pub.key_id_hex == "0807060504030201"
    assert repr(SecretKey(key_id=bytes(range(1, 9)), seed=bytes(32))).startswith(
        "SecretKey(key_id=0807060504030201"
    )


def test_fingerprint() -> None:
    pub = PublicKey(key_id=bytes(8), key=bytes(32))
    # sha256 of 32 zero bytes, base64 without padding
    assert pub.fingerprint() == "SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU"


def test_bad_lengths_refused() -> None:
    with pytest.raises(ValueError):
        PublicKey(key_id=bytes(7), key=bytes(32))
    with pytest.raises(ValueError):
        SecretKey(key_id=bytes(8), seed=bytes(31))


# ---------------------------------------------------------------- stock minisign


@pytest.mark.packages
def test_key_id_hex_matches_stock_minisign(tmp_path: Path, minisign: Run, key: SecretKey) -> None:
    result = minisign("-G", "-W", "-p", "m.pub", "-s", "m.key")
    assert result.returncode == 0, result.stderr
    pub_text = (tmp_path / "m.pub").read_text()
    pub = PublicKey.from_text(pub_text, "m.pub")
    # 0.11 prints the ID as %PRIX64 (no leading zeros), 0.12 and we as %016PRIX64
    their_id = pub_text.split("\n")[0].removeprefix("untrusted comment: minisign public key ")
    assert their_id.zfill(16) == pub.key_id_hex
    assert pub.to_text().split("\n")[1] == pub_text.split("\n")[1]
    # minisign 0.11 writes unencrypted keys with an all-zero checksum; we read them
    theirs = SecretKey.from_text((tmp_path / "m.key").read_text(), "m.key")
    assert theirs.public_key() == pub
    # and minisign derives exactly our public key file from our secret key file
    write(tmp_path / "our.key", key.to_text())
    result = minisign("-R", "-s", "our.key", "-p", "our.pub")
    assert result.returncode == 0, result.stderr
    assert PublicKey.from_text((tmp_path / "our.pub").read_text(), "our.pub") == key.public_key()


@pytest.mark.packages
def test_stock_minisign_verifies_our_signature(
    tmp_path: Path, minisign: Run, key: SecretKey
) -> None:
    write(tmp_path / "report.json", DOC)
    write(tmp_path / "report.json.minisig", sign(DOC, key, TC))
    write(tmp_path / "netready.pub", key.public_key().to_text())
    result = minisign("-Vm", "report.json", "-p", "netready.pub")
    assert result.returncode == 0, result.stderr
    assert "Signature and comment signature verified" in result.stdout
    assert f"Trusted comment: {TC}" in result.stdout
    result = minisign("-H", "-Vm", "report.json", "-p", "netready.pub")  # prehashed only
    assert result.returncode == 0, result.stderr
    result = minisign("-Q", "-Vm", "report.json", "-P", key.public_key().to_text().split()[-1])
    assert (result.returncode, result.stdout) == (0, TC + "\n")


@pytest.mark.packages
def test_comment_limits_fit_stock_minisign(tmp_path: Path, minisign: Run, key: SecretKey) -> None:
    longest = sign(DOC, key, "t" * MAX_TRUSTED_BYTES, untrusted_comment="u" * MAX_UNTRUSTED_BYTES)
    write(tmp_path / "doc", DOC)
    write(tmp_path / "doc.minisig", longest)
    write(tmp_path / "k.pub", key.public_key().to_text())
    assert minisign("-Vm", "doc", "-p", "k.pub").returncode == 0
    with pytest.raises(ValueError):
        sign(DOC, key, "t" * (MAX_TRUSTED_BYTES + 1))
    with pytest.raises(ValueError):
        sign(DOC, key, "x", untrusted_comment="u" * (MAX_UNTRUSTED_BYTES + 1))


@pytest.mark.packages
@pytest.mark.parametrize("legacy", [False, True])
def test_stock_minisign_signature_verifies_with_ours(
    tmp_path: Path, minisign: Run, key: SecretKey, legacy: bool
) -> None:
    write(tmp_path / "our.key", key.to_text())
    write(tmp_path / "report.json", DOC)
    result = minisign(
        "-S", *(["-l"] if legacy else []), "-s", "our.key", "-m", "report.json", "-t", TC
    )
    assert result.returncode == 0, result.stderr
    minisig = (tmp_path / "report.json.minisig").read_text()
    assert verify(DOC, minisig, key.public_key()) == Verified(
        trusted_comment=TC, key_id_hex=key.public_key().key_id_hex, legacy=legacy
    )
    with pytest.raises(SignatureError, match="the file is not the one that was signed"):
        verify(DOC + b" ", minisig, key.public_key())


@pytest.mark.packages
def test_tampered_document_fails_ours_and_stock(
    tmp_path: Path, minisign: Run, key: SecretKey
) -> None:
    minisig = sign(DOC, key, TC)
    pub = key.public_key()
    assert 380 <= len(DOC) <= 500
    for pos in range(len(DOC)):
        for mask in (0x01, 0x80):
            bad = bytearray(DOC)
            bad[pos] ^= mask
            with pytest.raises(SignatureError, match=r"^signature verification failed: the file"):
                verify(bytes(bad), minisig, pub)
    write(tmp_path / "doc.minisig", minisig)
    write(tmp_path / "k.pub", pub.to_text())
    for pos in range(0, len(DOC), len(DOC) // 40 + 1):
        bad = bytearray(DOC)
        bad[pos] ^= 0x01
        write(tmp_path / "doc", bytes(bad))
        result = minisign("-Vm", "doc", "-p", "k.pub")
        assert result.returncode != 0, pos
        assert "Signature verification failed" in result.stderr
    write(tmp_path / "doc", DOC)
    assert minisign("-Vm", "doc", "-p", "k.pub").returncode == 0


def test_tampered_signature_file_fails_at_every_position(key: SecretKey) -> None:
    minisig = sign(DOC, key, TC, untrusted_comment="free text")
    pub = key.public_key()
    free = range(len("untrusted comment: "), minisig.index("\n"))
    for pos in range(len(minisig)):
        bad = flip(minisig, pos)
        if pos in free:
            assert verify(DOC, bad, pub).trusted_comment == TC
        else:
            with pytest.raises(SignatureError):
                verify(DOC, bad, pub)


@pytest.mark.packages
def test_changed_trusted_comment_fails_ours_and_stock(
    tmp_path: Path, minisign: Run, key: SecretKey
) -> None:
    minisig = sign(DOC, key, TC).replace("verdict:ready-with-warnings", "verdict:ready")
    msg = message_of(lambda: verify(DOC, minisig, key.public_key()))
    assert msg == "comment signature verification failed: the trusted comment was changed"
    write(tmp_path / "doc", DOC)
    write(tmp_path / "doc.minisig", minisig)
    write(tmp_path / "k.pub", key.public_key().to_text())
    result = minisign("-Vm", "doc", "-p", "k.pub")
    assert result.returncode == 1 and "Comment signature verification failed" in result.stderr


@pytest.mark.packages
def test_other_key_fails_with_key_id_message(tmp_path: Path, minisign: Run, key: SecretKey) -> None:
    other = SecretKey.generate()
    minisig = sign(DOC, other, TC)
    msg = message_of(lambda: verify(DOC, minisig, key.public_key()))
    mine, theirs = key.public_key().key_id_hex, other.public_key().key_id_hex
    assert msg == f"signed by key ID {theirs} but the public key is {mine}"
    write(tmp_path / "doc", DOC)
    write(tmp_path / "doc.minisig", minisig)
    write(tmp_path / "k.pub", key.public_key().to_text())
    result = minisign("-Vm", "doc", "-p", "k.pub")
    assert result.returncode == 1 and "key id" in result.stderr


def test_same_key_id_other_key_fails(key: SecretKey) -> None:
    impostor = SecretKey(key_id=key.key_id, seed=os.urandom(32))
    minisig = sign(DOC, impostor, TC)
    with pytest.raises(SignatureError, match=r"^signature verification failed"):
        verify(DOC, minisig, key.public_key())


# ---------------------------------------------------------------- precise messages


def _replace_line(text: str, index: int, line: str) -> str:
    lines = text.split("\n")
    lines[index] = line
    return "\n".join(lines)


def _with_alg(text: str, alg: bytes) -> str:
    blob = base64.b64decode(text.split("\n")[1])
    return _replace_line(text, 1, base64.b64encode(alg + blob[2:]).decode())


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: "", "malformed signature file: expected 4 lines, found 1"),
        (lambda s: s + "extra\n", "malformed signature file: expected 4 lines, found 5"),
        (lambda s: s[1:], "malformed signature file: line 1 does not start with"),
        (lambda s: _replace_line(s, 1, "RU!!"), "malformed signature file: line 2 is not valid"),
        (lambda s: _replace_line(s, 1, "RUQ="), "malformed signature file: line 2 is not valid"),
        (lambda s: _replace_line(s, 2, "trusted: x"), "malformed signature file: line 3 does"),
        (lambda s: _replace_line(s, 3, "é"), "malformed signature file: line 4 is not valid"),
        (
            lambda s: _replace_line(s, 2, "trusted comment: a\x1b[2Jb"),
            "malformed signature file: the trusted comment contains control characters",
        ),
        (
            lambda s: _replace_line(s, 2, "trusted comment: \udcff"),
            "malformed signature file: the trusted comment is not valid UTF-8",
        ),
        (lambda s: _with_alg(s, b"XX"), "unsupported signature algorithm 'XX'"),
        (lambda s: _with_alg(s, b"\0\x01"), "unsupported signature algorithm 0x0001"),
    ],
)
def test_verify_messages(key: SecretKey, mutate: Callable[[str], str], expected: str) -> None:
    msg = message_of(lambda: verify(DOC, mutate(sign(DOC, key, TC)), key.public_key()))
    assert msg.startswith(expected)


def test_non_canonical_base64_refused(key: SecretKey) -> None:
    minisig = sign(DOC, key, TC)
    line4 = minisig.split("\n")[3]  # 64 bytes: "==" padding, 4 spare bits before it
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    alt = line4[:-3] + alphabet[alphabet.index(line4[-3]) ^ 0x01] + "=="
    assert base64.b64decode(alt) == base64.b64decode(line4)
    msg = message_of(lambda: verify(DOC, _replace_line(minisig, 3, alt), key.public_key()))
    assert msg.startswith("malformed signature file: line 4 is not valid base64")


@pytest.mark.parametrize(
    "comment", ["a\nb", "a\rb", "nul\0", "esc\x1b[31m", "bidi\u202e", "line\u2028sep"]
)
def test_sign_refuses_unprintable_comments(key: SecretKey, comment: str) -> None:
    with pytest.raises(ValueError, match="non-printable"):
        sign(DOC, key, comment)
    with pytest.raises(ValueError, match="non-printable"):
        sign(DOC, key, TC, untrusted_comment=comment)


def test_public_key_messages() -> None:
    good = SecretKey.generate().public_key().to_text()
    raw = base64.b64decode(good.split("\n")[1])
    cases = {
        "": "the key line is not 42 bytes",
        "a\nb\nc": "expected an untrusted comment line",
        good.replace("RW", "R?", 1): "the key line is not 42 bytes",
        base64.b64encode(b"Xx" + raw[2:]).decode(): "unsupported signature algorithm",
    }
    for text, why in cases.items():
        msg = message_of(PublicKey.from_text, text, "k.pub")
        assert msg.startswith(f"k.pub: not a minisign public key: {why}"), msg


# ---------------------------------------------------------------- secret key handling


def _secret_variants(key: SecretKey) -> dict[str, str]:
    """Damaged forms of a real secret key file, with the reason each must be refused."""
    raw = base64.b64decode(key.to_text().split("\n")[1])

    def text(blob: bytes) -> str:
        return "untrusted comment: k\n" + base64.b64encode(blob).decode() + "\n"

    def patch(off: int, new: bytes) -> str:
        return text(raw[:off] + new + raw[off + len(new) :])

    return {
        "encrypted with a password": patch(2, b"Sc"),
        "unsupported signature algorithm": patch(0, b"ED"),
        "unsupported key derivation function": patch(2, b"Ar"),
        "unsupported checksum function": patch(4, b"B3"),
        "the checksum does not match": patch(126, bytes([raw[126] ^ 1])),
        # minisign 0.11 style all-zero checksum, so that the pk check is reached
        "public half does not match": text(
            raw[:94] + bytes([raw[94] ^ 1]) + raw[95:126] + bytes(32)
        ),
        "is not 158 bytes": text(raw[:-3]),
        "expected an untrusted comment line": key.to_text().split("\n")[1],
    }


def test_secret_key_damage_refused(key: SecretKey) -> None:
    for why, text in _secret_variants(key).items():
        msg = message_of(SecretKey.from_text, text, "/cfg/netready.key")
        assert msg.startswith("/cfg/netready.key: ") and why in msg, (why, msg)


def test_encrypted_key_message_says_how_to_fix(key: SecretKey) -> None:
    msg = message_of(
        lambda: SecretKey.from_text(_secret_variants(key)["encrypted with a password"], "k")
    )
    assert "netready only uses unencrypted keys" in msg and "minisign -C -W -s k" in msg


def test_secrets_never_in_repr_or_messages(key: SecretKey) -> None:
    text = key.to_text()
    secrets = [
        key.seed.hex(),
        key.seed.hex().upper(),
        base64.b64encode(key.seed).decode()[:40],
        text.split("\n")[1][:40],
        text.split("\n")[1][60:120],
        repr(key.seed),
    ]
    shown = [repr(key), str(key), f"{key}", repr([key]), repr({"k": key})]
    assert repr(key) == f"SecretKey(key_id={key.public_key().key_id_hex}, <secret>)"
    for damaged in _secret_variants(key).values():
        with pytest.raises(SignatureError) as info:
            SecretKey.from_text(damaged, "k")
        shown.append(str(info.value))
        shown.append(repr(info.value))
        assert info.value.__cause__ is None
    minisig = sign(DOC, key, TC)
    for pos in range(0, len(minisig), 7):
        try:
            verify(DOC, flip(minisig, pos), key.public_key())
        except SignatureError as exc:
            shown.append(str(exc))
    for s in shown:
        for secret in secrets:
            assert secret not in s


# ---------------------------------------------------------------- fuzzing


def _valid_lines() -> list[str]:
    k = SecretKey.generate()
    return (
        sign(DOC, k, TC).split("\n")
        + k.to_text().split("\n")
        + k.public_key().to_text().split("\n")
        + ["untrusted comment: ", "trusted comment: ", "RU", "RW", "===="]
    )


lines_like = st.lists(
    st.one_of(st.sampled_from(_valid_lines()), st.text(max_size=120)), max_size=6
).map("\n".join)
texty = st.one_of(st.text(), lines_like)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(texty)
def test_fuzz_minisig_only_signature_error(text: str) -> None:
    pub = PublicKey(key_id=bytes(8), key=bytes(32))
    with contextlib.suppress(SignatureError):
        verify(DOC, text, pub)


@FUZZ
@given(texty)
def test_fuzz_public_key_only_signature_error(text: str) -> None:
    with contextlib.suppress(SignatureError):
        PublicKey.from_text(text, "fuzz")


@FUZZ
@given(texty)
def test_fuzz_secret_key_only_signature_error(text: str) -> None:
    with contextlib.suppress(SignatureError):
        SecretKey.from_text(text, "fuzz")


@FUZZ
@given(st.binary(min_size=74, max_size=74), st.binary(min_size=64, max_size=64), st.text())
def test_fuzz_well_formed_garbage_signature(blob: bytes, gsig: bytes, comment: str) -> None:
    key = SecretKey.generate()
    text = (
        f"untrusted comment: x\n{base64.b64encode(blob).decode()}\n"
        f"trusted comment: {comment}\n{base64.b64encode(gsig).decode()}\n"
    )
    blob_key = PublicKey(key_id=blob[2:10], key=key.public_key().key)
    for pub in (key.public_key(), blob_key):
        with pytest.raises(SignatureError):
            verify(DOC, text, pub)


def test_minisign_helper_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        need_minisign()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match=r"minisign not installed \(./run test"):
        need_minisign()

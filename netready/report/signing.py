"""Ed25519 signatures in minisign format, readable and checkable by stock `minisign -V`.

Formats (PROTOCOLS.md §8): a public key is base64("Ed" ‖ key ID(8) ‖ pk(32)); a secret key
file is base64 of 158 bytes ("Ed", kdf, "B2", salt, ops, mem, key ID, seed ‖ pk, checksum);
a signature file has four lines: untrusted comment, base64(alg ‖ key ID ‖ sig(64)), trusted
comment, base64(global sig over sig ‖ trusted comment). netready signs in the prehashed "ED"
mode (Ed25519 over BLAKE2b-512 of the file) and verifies both "ED" and legacy "Ed".

Every parse or verification failure raises SignatureError with one precise sentence; no
message, repr or str ever contains secret key material.
"""

from __future__ import annotations

import base64
import hashlib
import os
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from netready.errors import SignatureError

_KEY_ALG = b"Ed"  # key files; also the legacy (non-prehashed) signature algorithm
_PREHASHED = b"ED"
_KDF_NONE = b"\0\0"
_KDF_SCRYPT = b"Sc"
_CHK_ALG = b"B2"
_SECRET_LEN = 158
_UNTRUSTED = "untrusted comment: "
_TRUSTED = "trusted comment: "
# stock minisign reads each line with fgets() into 1024 / 8192-byte buffers (prefix, "\n", NUL)
MAX_UNTRUSTED_BYTES = 1024 - len(_UNTRUSTED) - 2
MAX_TRUSTED_BYTES = 8192 - len(_TRUSTED) - 2


def _b64decode(line: str, size: int) -> bytes | None:
    """Strict, canonical standard base64 of exactly `size` bytes (like libsodium), else None."""
    try:
        raw = base64.b64decode(line, validate=True)  # non-ASCII str: ValueError too
    except ValueError:
        return None
    return raw if len(raw) == size and base64.b64encode(raw).decode() == line else None


def _hex_id(key_id: bytes) -> str:
    return f"{int.from_bytes(key_id, 'little'):016X}"


def _lines(text: str) -> list[str]:
    """Lines without "\\n" or a trailing "\\r"; trailing empty lines are dropped."""
    return [line.rstrip("\r") for line in text.rstrip("\r\n").split("\n")]


@dataclass(frozen=True)
class PublicKey:
    """A minisign Ed25519 public key and its 8-byte key ID."""

    key_id: bytes
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key_id) != 8 or len(self.key) != 32:
            raise ValueError("a public key needs an 8-byte key ID and 32 key bytes")

    @property
    def key_id_hex(self) -> str:
        """The key ID as minisign prints it (%016X of the bytes read as little-endian)."""
        return _hex_id(self.key_id)

    def to_text(self) -> str:
        """The content of a minisign .pub file."""
        blob = base64.b64encode(_KEY_ALG + self.key_id + self.key).decode()
        return f"{_UNTRUSTED}minisign public key {self.key_id_hex}\n{blob}\n"

    @classmethod
    def from_text(cls, text: str, source: str) -> PublicKey:
        """Parse a .pub file (or its bare base64 line, as `minisign -P` takes it)."""

        def bad(why: str) -> SignatureError:
            return SignatureError(f"{source}: not a minisign public key: {why}")

        lines = _lines(text.strip())
        if len(lines) == 2 and lines[0].startswith(_UNTRUSTED.rstrip()):
            line = lines[1]
        elif len(lines) == 1:
            line = lines[0]
        else:
            raise bad("expected an untrusted comment line and a base64 key line")
        raw = _b64decode(line, 42)
        if raw is None:
            raise bad("the key line is not 42 bytes of valid base64")
        if raw[:2] != _KEY_ALG:
            raise bad("unsupported signature algorithm")
        return cls(key_id=raw[2:10], key=raw[10:])

    def fingerprint(self) -> str:
        """ "SHA256:" and the unpadded base64 of SHA-256(key), for people to compare."""
        return "SHA256:" + base64.b64encode(hashlib.sha256(self.key).digest()).decode().rstrip("=")


@dataclass(frozen=True, repr=False)
class SecretKey:
    """A minisign Ed25519 secret key (seed and key ID); never shown in repr or str."""

    key_id: bytes
    seed: bytes

    def __post_init__(self) -> None:
        if len(self.key_id) != 8 or len(self.seed) != 32:
            raise ValueError("a secret key needs an 8-byte key ID and a 32-byte seed")

    def __repr__(self) -> str:
        return f"SecretKey(key_id={_hex_id(self.key_id)}, <secret>)"

    __str__ = __repr__

    @classmethod
    def generate(cls) -> SecretKey:
        """A new random key pair with a random key ID."""
        return cls(key_id=os.urandom(8), seed=os.urandom(32))

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    def public_key(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(self.key_id, self._private().public_key().public_bytes_raw())

    def to_text(self) -> str:
        """An unencrypted minisign secret key file (`minisign -S -s` uses it without a password)."""
        sk = self.seed + self.public_key().key
        chk = hashlib.blake2b(_KEY_ALG + self.key_id + sk, digest_size=32).digest()
        raw = _KEY_ALG + _KDF_NONE + _CHK_ALG + bytes(48) + self.key_id + sk + chk
        blob = base64.b64encode(raw).decode()
        return f"{_UNTRUSTED}minisign secret key {_hex_id(self.key_id)} (unencrypted)\n{blob}\n"

    @classmethod
    def from_text(cls, text: str, source: str) -> SecretKey:
        """Parse an unencrypted minisign secret key file; refuse encrypted or damaged ones."""

        def bad(why: str) -> SignatureError:
            return SignatureError(f"{source}: not a usable minisign secret key: {why}")

        lines = _lines(text.strip())
        if len(lines) != 2 or not lines[0].startswith(_UNTRUSTED.rstrip()):
            raise bad("expected an untrusted comment line and a base64 key line")
        raw = _b64decode(lines[1], _SECRET_LEN)
        if raw is None:
            raise bad(f"the key line is not {_SECRET_LEN} bytes of valid base64")
        if raw[:2] != _KEY_ALG:
            raise bad("unsupported signature algorithm")
        if raw[2:4] == _KDF_SCRYPT:
            raise bad(
                "it is encrypted with a password, and netready only uses unencrypted keys "
                f"(remove the password with `minisign -C -W -s {source}`)"
            )
        if raw[2:4] != _KDF_NONE:
            raise bad("unsupported key derivation function")
        if raw[4:6] != _CHK_ALG:
            raise bad("unsupported checksum function")
        key_id, seed, pk, chk = raw[54:62], raw[62:94], raw[94:126], raw[126:]
        # minisign 0.11 `-G -W` leaves the checksum of unencrypted keys all zero
        if (
            chk != bytes(32)
            and chk != hashlib.blake2b(raw[:2] + raw[54:126], digest_size=32).digest()
        ):
            raise bad("the checksum does not match (the file is damaged)")
        key = cls(key_id=key_id, seed=seed)
        if key.public_key().key != pk:
            raise bad("its public half does not match its secret half (the file is damaged)")
        return key


def _check_comment(kind: str, text: str, max_bytes: int) -> bytes:
    bad = [c for c in text if c != "\t" and not c.isprintable()]
    if bad:
        raise ValueError(f"the {kind} comment contains a non-printable character ({bad[0]!r})")
    data = text.encode()
    if len(data) > max_bytes:
        raise ValueError(f"the {kind} comment is {len(data)} bytes long; at most {max_bytes}")
    return data


def sign(
    data: bytes,
    key: SecretKey,
    trusted_comment: str,
    untrusted_comment: str = "signature from netready",
) -> str:
    """Sign `data` in prehashed "ED" mode; returns the text of the .minisig file.

    Comments must be one printable line (tabs allowed) that stock minisign can read back;
    otherwise ValueError.
    """
    tc = _check_comment("trusted", trusted_comment, MAX_TRUSTED_BYTES)
    _check_comment("untrusted", untrusted_comment, MAX_UNTRUSTED_BYTES)
    private = key._private()
    sig = private.sign(hashlib.blake2b(data, digest_size=64).digest())
    global_sig = private.sign(sig + tc)
    line2 = base64.b64encode(_PREHASHED + key.key_id + sig).decode()
    line4 = base64.b64encode(global_sig).decode()
    return f"{_UNTRUSTED}{untrusted_comment}\n{line2}\n{_TRUSTED}{trusted_comment}\n{line4}\n"


@dataclass(frozen=True)
class Verified:
    """What a good signature vouches for."""

    trusted_comment: str
    key_id_hex: str
    legacy: bool  # True for the non-prehashed "Ed" algorithm


def _printable_alg(alg: bytes) -> str:
    text = alg.decode("latin-1")
    return f"'{text}'" if text.isascii() and text.isprintable() else f"0x{alg.hex()}"


def verify(data: bytes, minisig_text: str, public_key: PublicKey) -> Verified:
    """Check a .minisig text over `data` as `minisign -V` does; SignatureError on any failure."""

    def bad(why: str) -> SignatureError:
        return SignatureError(f"malformed signature file: {why}")

    lines = _lines(minisig_text)
    if len(lines) != 4:
        raise bad(f"expected 4 lines, found {len(lines)}")
    if not lines[0].startswith(_UNTRUSTED):
        raise bad(f"line 1 does not start with {_UNTRUSTED.strip()!r}")
    blob = _b64decode(lines[1], 74)
    if blob is None:
        raise bad("line 2 is not valid base64 of a 74-byte signature")
    if not lines[2].startswith(_TRUSTED):
        raise bad(f"line 3 does not start with {_TRUSTED.strip()!r}")
    comment = lines[2][len(_TRUSTED) :]
    if any(unicodedata.category(c) == "Cc" and c != "\t" for c in comment):
        raise bad("the trusted comment contains control characters")
    try:
        comment_bytes = comment.encode()
    except UnicodeEncodeError:
        raise bad("the trusted comment is not valid UTF-8") from None
    global_sig = _b64decode(lines[3], 64)
    if global_sig is None:
        raise bad("line 4 is not valid base64 of a 64-byte signature")
    alg, key_id, sig = blob[:2], blob[2:10], blob[10:]
    if alg not in (_PREHASHED, _KEY_ALG):
        raise SignatureError(f"unsupported signature algorithm {_printable_alg(alg)}")
    if key_id != public_key.key_id:
        raise SignatureError(
            f"signed by key ID {_hex_id(key_id)} but the public key is {public_key.key_id_hex}"
        )
    legacy = alg == _KEY_ALG
    message = data if legacy else hashlib.blake2b(data, digest_size=64).digest()
    try:
        pk = Ed25519PublicKey.from_public_bytes(public_key.key)
    except ValueError:
        raise SignatureError("the public key is not a valid Ed25519 key") from None
    try:
        pk.verify(sig, message)
    except InvalidSignature:
        raise SignatureError(
            "signature verification failed: the file is not the one that was signed"
        ) from None
    try:
        pk.verify(global_sig, sig + comment_bytes)
    except InvalidSignature:
        raise SignatureError(
            "comment signature verification failed: the trusted comment was changed"
        ) from None
    return Verified(trusted_comment=comment, key_id_hex=public_key.key_id_hex, legacy=legacy)

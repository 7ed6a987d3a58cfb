"""HMAC key files for authenticated STAMP (responder `--key FILE`, and the client side).

Format: one `SSID HEXKEY` per line (SSID 0-65535; 0 is the default key, used for any
SSID without a key of its own), or a single line with just `HEXKEY` (that key is the
default). `#` starts a comment; blank lines are ignored. Every key must have at least
16 bytes (32 hex digits), and on POSIX systems the file must not be readable or writable
by group or others (chmod 600), as for an SSH private key (Windows has no such mode bits:
there its ACLs are the user's to set).

Errors name the file and the line, never the key itself.
"""

from __future__ import annotations

import os
import stat

from netready.errors import UsageError

MIN_KEY_BYTES = 16
MAX_FILE_BYTES = 1 << 20


def has_posix_modes() -> bool:
    """True where file mode bits say who may read a file (not on Windows)."""
    return os.name == "posix"


class KeyFileError(UsageError):
    """The HMAC key file cannot be used; the one-line message names the file."""


def _parse_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(f"{where}: the key is not hexadecimal digits") from None
    if len(key) < MIN_KEY_BYTES:
        raise KeyFileError(
            f"{where}: the key has {len(key)} bytes; at least {MIN_KEY_BYTES} "
            f"({2 * MIN_KEY_BYTES} hex digits) are needed"
        )
    return key


def _read_private(path: str) -> str:
    try:
        # O_NONBLOCK: a FIFO in its place must not hang the open (POSIX; Windows has none)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise KeyFileError(f"HMAC key file {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"HMAC key file {path}: not a regular file")
        if has_posix_modes() and info.st_mode & 0o077:
            raise KeyFileError(
                f"HMAC key file {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
            )
        data = b""
        while len(data) <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1)):
            data += chunk
    except OSError as exc:
        raise KeyFileError(f"HMAC key file {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise KeyFileError(f"HMAC key file {path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"HMAC key file {path}: not a text file") from None


def load_hmac_keys(path: str | os.PathLike[str]) -> dict[int, bytes]:
    """SSID -> key from a key file (SSID 0 = the default key); KeyFileError if unusable."""
    name = os.fspath(path)
    keys: dict[int, bytes] = {}
    lines = [
        (n, line.split("#", 1)[0].split())
        for n, line in enumerate(_read_private(name).splitlines(), 1)
    ]
    lines = [(n, fields) for n, fields in lines if fields]
    for n, fields in lines:
        where = f"HMAC key file {name} line {n}"
        if len(fields) == 1:
            if len(lines) > 1:
                raise KeyFileError(
                    f"{where}: a line with only a key is allowed only when it is the "
                    "file's single key; write `SSID HEXKEY` per line"
                )
            keys[0] = _parse_key(fields[0], where)
            continue
        if (
            len(fields) != 2
            or not (fields[0].isascii() and fields[0].isdigit())
            or int(fields[0]) > 0xFFFF
        ):
            raise KeyFileError(f"{where}: expected `SSID HEXKEY` with an SSID of 0-65535")
        ssid = int(fields[0])
        if ssid in keys:
            raise KeyFileError(f"{where}: a second key for SSID {ssid}")
        keys[ssid] = _parse_key(fields[1], where)
    if not keys:
        raise KeyFileError(f"HMAC key file {name} holds no key")
    return keys

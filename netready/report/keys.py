"""Where netready keeps its signing key, and how it creates and loads it safely.

The secret key is an unencrypted minisign secret key file (mode 0600, in a 0700 directory),
so `minisign -S -s netready.key` can use it too. It is written to a temporary name created
0600 from the start, synced and then moved into place, so it is never briefly readable by
others nor left half-written. Its content never appears in messages.

A key directory others may write to is refused (they could swap the key or the public key
beside it); one netready creates is made 0700. A public key without its secret key is
refused too, instead of silently making a new key: reports signed before would no longer
match (restore the key, or replace both with `netready keys init --force`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from netready.errors import UsageError
from netready.report.signing import PublicKey, SecretKey
from netready.resources import config_dir as config_dir  # re-exported: callers ask keys

SECRET_KEY_NAME = "netready.key"
PUBLIC_KEY_NAME = "netready.pub"


def check_key_directory(directory: Path) -> None:
    """Refuse an existing key directory that group or others may write to."""
    try:
        st = directory.stat()
    except (FileNotFoundError, NotADirectoryError):
        return  # not there: created 0700 when a key is made
    except OSError as exc:
        raise UsageError(f"{directory}: cannot use the key directory: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{directory}: the key directory is not a directory")
    mode = stat.S_IMODE(st.st_mode)
    if os.name == "posix" and mode & 0o022:
        raise UsageError(
            f"{directory}: the key directory is writable by group or others (mode "
            f"{mode:04o}); run chmod 700 {directory}"
        )


def _orphaned_public_key(directory: Path) -> UsageError:
    return UsageError(
        f"{directory / SECRET_KEY_NAME}: the signing key is missing but its public key "
        f"{PUBLIC_KEY_NAME} is there; restore the key from a backup, or make a new one with "
        "`netready keys init --force` (reports signed with the old key then no longer match)"
    )


def _write_new(path: Path, data: bytes, mode: int, replace: bool) -> None:
    """Write `data` to a fresh temp file of `mode`, fsync it and move it to `path`.

    Without `replace`, an existing `path` is kept and FileExistsError raised (atomically, by
    a hard link, where the file system has them).
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have taken bits away; never adds any
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError:  # no hard links here: check, then rename
                if path.exists():
                    raise FileExistsError(path) from None
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # make the rename durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def init_key(directory: Path, force: bool = False) -> PublicKey:
    """Create a new signing key in `directory`; refuse to replace one unless `force`."""
    path = directory / SECRET_KEY_NAME
    check_key_directory(directory)
    if path.exists() and not force:
        raise _exists(path)
    if not force and (directory / PUBLIC_KEY_NAME).exists() and not path.exists():
        raise _orphaned_public_key(directory)
    try:
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True)
            os.chmod(directory, 0o700)  # ours: 0700 whatever the umask
        key = SecretKey.generate()
        try:
            _write_new(path, key.to_text().encode(), 0o600, replace=force)
        except FileExistsError:
            raise _exists(path) from None
        public = key.public_key()
        _write_new(directory / PUBLIC_KEY_NAME, public.to_text().encode(), 0o644, replace=True)
    except OSError as exc:
        raise UsageError(f"{directory}: cannot write the signing key: {exc.strerror}") from None
    return public


def _exists(path: Path) -> UsageError:
    return UsageError(
        f"{path}: a signing key exists already; use --force to replace it "
        "(reports signed with it can then no longer be matched to a new key)"
    )


def load_secret_key(directory: Path) -> SecretKey:
    """Load the signing key; refuse it if others can read or write the file or its directory."""
    path = directory / SECRET_KEY_NAME
    check_key_directory(directory)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise UsageError(f"{path}: no signing key; run `netready keys init`") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the signing key: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{path}: cannot read the signing key: not a regular file")
        if os.name == "posix" and mode & 0o077:
            what = "readable" if mode & 0o044 else "writable"
            raise UsageError(
                f"{path}: the signing key is {what} by others (mode {mode:04o}); "
                f"run chmod 600 {path}"
            )
        data = os.read(fd, 4096)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the signing key: {exc.strerror}") from None
    finally:
        os.close(fd)
    return SecretKey.from_text(data.decode("utf-8", errors="replace"), str(path))


def load_public_key(directory: Path) -> PublicKey:
    """Load the public key that matches the signing key."""
    path = directory / PUBLIC_KEY_NAME
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise UsageError(f"{path}: no public key; run `netready keys init`") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the public key: {exc.strerror}") from None
    return PublicKey.from_text(text, str(path))


def load_or_create(directory: Path) -> tuple[SecretKey, bool]:
    """The signing key, created first if there is none; the bool says it was created now.

    A missing public key file is written again from the secret key; a public key whose
    secret key is missing is refused (see the module's docstring).
    """
    check_key_directory(directory)
    # the public key is written after the secret key: looked at first, a public key
    # without a secret key cannot be another process' key being created right now
    public_exists = (directory / PUBLIC_KEY_NAME).exists()
    if public_exists and not (directory / SECRET_KEY_NAME).exists():
        raise _orphaned_public_key(directory)
    if not (directory / SECRET_KEY_NAME).exists():
        try:
            init_key(directory)
        except UsageError:
            if not (directory / SECRET_KEY_NAME).exists():
                raise
            # another process created it at the same moment: use theirs
        else:
            return load_secret_key(directory), True
    key = load_secret_key(directory)
    pub = directory / PUBLIC_KEY_NAME
    if not pub.exists():
        try:
            _write_new(pub, key.public_key().to_text().encode(), 0o644, replace=True)
        except OSError as exc:
            raise UsageError(f"{pub}: cannot write the public key: {exc.strerror}") from None
    return key, False

"""Signing-key storage: locations, file modes, refusing to overwrite, loading safely."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from netready.errors import SignatureError, UsageError
from netready.report.keys import (
    PUBLIC_KEY_NAME,
    SECRET_KEY_NAME,
    config_dir,
    init_key,
    load_or_create,
    load_public_key,
    load_secret_key,
)
from netready.report.signing import PublicKey, SecretKey, sign, verify
from tests.conftest import require_tool


def need_minisign() -> str:
    """Path of stock minisign; skip without it, but fail when CI=true."""
    return require_tool("minisign")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


# ---------------------------------------------------------------- config_dir


def test_config_dir_precedence() -> None:
    full = {
        "NETREADY_CONFIG_DIR": "/etc/nr",
        "XDG_CONFIG_HOME": "/home/u/.xdg",
        "HOME": "/home/u",
    }
    assert config_dir(full) == Path("/etc/nr")
    assert config_dir({**full, "NETREADY_CONFIG_DIR": ""}) == Path("/home/u/.xdg/netready")
    assert config_dir({"XDG_CONFIG_HOME": "/home/u/.xdg", "HOME": "/h"}) == Path(
        "/home/u/.xdg/netready"
    )
    assert config_dir({"HOME": "/home/u"}) == Path("/home/u/.config/netready")
    assert config_dir({"XDG_CONFIG_HOME": "", "HOME": "/home/u"}) == Path(
        "/home/u/.config/netready"
    )


def test_config_dir_ignores_relative_xdg() -> None:
    assert config_dir({"XDG_CONFIG_HOME": "rel", "HOME": "/h"}) == Path("/h/.config/netready")


def test_config_dir_reads_os_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NETREADY_CONFIG_DIR", str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    monkeypatch.delenv("NETREADY_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "netready"


# ---------------------------------------------------------------- init_key


@pytest.mark.usefixtures("umask_022")
def test_init_key_files_and_modes(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "netready"
    pub = init_key(directory)
    assert mode(directory) == 0o700
    assert mode(directory / SECRET_KEY_NAME) == 0o600
    assert mode(directory / PUBLIC_KEY_NAME) == 0o644
    assert (directory / PUBLIC_KEY_NAME).read_text() == pub.to_text()
    assert load_public_key(directory) == pub
    assert load_secret_key(directory).public_key() == pub
    assert {p.name for p in directory.iterdir()} == {PUBLIC_KEY_NAME, SECRET_KEY_NAME}


def test_modes_exact_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        init_key(tmp_path / "d")
    finally:
        os.umask(old)
    assert mode(tmp_path / "d") == 0o700
    assert mode(tmp_path / "d" / SECRET_KEY_NAME) == 0o600
    assert mode(tmp_path / "d" / PUBLIC_KEY_NAME) == 0o644


def test_secret_key_is_0600_before_any_byte_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    seen: list[int] = []

    def spy(fd: int, data: bytes) -> int:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    old = os.umask(0o000)
    try:
        init_key(tmp_path)
    finally:
        os.umask(old)
    assert seen[:2] == [0o600, 0o644]


def test_existing_directory_is_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    init_key(tmp_path)
    assert mode(tmp_path) == 0o755


def test_init_key_refuses_to_overwrite(tmp_path: Path) -> None:
    first = init_key(tmp_path)
    before = (tmp_path / SECRET_KEY_NAME).read_bytes()
    with pytest.raises(UsageError) as info:
        init_key(tmp_path)
    path = tmp_path / SECRET_KEY_NAME
    assert str(info.value) == (
        f"{path}: a signing key exists already; use --force to replace it "
        "(reports signed with it can then no longer be matched to a new key)"
    )
    assert path.read_bytes() == before
    assert load_public_key(tmp_path) == first


def test_init_key_force_replaces(tmp_path: Path) -> None:
    first = init_key(tmp_path)
    second = init_key(tmp_path, force=True)
    assert second != first
    assert load_public_key(tmp_path) == second
    assert load_secret_key(tmp_path).public_key() == second
    assert mode(tmp_path / SECRET_KEY_NAME) == 0o600
    assert {p.name for p in tmp_path.iterdir()} == {PUBLIC_KEY_NAME, SECRET_KEY_NAME}


def test_init_key_unwritable_place(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot write the signing key"):
        init_key(tmp_path / "file" / "sub")


# ---------------------------------------------------------------- loading


def test_load_secret_key_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        load_secret_key(tmp_path)
    assert (
        str(info.value) == f"{tmp_path / SECRET_KEY_NAME}: no signing key; run `netready keys init`"
    )
    with pytest.raises(UsageError, match="no public key; run `netready keys init`"):
        load_public_key(tmp_path)


@pytest.mark.parametrize(
    ("bits", "what"),
    [(0o644, "readable"), (0o640, "readable"), (0o604, "readable"), (0o620, "writable")],
)
def test_load_secret_key_refuses_loose_modes(tmp_path: Path, bits: int, what: str) -> None:
    init_key(tmp_path)
    path = tmp_path / SECRET_KEY_NAME
    path.chmod(bits)
    with pytest.raises(UsageError) as info:
        load_secret_key(tmp_path)
    assert str(info.value) == (
        f"{path}: the signing key is {what} by others (mode {bits:04o}); run chmod 600 {path}"
    )
    path.chmod(0o600)
    assert load_secret_key(tmp_path).public_key() == load_public_key(tmp_path)


def test_load_secret_key_not_a_file(tmp_path: Path) -> None:
    (tmp_path / SECRET_KEY_NAME).mkdir(mode=0o700)
    with pytest.raises(UsageError, match="cannot read the signing key: not a regular file"):
        load_secret_key(tmp_path)


def test_damaged_key_file_message_names_file_not_secret(tmp_path: Path) -> None:
    key = SecretKey.generate()
    line = key.to_text().split("\n")[1]
    damaged = line[:-10] + ("A" if line[-10] != "A" else "B") + line[-9:]
    path = tmp_path / SECRET_KEY_NAME
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.write(fd, f"untrusted comment: x\n{damaged}\n".encode())
    os.close(fd)
    with pytest.raises(SignatureError) as info:
        load_secret_key(tmp_path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    assert key.seed.hex() not in msg and line[:20] not in msg and damaged[60:90] not in msg


def test_load_or_create(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    key, created = load_or_create(directory)
    assert created
    again, created = load_or_create(directory)
    assert not created and again == key
    (directory / PUBLIC_KEY_NAME).unlink()
    third, created = load_or_create(directory)
    assert not created and third == key
    assert load_public_key(directory) == key.public_key()


@pytest.mark.packages
def test_stock_minisign_uses_the_stored_key(tmp_path: Path) -> None:
    exe = need_minisign()
    directory = tmp_path / "cfg"
    init_key(directory)
    doc = tmp_path / "report.json"
    doc.write_bytes(b'{"verdict":"ready"}\n')
    result = subprocess.run(
        [exe, "-S", "-s", str(directory / SECRET_KEY_NAME), "-m", str(doc), "-t", "tc"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    minisig = doc.with_name("report.json.minisig").read_text()
    assert verify(doc.read_bytes(), minisig, load_public_key(directory)).trusted_comment == "tc"
    # and the other way round
    (tmp_path / "ours.minisig").write_text(
        sign(doc.read_bytes(), load_secret_key(directory), "ours")
    )
    result = subprocess.run(
        [
            exe,
            "-Vm",
            str(doc),
            "-x",
            str(tmp_path / "ours.minisig"),
            "-p",
            str(directory / PUBLIC_KEY_NAME),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 and "Trusted comment: ours" in result.stdout


def test_public_key_file_is_minisign_format(tmp_path: Path) -> None:
    pub = init_key(tmp_path)
    text = (tmp_path / PUBLIC_KEY_NAME).read_text()
    assert PublicKey.from_text(text, "x") == pub
    assert text.startswith(f"untrusted comment: minisign public key {pub.key_id_hex}\n")

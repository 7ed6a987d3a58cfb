"""The signing key's directory and the key/public-key pair (issue 12, finding 11): a
directory others may write to is refused, a public key without its secret key is not
silently replaced by a new key, and the CLI says so in one line with exit code 2."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from netready.cli import Env, main
from netready.errors import UsageError
from netready.report.keys import (
    PUBLIC_KEY_NAME,
    SECRET_KEY_NAME,
    init_key,
    load_or_create,
    load_secret_key,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(args: list[str], directory: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Env(stdout=out, stderr=err, environ={"NETREADY_CONFIG_DIR": str(directory)})
    code = main(args, env)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("bits", [0o777, 0o770, 0o702, 0o720, 0o1777])
def test_a_directory_others_may_write_is_refused(tmp_path: Path, bits: int) -> None:
    directory = tmp_path / "keys"
    directory.mkdir()
    init_key(directory)
    secret_before = (directory / SECRET_KEY_NAME).read_bytes()
    directory.chmod(bits)
    expected = (
        f"{directory}: the key directory is writable by group or others "
        f"(mode {bits:04o}); run chmod 700 {directory}"
    )
    for attempt in (load_or_create, load_secret_key, init_key):
        with pytest.raises(UsageError) as caught:
            attempt(directory)
        assert str(caught.value) == expected
    assert (directory / SECRET_KEY_NAME).read_bytes() == secret_before
    assert mode(directory) == bits  # not changed behind the user's back: theirs to fix


def test_the_cli_refuses_it_in_one_line_with_exit_2(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    init_key(directory)
    secret = (directory / SECRET_KEY_NAME).read_text()
    directory.chmod(0o777)
    code, out, err = run(["keys", "init", "--force"], directory)
    assert code == 2 and out == ""
    assert err == (
        f"netready: error: {directory}: the key directory is writable by group or others "
        f"(mode 0777); run chmod 700 {directory}\n"
    )
    assert (directory / SECRET_KEY_NAME).read_text() == secret  # not replaced
    secret_line = secret.splitlines()[1]
    assert secret_line not in err


def test_a_directory_netready_creates_is_0700_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o000)
    try:
        load_or_create(tmp_path / "new" / "keys")
    finally:
        os.umask(old)
    assert mode(tmp_path / "new" / "keys") == 0o700
    assert mode(tmp_path / "new" / "keys" / SECRET_KEY_NAME) == 0o600


def test_readable_but_not_writable_directories_are_fine(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    init_key(directory)
    directory.chmod(0o755)
    key, created = load_or_create(directory)
    assert not created and key.public_key() == load_secret_key(directory).public_key()


def test_a_public_key_without_its_secret_key_is_not_replaced(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    init_key(directory)
    public_before = (directory / PUBLIC_KEY_NAME).read_bytes()
    (directory / SECRET_KEY_NAME).unlink()
    expected = (
        f"{directory / SECRET_KEY_NAME}: the signing key is missing but its public key "
        f"{PUBLIC_KEY_NAME} is there; restore the key from a backup, or make a new one with "
        "`netready keys init --force` (reports signed with the old key then no longer match)"
    )
    for attempt in (load_or_create, init_key):
        with pytest.raises(UsageError) as caught:
            attempt(directory)
        assert str(caught.value) == expected
    assert not (directory / SECRET_KEY_NAME).exists()
    assert (directory / PUBLIC_KEY_NAME).read_bytes() == public_before


def test_the_cli_refuses_an_orphaned_public_key_and_force_replaces_both(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    old_public = init_key(directory)
    (directory / SECRET_KEY_NAME).unlink()
    code, out, err = run(["keys", "init"], directory)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "the signing key is missing but its public key netready.pub is there" in err
    code, out, err = run(["keys", "init", "--force"], directory)
    assert code == 0
    new_public = load_secret_key(directory).public_key()
    assert new_public != old_public and new_public.key_id_hex in out
    assert "(never shown)" in out
    secret_line = (directory / SECRET_KEY_NAME).read_text().splitlines()[1]
    assert secret_line not in out + err
    assert mode(directory / SECRET_KEY_NAME) == 0o600

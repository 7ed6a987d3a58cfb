"""Authenticated STAMP end to end: the profile's key file against a responder holding the key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from netready.model import PortRange
from netready.responder.server import Responder, ResponderConfig
from tests.conftest import free_port, free_port_block, run_cli
from tests.integration.loopback import write_profile

KEY = bytes(range(32))


@pytest.fixture
def keyed_responder() -> Iterator[tuple[int, int]]:
    rtp = free_port_block(4)
    config = ResponderConfig(
        listen="127.0.0.1", stamp_port=0, udp_ports=(PortRange(rtp, rtp + 3),), keys={0: KEY}
    )
    responder = Responder(config, log=lambda _line: None)
    responder.start()
    try:
        yield responder.stamp_address[1], rtp
    finally:
        responder.stop()


def _profile(tmp: Path, stamp: int, rtp: int, key: bytes) -> Path:
    key_file = tmp / "stamp.key"
    key_file.write_text(key.hex() + "\n")
    os.chmod(key_file, 0o600)
    profile = write_profile(
        tmp / "p.toml", stamp, free_port(), rtp, rtp + 3, free_port(), duration=2.0
    )
    profile.write_text(profile.read_text() + f'hmac_key_file = "{key_file}"\npayload_bytes = 172\n')
    return profile


def test_authenticated_stream_passes(
    keyed_responder: tuple[int, int], tmp_path: Path, config_dir: Path
) -> None:
    stamp, rtp = keyed_responder
    out = tmp_path / "r"
    proc = run_cli(
        "check",
        "--profile",
        str(_profile(tmp_path, stamp, rtp, KEY)),
        "--only",
        "media.voice",
        "--out",
        str(out),
        config=config_dir,
    )
    assert proc.returncode == 0, proc.stderr
    voice = json.loads((out / "report.json").read_bytes())["checks"][0]
    assert voice["status"] == "pass"
    assert voice["evidence"]["authenticated"] is True
    assert KEY.hex() not in (out / "report.json").read_text()  # the key is never reported


def test_wrong_key_gets_no_answer(
    keyed_responder: tuple[int, int], tmp_path: Path, config_dir: Path
) -> None:
    stamp, rtp = keyed_responder
    out = tmp_path / "r"
    wrong = bytes(32)
    proc = run_cli(
        "check",
        "--profile",
        str(_profile(tmp_path, stamp, rtp, wrong)),
        "--only",
        "media.voice",
        "--out",
        str(out),
        config=config_dir,
    )
    assert proc.returncode == 3, proc.stderr
    voice = json.loads((out / "report.json").read_bytes())["checks"][0]
    assert voice["status"] == "not_tested"
    assert "did not answer" in voice["reason"]


def test_key_file_readable_by_others_is_refused_before_sending(
    keyed_responder: tuple[int, int], tmp_path: Path, config_dir: Path
) -> None:
    stamp, rtp = keyed_responder
    profile = _profile(tmp_path, stamp, rtp, KEY)
    os.chmod(tmp_path / "stamp.key", 0o644)
    proc = run_cli(
        "check", "--profile", str(profile), "--out", str(tmp_path / "r"), config=config_dir
    )
    assert proc.returncode == 2
    assert "stamp.key" in proc.stderr and KEY.hex() not in proc.stderr
    assert not (tmp_path / "r").exists()

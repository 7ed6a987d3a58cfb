"""media.voice without a reachable responder: STUN round trip to a real coturn, else not_tested."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import free_port, free_port_block, run_cli
from tests.integration.coturn import coturn
from tests.integration.loopback import write_profile


def _voice(out: Path) -> dict[str, object]:
    doc = json.loads((out / "report.json").read_bytes())
    check: dict[str, object] = doc["checks"][0]
    assert check["id"] == "media.voice"
    return check


def _with_stun(profile: Path, stun_port: int) -> None:
    text = profile.read_text().replace('pbx = "127.0.0.1"', 'pbx = "127.0.0.1"\nstun = "127.0.0.1"')
    text += f'stun_host = "stun"\nstun_port = {stun_port}\n'
    profile.write_text(text)


def test_silent_responder_falls_back_to_stun(tmp_path: Path, config_dir: Path) -> None:
    rtp = free_port_block(2)  # nothing listens: the STAMP preflight gets no answer
    with coturn(tmp_path, user="netready", password="s3cret-test", realm="netready.test") as srv:
        profile = write_profile(
            tmp_path / "p.toml", free_port(), free_port(), rtp, rtp + 1, free_port(), duration=2.0
        )
        _with_stun(profile, srv.port)
        out = tmp_path / "r"
        proc = run_cli(
            "check",
            "--profile",
            str(profile),
            "--only",
            "media.voice",
            "--out",
            str(out),
            config=config_dir,
        )
    voice = _voice(out)
    assert proc.returncode == 0, proc.stderr
    assert voice["status"] == "pass"
    assert str(voice["method"]).startswith("stun-rtt")
    evidence = voice["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["directions_separated"] is False
    because = str(evidence["fallback_because"])
    assert "the responder at 127.0.0.1 did not answer" in because
    assert str(rtp) in because or str(rtp + 1) in because  # the ports it tried are named
    metrics = voice["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["delay_up_ms"] == metrics["delay_down_ms"]
    assert metrics["packets_received"] >= 99


def test_nothing_answers_is_not_tested(tmp_path: Path, config_dir: Path) -> None:
    rtp = free_port_block(2)
    profile = write_profile(
        tmp_path / "p.toml", free_port(), free_port(), rtp, rtp + 1, free_port(), duration=2.0
    )
    _with_stun(profile, free_port())
    out = tmp_path / "r"
    proc = run_cli(
        "check",
        "--profile",
        str(profile),
        "--only",
        "media.voice",
        "--out",
        str(out),
        config=config_dir,
    )
    assert proc.returncode == 3, proc.stderr
    voice = _voice(out)
    assert voice["status"] == "not_tested"
    reason = str(voice["reason"])
    assert "responder" in reason and "STUN server" in reason
    assert "nothing could be measured" in reason

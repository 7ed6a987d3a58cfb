"""The report: schema-valid canonical bytes, signed; any one-byte change fails both verifiers."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest
import rfc8785

from netready.engine.runner import RunOutcome
from netready.model import CheckResult, Limit, Status
from netready.profile import load_profile
from netready.report.document import build_report
from netready.report.environment import environment
from netready.report.files import trusted_comment, write_signed_report
from netready.report.signing import SecretKey
from netready.report.verify import document_problems, verify_report
from netready.resources import data_dir
from tests.conftest import require_tool


def _document(verdict_fail: bool = False) -> dict[str, object]:
    profile = load_profile(data_dir("profiles") / "lab.toml")
    voice = CheckResult(
        "media.voice",
        "Voice path",
        Status.FAIL if verdict_fail else Status.PASS,
        method="stamp",
        reason="delay_up_ms = 160.00, limit <= 150" if verdict_fail else "",
        metrics={
            m: 1.5
            for m in (
                "rtt_mean_ms",
                "rtt_p95_ms",
                "delay_up_ms",
                "delay_down_ms",
                "jitter_up_ms",
                "jitter_down_ms",
                "loss_up_pct",
                "loss_down_pct",
                "mos",
            )
        },
        limits={"delay_up_ms": Limit("<=", 150.0), "loss_up_pct": Limit("<", 1.0)},
        evidence={
            "delay_method": "estimated_rtt_half",
            "samples": [[i, str(1795305184893310263 + i), None] for i in range(20)],
        },
        started_at="2026-11-21T10:00:00.000Z",
        finished_at="2026-11-21T10:01:00.000Z",
    )
    fw = CheckResult(
        "firewall.rtp",
        "RTP",
        Status.PASS,
        method="udp-echo",
        evidence={"ports": {"open": "26384-26483", "blocked": "", "not_tested": ""}},
        started_at="2026-11-21T10:01:00.000Z",
        finished_at="2026-11-21T10:01:01.000Z",
    )
    outcome = RunOutcome([voice, fw], False, "2026-11-21T10:00:00.000Z", "2026-11-21T10:01:01.000Z")
    site = {"customer": "Müller GmbH", "site": "Köln\tHQ", "installer": "J. Doe"}
    return build_report(profile, site, outcome, environment())


@pytest.fixture
def signed(tmp_path: Path) -> Path:
    files = write_signed_report(_document(), tmp_path, SecretKey.generate())
    return files.report


def test_written_bytes_are_canonical_and_schema_valid(signed: Path) -> None:
    data = signed.read_bytes()
    assert rfc8785.dumps(json.loads(data)) == data
    assert document_problems(data) == []
    assert verify_report(signed).ok


def test_schema_catches_missing_voice_metric_and_bad_status() -> None:
    doc = _document()
    del doc["checks"][0]["metrics"]["mos"]  # type: ignore[index]
    doc["checks"][1]["status"] = "passed"  # type: ignore[index]
    problems = document_problems(rfc8785.dumps(doc))
    assert any("mos" in p for p in problems)
    assert any("passed" in p for p in problems)


def test_schema_requires_a_reason_when_not_pass() -> None:
    doc = _document(verdict_fail=True)
    doc["checks"][0]["reason"] = ""  # type: ignore[index]
    assert any("checks/0/reason" in p for p in document_problems(rfc8785.dumps(doc)))


def test_trusted_comment_is_one_printable_line() -> None:
    comment = trusted_comment(_document())
    assert comment.isprintable() and "verdict:PASS" in comment and "Müller GmbH" in comment


def test_pretty_printed_copy_is_refused(signed: Path, tmp_path: Path) -> None:
    pretty = json.dumps(json.loads(signed.read_bytes()), indent=2).encode()
    assert any("canonical" in p for p in document_problems(pretty))


def _flip(path: Path, original: bytes, pos: int) -> None:
    changed = bytearray(original)
    changed[pos] ^= 0x01
    path.write_bytes(bytes(changed))


def test_one_byte_change_anywhere_fails_netready_verify(signed: Path) -> None:
    original = signed.read_bytes()
    rng = random.Random(8785)
    positions = sorted({0, len(original) - 1, *rng.sample(range(len(original)), 250)})
    for pos in positions:
        _flip(signed, original, pos)
        outcome = verify_report(signed)
        assert not outcome.ok and not outcome.signature_ok, f"byte {pos} change not detected"
    signed.write_bytes(original)
    assert verify_report(signed).ok


def test_one_byte_change_fails_stock_minisign(signed: Path) -> None:
    minisign = require_tool("minisign")
    original = signed.read_bytes()
    pub = signed.with_name("netready.pub")
    ok = subprocess.run([minisign, "-Vm", str(signed), "-p", str(pub)], capture_output=True)
    assert ok.returncode == 0, ok.stderr
    for pos in random.Random(1).sample(range(len(original)), 40):
        _flip(signed, original, pos)
        bad = subprocess.run([minisign, "-Vm", str(signed), "-p", str(pub)], capture_output=True)
        assert bad.returncode != 0, f"stock minisign accepted a change at byte {pos}"


def test_other_public_key_is_refused(signed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pub"
    other.write_text(SecretKey.generate().public_key().to_text())
    outcome = verify_report(signed, other)
    assert not outcome.signature_ok and outcome.document_ok
    assert any("key ID" in line for line in outcome.lines)

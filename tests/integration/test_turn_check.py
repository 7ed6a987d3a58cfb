"""The `turn.<rule>` check against a real coturn: UDP and TCP, wrong password, no credentials.

Secrets: every result is written as the report would hold it and grepped, together with the
captured logs (aioice logs at DEBUG), for the password.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from netready.checks.base import RunContext
from netready.checks.turn import TurnCheck, plan_turn
from netready.checks.turn_params import PASSWORD_ENV, USERNAME_ENV, TurnParams
from netready.model import CheckResult, PortRange, Rule, Status
from netready.profile import load_profile
from netready.resources import data_dir
from tests.integration.coturn import CoturnServer, coturn

USER, PASSWORD = "turn-user", "Tu-rn_s3cret-9f2c"
WRONG = "Wr0ng-pa55-77aa"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoturnServer]:
    with coturn(tmp_path_factory.mktemp("turn"), user=USER, password=PASSWORD) as running:
        yield running


def _turn(server: CoturnServer, transport: str) -> CheckResult:
    rule = Rule(
        f"stun-{transport}",
        "STUN/TURN",
        transport,
        (PortRange(server.port, server.port),),
        "stun",
        "media",
        "stun",
    )
    params = TurnParams(rule=rule, address=server.host, timeout_s=1.0)
    ctx = RunContext(progress=lambda _f, _m: None)
    return asyncio.run(TurnCheck().run(f"turn.stun-{transport}", params, ctx))


def _no_secret(tmp: Path, results: list[CheckResult], logs: str, *secrets: str) -> None:
    report = tmp / "report.json"
    report.write_text(json.dumps([r.to_dict() for r in results]), encoding="utf-8")
    text = report.read_text(encoding="utf-8")
    for secret in secrets:
        assert secret not in text and secret not in logs


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_allocate_permission_and_relay(
    server: CoturnServer,
    transport: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    caplog.set_level(logging.DEBUG)
    r = _turn(server, transport)
    assert r.status == Status.PASS, r.reason
    relayed = r.evidence["relayed"]
    low, high = server.relay_ports
    assert relayed.startswith("127.0.0.1:") and low <= int(relayed.split(":")[1]) <= high
    assert r.evidence["packets_back"] == 5 and r.metrics["relay_loss_pct"] == 0.0
    assert r.metrics["allocate_ms"] > 0 and r.metrics["relay_rtt_median_ms"] > 0
    out, err = capfd.readouterr()
    _no_secret(tmp_path, [r], caplog.text + out + err, PASSWORD)


def test_wrong_password_is_authentication_rejected(
    server: CoturnServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, WRONG)
    caplog.set_level(logging.DEBUG)
    results = [_turn(server, "udp"), _turn(server, "tcp")]
    for r in results:
        assert r.status == Status.FAIL
        assert r.reason.startswith("authentication rejected") and "401" in r.reason
        assert PASSWORD_ENV in r.remediation
    out, err = capfd.readouterr()
    _no_secret(tmp_path, results, caplog.text + out + err, WRONG, PASSWORD)


def test_no_credentials_is_not_tested(
    server: CoturnServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(USERNAME_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    r = _turn(server, "udp")
    assert r.status == Status.NOT_TESTED
    assert USERNAME_ENV in r.reason and PASSWORD_ENV in r.reason


def test_plan_for_stimme() -> None:
    plan = plan_turn(load_profile(data_dir("profiles") / "stimme.toml"))
    assert [p.id for p in plan] == ["turn.stun-udp", "turn.stun-tcp"]

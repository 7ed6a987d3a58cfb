"""The `turn.<rule>` check against a real coturn: UDP, TCP and TLS, wrong password, no
credentials, a certificate that misses the pins, a TLS rule on a port without TLS.

TURN over TLS runs from a lab-style profile (a rule with tls = true) through the planner,
against coturn with a fresh self-signed certificate on a free TLS port.

Secrets: every result is written as the report would hold it and grepped, together with the
captured logs (aioice logs at DEBUG), for the password.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from netready.checks.base import RunContext
from netready.checks.turn import TurnCheck, plan_turn
from netready.checks.turn_params import PASSWORD_ENV, USERNAME_ENV, TurnParams
from netready.engine.plan import build_plan
from netready.model import CheckResult, PortRange, Rule, Status
from netready.probes.tls import format_fingerprint
from netready.profile import load_profile
from netready.resources import data_dir
from tests.conftest import free_port
from tests.integration.coturn import TLS_COMMON_NAME, CoturnServer, coturn

USER, PASSWORD = "turn-user", "Tu-rn_s3cret-9f2c"
WRONG = "Wr0ng-pa55-77aa"
TLS_PROFILE = """
[profile]
name = "turn-tls-lab"
title = "TURN over TLS against a local coturn"

[hosts]
stun = "127.0.0.1"

[[rules]]
name = "turn-tls"
protocol = "STUN/TURN over TLS"
transport = "tcp"
tls = true
ports = {port}
host = "stun"
function = "media relay"
verify = "stun"

[checks."media.voice"]
media_rule = ""

[checks."turn"]
timeout_s = 1.0

[checks."tls"]
{pins}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoturnServer]:
    with coturn(tmp_path_factory.mktemp("turn"), user=USER, password=PASSWORD) as running:
        yield running


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoturnServer]:
    with coturn(
        tmp_path_factory.mktemp("turn-tls"), user=USER, password=PASSWORD, tls=True
    ) as running:
        assert running.tls_port and running.cert is not None
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


def _tls_profile(tmp: Path, port: int, pins: str = "") -> Path:
    path = tmp / "turn-tls.toml"
    path.write_text(TLS_PROFILE.format(port=port, pins=pins), encoding="utf-8")
    return path


def _turn_tls(profile: Path) -> CheckResult:
    """Plan the profile and run its `turn.turn-tls` check."""
    (planned,) = plan_turn(load_profile(profile))
    assert planned.id == "turn.turn-tls"
    ctx = RunContext(progress=lambda _f, _m: None)
    return asyncio.run(planned.check.run(planned.id, planned.params, ctx))


def _fingerprint(cert: Path) -> str:
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)
    return format_fingerprint(der)


def test_tls_rule_plans_turn_over_tls_and_the_tls_check(tmp_path: Path) -> None:
    profile = load_profile(_tls_profile(tmp_path, 5349, 'expect_issuer = "Platform CA"'))
    (planned,) = plan_turn(profile)
    assert planned.params.rule.tls and planned.params.expect_issuer == "Platform CA"
    assert planned.title.startswith("TURN: tls/5349 to stun")
    ids = [p.id for p in build_plan(profile)]
    assert {"turn.turn-tls", "tls.turn-tls", "firewall.turn-tls"} <= set(ids)


def test_allocate_and_relay_over_tls(
    tls_server: CoturnServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert tls_server.cert is not None
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    caplog.set_level(logging.DEBUG)
    fingerprint = _fingerprint(tls_server.cert)
    pins = f'expect_sha256 = ["{fingerprint.replace(":", "").lower()}"]'
    r = _turn_tls(_tls_profile(tmp_path, tls_server.tls_port, pins))
    assert r.status == Status.PASS, r.reason
    assert r.method.startswith("turn-allocate-tls")
    assert r.evidence["transport"] == "tls" and r.evidence["stage"] == "done"
    tls = r.evidence["tls"]
    assert tls["handshake"] == "ok" and tls["version"].startswith("TLSv1")
    assert tls["issuer"] == f"CN={TLS_COMMON_NAME}" and tls["fingerprint"] == fingerprint
    assert tls["interception"] is False and tls["certificate"]["sans"]
    low, high = tls_server.relay_ports
    assert low <= int(r.evidence["relayed"].split(":")[1]) <= high
    assert r.evidence["packets_back"] == 5 and r.metrics["relay_loss_pct"] == 0.0
    out, err = capfd.readouterr()
    _no_secret(tmp_path, [r], caplog.text + out + err, PASSWORD)


def test_wrong_password_over_tls_is_authentication_rejected(
    tls_server: CoturnServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, WRONG)
    caplog.set_level(logging.DEBUG)
    r = _turn_tls(_tls_profile(tmp_path, tls_server.tls_port))
    assert r.status == Status.FAIL
    assert r.reason.startswith("authentication rejected by the TURN server") and "401" in r.reason
    assert f"127.0.0.1:{tls_server.tls_port}/tls" in r.reason
    assert r.evidence["tls"]["handshake"] == "ok"  # TLS worked, the credentials did not
    assert PASSWORD_ENV in r.remediation
    out, err = capfd.readouterr()
    _no_secret(tmp_path, [r], caplog.text + out + err, WRONG, PASSWORD)


def test_certificate_missing_the_pins_stops_before_credentials(
    tls_server: CoturnServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    profile = _tls_profile(tmp_path, tls_server.tls_port, 'expect_issuer = "Platform CA"')
    r = _turn_tls(profile)
    assert r.status == Status.FAIL
    assert r.reason.startswith(f"TLS interception on 127.0.0.1:{tls_server.tls_port}/tls")
    assert f"issued by 'CN={TLS_COMMON_NAME}', expected 'Platform CA'" in r.reason
    assert "no TURN credentials were sent" in r.reason
    assert r.evidence["stage"] == "tls" and r.evidence["relayed"] == ""
    assert r.evidence["tls"]["interception"] is True
    assert "TLS inspection" in r.remediation


@contextmanager
def _not_tls_server() -> Iterator[int]:
    """A TCP port that answers any connection with an HTTP error line, then closes."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2.0)
        listener.close()


def test_tls_rule_on_a_port_without_tls_is_handshake_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with _not_tls_server() as port:
        r = _turn_tls(_tls_profile(tmp_path, port))
    assert r.status == Status.FAIL
    assert r.reason.startswith(f"TLS handshake failed on 127.0.0.1:{port}/tls: "), r.reason
    assert r.evidence["tls"]["handshake"] == "failed"
    assert "TLS inspection" in r.remediation

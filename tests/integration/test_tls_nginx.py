"""`tls.<rule>` and `firewall.<rule>` through the CLI against a real nginx (issue 5).

nginx (`tests/integration/nginx.py`) serves a static page with TLS on two loopback ports,
with a chain from a small test CA ("netready test CA"). Each test writes a small profile
with one HTTPS rule over both ports (plus, for the closed-port case, a rule on a port
nobody listens on) and runs `netready check --only tls.,firewall.` on it; run_cli also
verifies the signed report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, run_cli
from tests.integration.nginx import CA_NAME, SERVER_NAME, NginxServer, nginx

PROFILE = """
[profile]
name = "nginxtls"
title = "HTTPS against a real nginx"

[hosts]
web = "127.0.0.1"

[[rules]]
name = "https"
protocol = "HTTPS"
transport = "tcp"
ports = [{ports}]
host = "web"
function = "myPBX client"
verify = "https"
{extra}
[checks."media.voice"]
media_rule = ""

[checks.tls]
{pins}
timeout_s = 2.0
"""

NOBODY_RULE = """
[[rules]]
name = "nobody"
protocol = "HTTPS"
transport = "tcp"
ports = {port}
host = "web"
function = "myPBX client (spare port)"
verify = "https"
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxServer]:
    with nginx(tmp_path_factory.mktemp("nginx")) as running:
        yield running


def _check(
    tmp: Path, config: Path, ports: tuple[int, ...], pins: str, extra: str = ""
) -> tuple[int, str, dict[str, dict[str, Any]]]:
    """Run the TLS and firewall checks of a one-rule profile; (exit code, verdict, checks)."""
    profile = tmp / "nginxtls.toml"
    text = PROFILE.format(ports=", ".join(str(p) for p in ports), pins=pins, extra=extra)
    profile.write_text(text, encoding="utf-8")
    out = tmp / "report"
    proc = run_cli(
        "check", "--profile", str(profile), "--only", "tls.,firewall.", "--out", str(out),
        config=config, timeout=60.0,
    )  # fmt: skip
    assert (out / "report.json").exists(), proc.stderr
    doc = json.loads((out / "report.json").read_bytes())
    return proc.returncode, str(doc["verdict"]), {c["id"]: c for c in doc["checks"]}


def test_pinned_issuer_passes_with_status_line_and_chain(
    web: NginxServer, tmp_path: Path, config_dir: Path
) -> None:
    code, verdict, checks = _check(tmp_path, config_dir, web.ports, f'expect_issuer = "{CA_NAME}"')
    assert set(checks) == {"tls.https", "firewall.https"}, web.log_text()
    tls = checks["tls.https"]
    assert tls["status"] == "pass", (tls["reason"], web.log_text())
    assert code == 0 and verdict == "PASS"
    assert tls["evidence"]["interception"] is False
    assert tls["metrics"]["ports_ok"] == 2.0
    for port in web.ports:
        ev = tls["evidence"]["per_port"][str(port)]
        assert ev["handshake"] == "ok" and ev["version"].startswith("TLSv1.")
        assert ev["http_status"] == "HTTP/1.1 200 OK"
        assert ev["fingerprint"] == web.leaf_sha256 and ev["issuer"] == f"CN={CA_NAME}"
        leaf = ev["chain"][0]
        assert leaf["subject"] == f"CN={SERVER_NAME}" and leaf["issuer"] == f"CN={CA_NAME}"
        assert "IP:127.0.0.1" in leaf["sans"]
        if ev["chain_source"] == "unverified-chain":  # nginx sends leaf + CA
            assert [c["subject"] for c in ev["chain"]] == [f"CN={SERVER_NAME}", f"CN={CA_NAME}"]
        assert ev["verified_by_system_cas"] is False  # the test CA is no system CA
    firewall = checks["firewall.https"]
    assert firewall["status"] == "pass", firewall["reason"]
    assert firewall["evidence"]["ports"]["blocked"] == ""
    for port in web.ports:
        assert str(port) in str(firewall["evidence"]["ports"]["open"])


def test_other_issuer_pinned_is_interception_on_every_port(
    web: NginxServer, tmp_path: Path, config_dir: Path
) -> None:
    code, verdict, checks = _check(tmp_path, config_dir, web.ports, 'expect_issuer = "Platform CA"')
    assert code == 1 and verdict == "FAIL"
    tls = checks["tls.https"]
    assert tls["status"] == "fail"
    for port in web.ports:
        assert (
            f"TLS interception: the certificate on {port} was issued by 'CN={CA_NAME}', "
            "expected 'Platform CA'"
        ) in tls["reason"]
        ev = tls["evidence"]["per_port"][str(port)]
        assert ev["interception"] is True and ev["pin_mismatch"]
        assert ev["http_status"] == "HTTP/1.1 200 OK"  # the path works, the certificate is foreign
    assert tls["evidence"]["interception"] is True
    assert tls["evidence"]["issuer_seen"] == f"CN={CA_NAME}"
    assert tls["metrics"]["ports_intercepted"] == 2.0
    assert "TLS inspection" in tls["remediation"]
    assert checks["firewall.https"]["status"] == "pass"  # the ports are open: only TLS differs


def test_port_closed_by_nginx_and_port_nobody_listens_on(tmp_path: Path, config_dir: Path) -> None:
    nobody = free_port()
    with nginx(tmp_path) as own:
        served, stopped = own.ports
        own.serve_only([served])  # reload: nginx closes the second port
        code, verdict, checks = _check(
            tmp_path, config_dir, own.ports, f'expect_issuer = "{CA_NAME}"',
            NOBODY_RULE.format(port=nobody),
        )  # fmt: skip
    assert code == 1 and verdict == "FAIL"
    firewall = checks["firewall.https"]
    assert firewall["status"] == "fail"
    assert firewall["evidence"]["port_states"][str(stopped)]["state"] == "closed"
    assert firewall["evidence"]["ports"]["blocked"] == str(stopped)
    assert firewall["evidence"]["ports"]["open"] == str(served)
    tls = checks["tls.https"]
    assert tls["status"] == "not_tested"
    assert tls["reason"].startswith(f"TCP did not connect on {stopped}: TLS not tried")
    assert tls["evidence"]["per_port"][str(served)]["handshake"] == "ok"
    assert tls["evidence"]["per_port"][str(stopped)]["handshake"] == "not_connected"
    assert checks["firewall.nobody"]["status"] == "fail"
    assert checks["firewall.nobody"]["evidence"]["ports"]["blocked"] == str(nobody)
    assert checks["tls.nobody"]["status"] == "not_tested"

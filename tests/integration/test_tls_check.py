"""The TLS probe and the `tls.<rule>` checks against real TLS listeners on 127.0.0.1.

"The platform" is a responder with a certificate of its own; "the inspecting firewall"
is a second responder serving the same kind of ports with a different self-signed
certificate, as a firewall doing SSL decryption would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from netready.model import PortRange
from netready.probes.tls import format_fingerprint, probe_tls
from netready.responder.server import Responder, ResponderConfig
from netready.responder.tls_ports import self_signed_pem
from tests.conftest import free_port, run_cli

PROFILE = """
[profile]
name = "tlstest"
title = "TLS test platform"

[hosts]
pbx = "127.0.0.1"

[targets.delay_ms]
max = 150.0
statistic = "p95"

[[rules]]
name = "https"
protocol = "HTTPS"
transport = "tcp"
ports = {https}
host = "pbx"
function = "myPBX client"
verify = "https"

[[rules]]
name = "ldaps"
protocol = "LDAPS"
transport = "tcp"
ports = {ldaps}
host = "pbx"
function = "phone book"
verify = "ldaps"

[[rules]]
name = "plain"
protocol = "H.323/TLS"
transport = "tcp"
ports = {plain}
host = "pbx"
function = "signalling"
verify = "tls"

[[rules]]
name = "closed"
protocol = "SIP/TLS"
transport = "tcp"
ports = {closed}
host = "pbx"
function = "SIP trunk"
verify = "sip"
tls = true

[checks."media.voice"]
media_rule = ""

[checks."tls"]
{pins}
timeout_s = 2.0
"""


@dataclass(frozen=True)
class Site:
    """Ports of the TLS test platform and the fingerprint of its certificate."""

    https: int
    ldaps: int
    plain: int
    closed: int
    fingerprint: str


def _cert_files(folder: Path, common_name: str) -> tuple[Path, Path, str]:
    cert_pem, key_pem = self_signed_pem(common_name, "127.0.0.1")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    return cert, key, format_fingerprint(der)


@contextmanager
def tls_site(tmp: Path, common_name: str = "Platform CA") -> Iterator[Site]:
    """A responder with TLS on two ports (certificate CN `common_name`) and plain TCP on one."""
    cert, key, fingerprint = _cert_files(tmp / common_name.replace(" ", "_"), common_name)
    https, ldaps, plain, closed = free_port(), free_port(), free_port(), free_port()
    config = ResponderConfig(
        listen="127.0.0.1",
        stamp_port=0,
        tcp_ports=(PortRange(plain, plain),),
        tls_ports=(PortRange(https, https), PortRange(ldaps, ldaps)),
        tls_cert=str(cert),
        tls_key=str(key),
    )
    responder = Responder(config, log=lambda _line: None)
    responder.start()
    try:
        yield Site(https, ldaps, plain, closed, fingerprint)
    finally:
        responder.stop()


def _profile(tmp: Path, site: Site, pins: str) -> Path:
    path = tmp / "tlstest.toml"
    text = PROFILE.format(
        https=site.https, ldaps=site.ldaps, plain=site.plain, closed=site.closed, pins=pins
    )
    path.write_text(text, encoding="utf-8")
    return path


def _check(tmp: Path, profile: Path, config: Path) -> tuple[int, dict[str, dict[str, object]]]:
    out = tmp / "r"
    proc = run_cli(
        "check", "--profile", str(profile), "--only", "tls.", "--out", str(out), config=config
    )
    assert (out / "report.json").exists(), proc.stderr
    doc = json.loads((out / "report.json").read_bytes())
    return proc.returncode, {c["id"]: c for c in doc["checks"]}


def test_probe_captures_handshake_chain_and_status_line(tmp_path: Path) -> None:
    with tls_site(tmp_path) as site:
        result = asyncio.run(probe_tls("127.0.0.1", site.https, http_request=True))
    assert result.connected and result.handshake_ok, result.error
    assert result.version.startswith("TLSv1.")
    assert result.cipher and result.alpn == "http/1.1"
    leaf = result.leaf
    assert leaf is not None
    assert leaf.subject == leaf.issuer == "CN=Platform CA"
    assert leaf.sha256 == site.fingerprint
    assert "IP:127.0.0.1" in leaf.sans
    assert result.verified is False and "self-signed" in result.verify_error
    assert result.http_status == "HTTP/1.1 200 OK"


def test_probe_plain_tcp_and_closed_port(tmp_path: Path) -> None:
    with tls_site(tmp_path) as site:
        plain = asyncio.run(probe_tls("127.0.0.1", site.plain, timeout_s=2.0))
        closed = asyncio.run(probe_tls("127.0.0.1", site.closed, timeout_s=2.0))
    assert plain.connected and not plain.handshake_ok and plain.error
    assert not closed.connected and "refused" in closed.error.lower()


def test_check_pinned_issuer_passes_and_reports_each_case(tmp_path: Path, config_dir: Path) -> None:
    with tls_site(tmp_path) as site:
        profile = _profile(tmp_path, site, 'expect_issuer = "Platform CA"')
        code, checks = _check(tmp_path, profile, config_dir)
    assert code == 1  # the plain port fails the handshake
    assert set(checks) == {"tls.https", "tls.ldaps", "tls.plain", "tls.closed"}
    https, ldaps = checks["tls.https"], checks["tls.ldaps"]
    assert https["status"] == "pass" and ldaps["status"] == "pass"
    port = https["evidence"]["per_port"][str(site.https)]  # type: ignore[index]
    assert port["http_status"] == "HTTP/1.1 200 OK"
    assert port["fingerprint"] == site.fingerprint and port["interception"] is False
    assert port["chain"][0]["issuer"] == "CN=Platform CA"
    assert "http_status" not in ldaps["evidence"]["per_port"][str(site.ldaps)]  # type: ignore[index]
    assert checks["tls.plain"]["status"] == "fail"
    assert str(checks["tls.plain"]["reason"]).startswith(f"TLS handshake failed on {site.plain}")
    assert checks["tls.closed"]["status"] == "not_tested"


def test_check_different_certificate_is_interception_on_every_port(
    tmp_path: Path, config_dir: Path
) -> None:
    with tls_site(tmp_path / "platform") as platform:
        pins = f'expect_sha256 = ["{platform.fingerprint}"]'
    with tls_site(tmp_path, common_name="FortiGate SSL Inspection") as firewall:
        profile = _profile(tmp_path, firewall, f'expect_issuer = "Platform CA"\n{pins}')
        code, checks = _check(tmp_path, profile, config_dir)
    assert code == 1
    for rule, port in (("https", firewall.https), ("ldaps", firewall.ldaps)):
        check = checks[f"tls.{rule}"]
        assert check["status"] == "fail"
        assert check["reason"] == (
            f"TLS interception: the certificate on {port} was issued by "
            "'CN=FortiGate SSL Inspection', expected 'Platform CA'"
        )
        evidence = check["evidence"]
        assert evidence["interception"] is True  # type: ignore[index]
        assert evidence["issuer_seen"] == "CN=FortiGate SSL Inspection"  # type: ignore[index]
        assert "TLS inspection" in str(check["remediation"])


def test_check_fingerprint_pin_alone(tmp_path: Path, config_dir: Path) -> None:
    with tls_site(tmp_path) as site:
        profile = _profile(tmp_path, site, f'expect_sha256 = ["{site.fingerprint.lower()}"]')
        _code, checks = _check(tmp_path, profile, config_dir)
    assert checks["tls.https"]["status"] == "pass"
    assert checks["tls.ldaps"]["status"] == "pass"


def _wait_tls(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def test_responder_cli_serves_tls_and_survives_garbage(tmp_path: Path, config_dir: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "netready",
            "responder",
            "--stamp-port",
            "0",
            "--tls-ports",
            str(port),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_tls(port)
        for junk in (b"\x16\x03\x01\xff\xff" + b"\x00" * 64, b"GET / HTTP/1.1\r\n\r\n", b""):
            with socket.create_connection(("127.0.0.1", port), 2.0) as s:
                s.sendall(junk)
                with suppress(OSError):
                    s.recv(64)
        result = asyncio.run(probe_tls("127.0.0.1", port, http_request=True))
        assert result.handshake_ok, result.error
        assert result.leaf is not None and result.leaf.issuer == "CN=netready responder"
        assert result.http_status == "HTTP/1.1 200 OK"
        banner = asyncio.run(probe_tls("127.0.0.1", port))
        assert banner.handshake_ok
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "1 TLS ports" in err


def test_responder_cli_refuses_a_cert_without_a_key(tmp_path: Path, config_dir: Path) -> None:
    cert, _key, _fp = _cert_files(tmp_path, "x")
    proc = run_cli(
        "responder", "--tls-ports", str(free_port()), "--tls-cert", str(cert), config=config_dir
    )
    assert proc.returncode == 2
    assert "--tls-key" in proc.stderr


@pytest.mark.parametrize("pins", ["expect_issuer = 3", 'expect_sha256 = "ab"', "nope = 1"])
def test_profile_rejects_bad_tls_params(tmp_path: Path, config_dir: Path, pins: str) -> None:
    site = Site(1, 2, 3, 4, "")
    proc = run_cli("check", "--profile", str(_profile(tmp_path, site, pins)), config=config_dir)
    assert proc.returncode == 2
    assert 'checks."tls"' in proc.stderr

"""Pure parts of the TLS probe and check: fingerprints, pins, certificate parsing, judging."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from netready.checks.tls import _judge, expected_text, server_name_for
from netready.checks.tls_params import TlsParams
from netready.model import CheckResult, PortRange, Rule, Status
from netready.probes.tls import (
    CertInfo,
    TlsProbeResult,
    cert_info,
    format_fingerprint,
    host_header,
    interception,
    normalize_fingerprint,
)
from netready.responder.tls_ports import self_signed_pem

LEAF = CertInfo(
    subject="CN=pbx.example.net",
    issuer="CN=Platform CA,O=stimme",
    sha256="AB:CD:EF:01",
    not_before="2025-01-01T00:00:00+00:00",
    not_after="2027-01-01T00:00:00+00:00",
)
RULE = Rule(
    name="ldaps",
    protocol="LDAPS",
    transport="tcp",
    ports=(PortRange(636, 636),),
    host="pbx",
    function="phone book",
    verify="ldaps",
    tls=True,
)


def test_fingerprint_is_colon_separated_upper_hex_sha256() -> None:
    fp = format_fingerprint(b"hello")
    assert fp.replace(":", "").lower() == hashlib.sha256(b"hello").hexdigest()
    assert len(fp.split(":")) == 32 and fp == fp.upper()


def test_normalize_fingerprint_accepts_any_spelling() -> None:
    assert normalize_fingerprint("AB:cd 01-ef") == "abcd01ef"
    assert normalize_fingerprint(format_fingerprint(b"x")) == hashlib.sha256(b"x").hexdigest()


def test_interception_nothing_pinned_never_flags() -> None:
    assert interception(LEAF) == ""
    assert interception(None) == ""


def test_interception_issuer_is_a_case_insensitive_substring() -> None:
    assert interception(LEAF, expect_issuer="platform ca") == ""
    reason = interception(LEAF, expect_issuer="Other CA")
    assert "CN=Platform CA,O=stimme" in reason and "Other CA" in reason


def test_interception_fingerprint_pins() -> None:
    assert interception(LEAF, expect_sha256=("abcdef01",)) == ""
    assert interception(LEAF, expect_sha256=("00", "ab:cd:ef:01")) == ""
    assert "not one of the 1 pinned" in interception(LEAF, expect_sha256=("ff",))


def test_interception_without_a_certificate_misses_a_pin() -> None:
    assert interception(None, expect_issuer="Platform") == "no certificate was presented"


def test_cert_info_parses_names_validity_and_sans() -> None:
    cert_pem, _key = self_signed_pem("netready responder", "127.0.0.1")
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)
    info = cert_info(der)
    assert info.subject == info.issuer == "CN=netready responder"
    assert info.sha256 == format_fingerprint(der)
    assert info.not_before < info.not_after
    assert set(info.sans) == {"DNS:netready-responder", "IP:127.0.0.1"}
    assert info.to_dict()["sans"] == list(info.sans)


def test_host_header_brackets_ipv6_and_adds_a_non_default_port() -> None:
    assert host_header("192.0.2.1", 443, None) == "192.0.2.1"
    assert host_header("2001:db8::1", 8443, None) == "[2001:db8::1]:8443"
    assert host_header("192.0.2.1", 4443, "pbx.example.net") == "pbx.example.net:4443"


def test_sni_only_for_names() -> None:
    assert server_name_for("192.0.2.1") is None
    assert server_name_for("fe80::1%eth0") is None
    assert server_name_for("pbx.example.net") == "pbx.example.net"


def _ok(port: int, leaf: CertInfo = LEAF) -> TlsProbeResult:
    return TlsProbeResult("192.0.2.1", port, connected=True, handshake_ok=True, chain=(leaf,))


def _run(params: TlsParams, probes: list[TlsProbeResult]) -> CheckResult:
    result = CheckResult(id="tls.ldaps", title="t", status=Status.NOT_TESTED)
    return _judge(result, params, probes, None)


def test_judge_pass_when_the_pin_matches() -> None:
    p = TlsParams(expect_issuer="Platform CA", rule=RULE, address="192.0.2.1")
    result = _run(p, [_ok(636)])
    assert result.status == Status.PASS and result.reason == ""
    assert result.evidence["interception"] is False
    assert result.evidence["per_port"]["636"]["fingerprint"] == "AB:CD:EF:01"


def test_judge_interception_names_the_seen_issuer_and_remediation() -> None:
    firewall = CertInfo("CN=pbx", "CN=FortiGate CA", "00:11", "a", "b")
    p = TlsParams(expect_issuer="Platform CA", rule=RULE, address="192.0.2.1")
    result = _run(p, [_ok(636, firewall)])
    assert result.status == Status.FAIL
    assert result.reason == (
        "TLS interception: the certificate on 636 was issued by 'CN=FortiGate CA', "
        "expected 'Platform CA'"
    )
    assert result.evidence["interception"] is True
    assert result.evidence["issuer_seen"] == "CN=FortiGate CA"
    assert "192.0.2.1" in result.remediation and "636" in result.remediation
    assert "inspection" in result.remediation


def test_judge_expected_text_for_fingerprint_pins() -> None:
    assert expected_text(TlsParams(expect_sha256=("aa", "bb"))) == (
        "a certificate with SHA-256 aa or bb"
    )


def test_judge_handshake_failure_and_not_connected() -> None:
    p = TlsParams(rule=RULE, address="192.0.2.1")
    bad = TlsProbeResult("192.0.2.1", 636, connected=True, error="the server does not speak TLS")
    result = _run(p, [bad])
    assert result.status == Status.FAIL
    assert result.reason.startswith("TLS handshake failed on 636: the server does not speak TLS")
    assert result.evidence["per_port"]["636"]["handshake"] == "failed"
    closed = TlsProbeResult("192.0.2.1", 636, error="TCP connect failed: Connection refused")
    result = _run(p, [closed])
    assert result.status == Status.NOT_TESTED
    assert "TCP did not connect on 636" in result.reason
    assert result.metrics["ports_not_tested"] == 1.0


def test_tls_ports_are_taken_out_of_the_plain_tcp_ports() -> None:
    from netready.responder.config import subtract_ranges

    got = subtract_ranges((PortRange(1, 10), PortRange(20, 20)), (PortRange(3, 4), PortRange(8, 8)))
    assert got == (PortRange(1, 2), PortRange(5, 7), PortRange(9, 10), PortRange(20, 20))
    assert subtract_ranges((PortRange(443, 443),), (PortRange(443, 443),)) == ()

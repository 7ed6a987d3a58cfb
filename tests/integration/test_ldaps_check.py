"""The `ldaps.<rule>` check against a real slapd (LDAPS, phone book of three people).

"The platform" is slapd with a certificate issued by ldap.netready.test; "the inspecting
firewall" is a second slapd whose certificate comes from another issuer. Secrets: results
as the report holds them and the captured logs are grepped for the passwords.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from netready.checks.base import RunContext
from netready.checks.ldaps import LdapsCheck, plan_ldaps
from netready.checks.ldaps_params import BIND_DN_ENV, PASSWORD_ENV, LdapsParams
from netready.model import CheckResult, PortRange, Rule, Status
from netready.profile import load_profile
from netready.resources import data_dir
from tests.conftest import free_port
from tests.integration.slapd import PEOPLE, SlapdServer, slapd

ISSUER = "ldap.netready.test"
ALICE_PW = "Al1ce-ldap-pw-5e1d"
ADMIN_PW = "Adm1n-ldap-pw-c0de"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdServer]:
    tmp = tmp_path_factory.mktemp("slapd")
    with slapd(tmp, common_name=ISSUER, admin_password=ADMIN_PW, people_password=ALICE_PW) as s:
        yield s


def _ldaps(port: int, **kw: object) -> CheckResult:
    rule = Rule(
        "ldaps-external",
        "LDAPS",
        "tcp",
        (PortRange(port, port),),
        "services",
        "phone book, external",
        "ldaps",
        tls=True,
    )
    given: dict[str, object] = {"base_dn": PEOPLE, "expect_issuer": ISSUER, "timeout_s": 3.0, **kw}
    params = LdapsParams(rule=rule, address="127.0.0.1", **given)  # type: ignore[arg-type]
    ctx = RunContext(progress=lambda _f, _m: None)
    return asyncio.run(LdapsCheck().run("ldaps.ldaps-external", params, ctx))


def _no_secret(tmp: Path, results: list[CheckResult], logs: str) -> None:
    report = tmp / "report.json"
    report.write_text(json.dumps([r.to_dict() for r in results]), encoding="utf-8")
    text = report.read_text(encoding="utf-8") + logs
    assert ALICE_PW not in text and ADMIN_PW not in text


def test_anonymous_search_of_the_phone_book(
    server: SlapdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BIND_DN_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    r = _ldaps(server.ldaps_port)
    assert r.status == Status.PASS, r.reason
    port = str(server.ldaps_port)
    ev = r.evidence["per_port"][port]
    assert ev["handshake"] == "ok" and ev["interception"] is False
    assert ev["issuer"] == f"CN={ISSUER}" and ev["ldap"]["bind_as"] == "anonymous"
    assert r.metrics[f"entries_{port}"] == 4  # ou=people and three people
    assert 0 < r.metrics[f"first_result_ms_{port}"] <= r.metrics[f"search_ms_{port}"]
    assert "bound as anonymous, 4 entries" in r.reason


def test_bind_with_credentials_from_the_environment(
    server: SlapdServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(BIND_DN_ENV, f"uid=alice,{PEOPLE}")
    monkeypatch.setenv(PASSWORD_ENV, ALICE_PW)
    good = _ldaps(server.ldaps_port, search_filter="(uid=bob)")
    assert good.status == Status.PASS, good.reason
    assert good.metrics[f"entries_{server.ldaps_port}"] == 1
    monkeypatch.setenv(PASSWORD_ENV, "not-" + ALICE_PW)
    bad = _ldaps(server.ldaps_port)
    assert bad.status == Status.FAIL and "rejected" in bad.reason
    assert "invalidCredentials" in bad.reason and BIND_DN_ENV in bad.remediation
    monkeypatch.setenv(BIND_DN_ENV, server.admin_dn)
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PW)
    admin = _ldaps(server.ldaps_port)
    assert admin.status == Status.PASS, admin.reason
    out, err = capfd.readouterr()
    _no_secret(tmp_path, [good, bad, admin], caplog.text + out + err)


def test_certificate_from_another_issuer_is_interception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BIND_DN_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with slapd(tmp_path, common_name="Fortigate SSL Inspection CA") as firewall:
        r = _ldaps(firewall.ldaps_port)
    assert r.status == Status.FAIL
    assert "TLS interception" in r.reason and "Fortigate SSL Inspection CA" in r.reason
    assert f"expected '{ISSUER}'" in r.reason and "no-decrypt" in r.remediation
    assert r.evidence["per_port"][str(firewall.ldaps_port)]["interception"] is True


def test_wrong_base_and_closed_port(server: SlapdServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BIND_DN_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    r = _ldaps(server.ldaps_port, base_dn="ou=nobody,dc=netready,dc=test")
    assert r.status == Status.FAIL and "noSuchObject" in r.reason
    closed = _ldaps(free_port())
    assert closed.status == Status.NOT_TESTED and "TCP did not connect" in closed.reason


def test_plan_for_stimme() -> None:
    plan = plan_ldaps(load_profile(data_dir("profiles") / "stimme.toml"))
    assert [p.id for p in plan] == ["ldaps.ldaps-external", "ldaps.ldaps-internal"]
    assert plan[1].params.address == "46.189.64.189"


def test_paging_page_by_page_and_the_entry_bound(server: SlapdServer) -> None:
    """The probe's own paging loop against a real slapd: one entry a page, all four read;
    with size_limit=2 it stops at two."""
    from netready.probes.ldaps import ldap_search

    r = ldap_search("127.0.0.1", server.ldaps_port, base_dn=server.people, page_size=1)
    assert (r.stage, r.entries, r.result_code, r.error) == ("done", 4, "success", "")
    r = ldap_search(
        "127.0.0.1", server.ldaps_port, base_dn=server.people, page_size=1, size_limit=2
    )
    assert (r.stage, r.entries) == ("done", 2)

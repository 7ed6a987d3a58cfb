"""netready against the field topology (tests/netns/field.py): real servers on the platform's
addresses, the responder on its own, a site firewall by address and port (root only).

The real stimme profile (extended only to shorten the NAT idle test) with every host remapped.
Three runs share one lab: an open network, a chosen blocked set, and no responder at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netready.engine.reconcile import parse_ranges
from tests.conftest import assert_valid_report, require_root, require_tool
from tests.netns.field import BLOCKED, PBX, RESPONDER, STUN, FieldLab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldLab]:
    require_root()
    for tool in ("nginx", "slapd", "turnserver", "kamailio", "nft"):
        require_tool(tool, "./run test installs it")
    with FieldLab(tmp_path_factory.mktemp("field")) as field:
        yield field


def _run(lab: FieldLab, tmp: Path, *, responder: bool) -> tuple[int, dict[str, Any], str]:
    proc, out = lab.site_check(tmp, "report", responder=responder)
    assert (out / "report.json").is_file(), proc.stderr
    assert_valid_report(out / "report.json")
    return proc.returncode, json.loads((out / "report.json").read_text()), proc.stderr


def _checks(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in doc["checks"]}


def _contradictions(doc: dict[str, Any]) -> list[str]:
    """Ports a firewall check calls blocked that another check reached at that address."""
    reached = {k: c["id"] for c in doc["checks"] for k in c["evidence"].get("reached", [])}
    found = []
    for c in doc["checks"]:
        ev = c["evidence"]
        if not c["id"].startswith("firewall.") or not isinstance(ev.get("ports"), dict):
            continue
        for port in parse_ranges(ev["ports"]["blocked"]):
            for addr in {ev.get("destination"), ev.get("host_address")} - {None}:
                by = reached.get(f"{ev['transport']}/{addr}:{port}")
                if by and by != c["id"]:
                    found.append(f"{c['id']} blocks {port} at {addr}, reached by {by}")
    return found


def test_open_network_passes_with_every_rule_decided(lab: FieldLab, tmp_path: Path) -> None:
    lab.clear()
    rc, doc, stderr = _run(lab, tmp_path, responder=True)
    checks = _checks(doc)
    not_passed = {i: (c["status"], c["reason"]) for i, c in checks.items()}
    not_passed = {i: v for i, v in not_passed.items() if v[0] not in ("pass", "skipped")}
    assert (rc, doc["verdict"]) == (0, "PASS"), f"{not_passed}\n{stderr[-3000:]}"
    firewall = {i: c for i, c in checks.items() if i.startswith("firewall.")}
    assert len(firewall) == 14
    for check_id, c in firewall.items():
        assert c["status"] == "pass", (check_id, c["reason"])
        assert c["method"] and c["evidence"]["destination"], check_id  # how, and where
    assert firewall["firewall.stun-udp"]["method"] == "stun-binding to the host"
    assert firewall["firewall.stun-udp"]["evidence"]["destination"] == STUN
    assert firewall["firewall.sip-udp"]["method"] == "sip-options to the host"
    for media in ("rtp", "video", "app-sharing"):
        c = firewall[f"firewall.{media}"]
        assert c["method"] == "udp-echo via netready responder standing in for the host"
        assert c["evidence"]["destination"] == RESPONDER
        assert c["evidence"]["host_address"] == PBX
        assert f"only if the site allows it like {RESPONDER}" in c["reason"]
        assert c["evidence"]["egress_to_host"]["tested"] is True
    assert _contradictions(doc) == []


def test_blocked_set_is_exactly_what_the_firewall_blocks(lab: FieldLab, tmp_path: Path) -> None:
    lab.clear()
    lab.block_the_set()
    try:
        rc, doc, stderr = _run(lab, tmp_path, responder=True)
    finally:
        lab.clear()
    assert (rc, doc["verdict"]) == (1, "FAIL"), stderr[-3000:]
    checks = _checks(doc)
    blocked = {
        i: c["evidence"]["ports"]["blocked"]
        for i, c in checks.items()
        if i.startswith("firewall.") and c["evidence"]["ports"]["blocked"]
    }
    assert blocked == BLOCKED
    assert all(checks[i]["status"] == "fail" for i in BLOCKED)
    others = [i for i, c in checks.items() if i.startswith("firewall.") and i not in BLOCKED]
    assert all(checks[i]["status"] == "pass" for i in others), others
    # the service checks agree with the firewall verdict on 3478/udp
    assert checks["stun.stun-udp"]["status"] == "fail"
    assert "the port is let out, but not to " + STUN in checks["firewall.stun-udp"]["reason"]
    assert "no answer: a firewall drops it" in checks["firewall.ldaps-internal"]["reason"]
    assert "refused (reset)" in checks["firewall.https-update-backup"]["reason"]
    assert "TCP reset" in checks["firewall.https-update-backup"]["remediation"]
    assert f"to {PBX} port 50040-50049" in checks["firewall.video"]["remediation"]
    assert _contradictions(doc) == []


def test_without_responder_services_decide_and_media_is_not_tested(
    lab: FieldLab, tmp_path: Path
) -> None:
    lab.clear()
    rc, doc, stderr = _run(lab, tmp_path, responder=False)
    assert (rc, doc["verdict"]) == (3, "INCOMPLETE"), stderr[-3000:]
    checks = _checks(doc)
    assert checks["firewall.stun-udp"]["status"] == "pass"
    assert checks["firewall.stun-udp"]["method"] == "stun-binding to the host"
    assert checks["firewall.sip-udp"]["status"] == "pass"
    for media in ("rtp", "video", "app-sharing"):
        c = checks[f"firewall.{media}"]
        assert c["status"] == "not_tested", (media, c["reason"])
        assert c["evidence"]["destination"] == PBX
        assert "egress_only" in c["evidence"], c["reason"]  # what the edge let out is shown
    assert not [c for c in doc["checks"] if c["status"] == "fail"]
    assert _contradictions(doc) == []


def test_no_route_is_a_finding_on_every_check_never_an_internal_error(
    lab: FieldLab, tmp_path: Path
) -> None:
    """The site has no route to the platform (a badly wired site): every check says so."""
    lab.clear()
    lab.ip("site", "route", "del", "203.0.113.0/24")
    try:
        rc, doc, stderr = _run(lab, tmp_path, responder=True)
    finally:
        lab.ip("site", "route", "add", "203.0.113.0/24", "via", lab.fw_ip)
    assert (rc, doc["verdict"]) == (1, "FAIL"), stderr[-3000:]
    checks = _checks(doc)
    errors = {i: c["reason"] for i, c in checks.items() if c["status"] == "error"}
    assert errors == {}, errors
    assert not any("internal error" in c["reason"] for c in doc["checks"])
    voice = checks["media.voice"]
    assert voice["status"] in ("fail", "not_tested") and "unreachable" in voice["reason"], voice
    assert "default route" in checks["firewall.https-mypbx"]["remediation"]
    assert "unreachable" in checks["firewall.https-mypbx"]["reason"]
    assert "unreachable" in checks["firewall.rtp"]["reason"], checks["firewall.rtp"]["reason"]

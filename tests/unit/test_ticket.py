"""Support ticket: the five fault-report items, the priority suggestion, the verified bundle."""

from __future__ import annotations

import copy
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from netready.checks.voice import limits_for
from netready.engine.runner import RunOutcome
from netready.errors import UsageError
from netready.metrics.stats import voice_metrics
from netready.model import CheckResult, Status
from netready.probes.voice import VoiceRun, VoiceSample
from netready.profile import load_profile
from netready.report.document import build_report
from netready.report.files import canonical_bytes, trusted_comment
from netready.report.signing import SecretKey, sign
from netready.report.ticket import build_ticket
from netready.report.ticket_bundle import make_ticket_bundle, slug
from netready.report.ticket_priority import port_count, suggest_priority
from netready.report.ticket_texts import FIELDS
from netready.resources import data_dir

MS = 1_000_000
BASE_NS = 1_795_000_000 * 10**9
LAB = load_profile(data_dir("profiles") / "lab.toml")
SITE = {"customer": "Müller GmbH", "site": "Köln HQ", "installer": "J. Doe", "ticket": "4711"}
ENV = {"os": "Linux", "local_addresses": [], "dns_servers": [], "public_address": None}


def _voice_run(packets: int = 100) -> VoiceRun:
    samples = []
    for i in range(packets):
        t1 = BASE_NS + i * 20 * MS
        s = VoiceSample(i, t1, t1, reflector_seq=i, arrival_index=i)
        s.t2_ns = t1 + (20 + i % 3) * MS
        s.t3_ns = s.t2_ns + 40_000
        s.t4_ns = s.t3_ns + 21 * MS
        samples.append(s)
    end = BASE_NS + packets * 20 * MS
    return VoiceRun(samples, 50, 172, 46, False, False, "kernel", BASE_NS, end)


def _results() -> list[CheckResult]:
    metrics, evidence = voice_metrics(_voice_run())
    voice = CheckResult(
        "media.voice",
        "Voice path: delay, jitter and loss per direction",
        Status.PASS,
        method="stamp (RFC 8762, stateful reflector, per direction)",
        metrics=metrics,
        limits=limits_for(LAB.targets),
        evidence={"destination": "127.0.0.1:26385", **evidence},
    )
    out = [voice]
    for rule in LAB.rules:
        ports = ",".join(str(p) for p in rule.ports)
        out.append(
            CheckResult(
                f"firewall.{rule.name}",
                f"Firewall: {rule.protocol} {rule.transport.upper()}/{ports} to {rule.host}",
                Status.PASS,
                method="tcp-connect" if rule.transport == "tcp" else "udp-echo",
                metrics={"ports_open": float(rule.port_count())},
                evidence={
                    "address": "127.0.0.1",
                    "ports": {"open": ports, "blocked": "", "not_tested": ""},
                },
            )
        )
    return out


def pass_doc() -> dict[str, Any]:
    """A PASS report document as the lab profile's run would write it (round-tripped JSON)."""
    outcome = RunOutcome(_results(), False, "2026-11-21T10:00:00.000Z", "2026-11-21T10:00:09.500Z")
    env = {**ENV, "nat_behaviour": None}
    doc: dict[str, Any] = json.loads(canonical_bytes(build_report(LAB, SITE, outcome, env)))
    assert doc["verdict"] == "PASS"
    return doc


def _check(doc: dict[str, Any], cid: str) -> dict[str, Any]:
    check: dict[str, Any] = next(c for c in doc["checks"] if c["id"] == cid)
    return check


def block(doc: dict[str, Any], rule: str, blocked: str, open_: str = "") -> dict[str, Any]:
    """Edit a firewall rule of the document to fail with these ports blocked."""
    c = _check(doc, f"firewall.{rule}")
    c["status"], c["reason"] = "fail", f"blocked: {blocked}"
    c["evidence"]["ports"] = {"open": open_, "blocked": blocked, "not_tested": ""}
    c["remediation"] = f"firewall rule: allow out proto udp to 127.0.0.1 port {blocked}"
    c["evidence"]["remediation_de"] = (
        f"Firewall-Regel: allow out proto udp to 127.0.0.1 port {blocked}"
    )
    doc["verdict"] = "FAIL"
    return doc


def fail_voice(doc: dict[str, Any], metric: str, value: float) -> dict[str, Any]:
    c = _check(doc, "media.voice")
    c["status"], c["metrics"][metric] = "fail", value
    c["reason"] = f"{metric} = {value:.2f}, limit {c['limits'][metric]['op']} 150"
    c["remediation"] = "Give voice traffic priority (QoS)"
    doc["verdict"] = "FAIL"
    return doc


# ---- priority ----


def test_pass_suggests_3_with_no_impairment_measured() -> None:
    s = suggest_priority(pass_doc())
    assert s.level == 3 and [f.kind for f in s.findings] == ["all_met"]


def test_voice_targets_not_met_suggest_2() -> None:
    s = suggest_priority(fail_voice(pass_doc(), "delay_up_ms", 180.5))
    assert s.level == 2
    assert s.findings[0].kind == "voice_targets" and "delay_up_ms = 180.50" in s.findings[0].detail


def test_fully_blocked_rule_is_2_a_few_blocked_ports_are_3_most_are_2() -> None:
    assert suggest_priority(block(pass_doc(), "video", "25000-25010")).level == 2
    few = suggest_priority(block(pass_doc(), "rtp", "26481-26483", "26384-26480"))
    assert few.level == 3 and few.findings[0].kind == "partly_blocked"
    assert few.findings[0].detail == "26481-26483: 3/100"
    most = suggest_priority(block(pass_doc(), "rtp", "26384-26450", "26451-26483"))
    assert most.level == 2 and most.findings[0].kind == "mostly_blocked"


def test_most_severe_finding_decides_and_all_are_listed() -> None:
    doc = block(block(pass_doc(), "rtp", "26483", "26384-26482"), "video", "25000-25010")
    s = suggest_priority(doc)
    assert s.level == 2
    assert [f.kind for f in s.findings] == ["function_down", "partly_blocked"]


def test_nothing_open_anywhere_and_no_voice_is_general_outage_1() -> None:
    doc = pass_doc()
    for rule in LAB.rules:
        block(doc, rule.name, ",".join(str(p) for p in rule.ports))
    voice = _check(doc, "media.voice")
    voice["status"], voice["reason"] = "not_tested", "the responder did not answer within 1 s"
    s = suggest_priority(doc)
    assert s.level == 1 and s.findings[0].kind == "no_connectivity"
    assert "firewall.rtp" in s.findings[0].detail


def test_one_blocked_rule_alone_is_no_general_outage() -> None:
    doc = block(pass_doc(), "https-mypbx", "18443")
    doc["checks"] = [_check(doc, "firewall.https-mypbx")]  # like --only firewall.https-mypbx
    assert suggest_priority(doc).level == 2


def test_incomplete_suggests_3_and_names_what_was_not_measured() -> None:
    doc = pass_doc()
    voice = _check(doc, "media.voice")
    voice["status"], voice["reason"] = "not_tested", "no responder given"
    doc["verdict"], doc["interrupted"] = "INCOMPLETE", True
    s = suggest_priority(doc)
    assert s.level == 3 and s.findings[0].kind == "not_measured"
    assert s.findings[0].detail == "the run was interrupted; media.voice (not_tested)"


def test_port_count() -> None:
    assert port_count("") == 0
    assert port_count("5060,16384-32767") == 1 + 16384


# ---- text ----


@pytest.mark.parametrize("lang", ["en", "de"])
def test_the_five_fault_report_items_in_the_documents_order(lang: str) -> None:
    text = build_ticket(block(pass_doc(), "video", "25000-25010"), lang)
    positions = [text.index(f"{n}. {heading}\n") for n, heading in enumerate(FIELDS[lang], 1)]
    assert positions == sorted(positions)
    assert len(FIELDS[lang]) == 5


def test_header_carries_site_fields_and_signature() -> None:
    text = build_ticket(pass_doc(), "en", signature="verified, key ID ABCD (SHA256:x)")
    for line in (
        "Customer:            Müller GmbH",
        "Site:                Köln HQ",
        "Address:             -",
        "Installer / contact: J. Doe",
        "Ticket:              4711",
        "Signature:           verified, key ID ABCD (SHA256:x)",
        "Verdict:             PASS (every requirement met)",
    ):
        assert line in text
    assert "Measured from 2026-11-21T10:00:00.000Z to 2026-11-21T10:00:09.500Z (UTC, 9.5 s)" in text
    assert "voice stream 2.0 s" in text


def test_pass_text_says_priority_3_can_only_suggest_and_network_unlikely() -> None:
    text = build_ticket(pass_doc())
    assert "Suggested priority: 3 (non-critical or sporadic fault), response time 32 h" in text
    assert "A measurement can only suggest a priority" in text
    assert "unlikely to be the cause" in text


def test_fail_text_measured_vs_target_per_direction() -> None:
    text = build_ticket(fail_voice(pass_doc(), "delay_up_ms", 180.5))
    assert "Suggested priority: 2 (critical fault), response time 16 h" in text
    rows = {line.split()[0]: line for line in text.splitlines() if "(p95)" in line}
    delay = rows["delay"].split()
    assert delay[2:4] == ["180.500", "ms"] and "NOT MET" in rows["delay"]
    assert "<= 150 ms" in rows["delay"]
    assert "One-way delay estimated as RTT/2" in text
    jitter = next(line for line in text.splitlines() if line.strip().startswith("jitter ("))
    assert jitter.rstrip().endswith("ok")
    assert "excludes faults caused by the customer's network" in text
    assert "  - media.voice: Give voice traffic priority (QoS)" in text


def test_blocked_ports_and_remediation_in_both_languages() -> None:
    doc = block(pass_doc(), "video", "25000-25010")
    en, de = build_ticket(doc, "en"), build_ticket(doc, "de")
    assert "open: -; blocked: 25000-25010; not tested: -" in en
    assert "firewall.video: every port blocked (25000-25010)" in en
    assert "allow out proto udp to 127.0.0.1 port 25000-25010" in en
    assert "offen: -; gesperrt: 25000-25010; nicht getestet: -" in de
    assert "Vorgeschlagene Priorität: 2 (Kritischer Fehler), Antwortzeit 16 Stunden" in de
    assert "Firewall-Regel: allow out proto udp" in de
    assert "Betroffene Server: 127.0.0.1 (firewall.video)" in de


def test_incomplete_text_lists_what_was_not_measured() -> None:
    doc = pass_doc()
    voice = _check(doc, "media.voice")
    voice["status"], voice["reason"], voice["metrics"] = "not_tested", "no responder given", {}
    doc["verdict"] = "INCOMPLETE"
    text = build_ticket(doc)
    assert "Not measured:" in text and "media.voice (not_tested)" in text
    assert "media.voice: not_tested: no responder given" in text
    assert "could not be decided" in text


def test_text_is_deterministic_and_rejects_unknown_language() -> None:
    doc = block(pass_doc(), "rtp", "26483", "26384-26482")
    assert build_ticket(copy.deepcopy(doc), "de") == build_ticket(doc, "de")
    with pytest.raises(ValueError, match="lang"):
        build_ticket(doc, "fr")


# ---- bundle (signed files on disk, no network) ----


def write_signed(doc: dict[str, Any], folder: Path, key: SecretKey) -> Path:
    """report.json, its minisig and netready.pub, as `netready check` writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    data = canonical_bytes(doc)
    (folder / "report.json").write_bytes(data)
    (folder / "report.json.minisig").write_text(sign(data, key, trusted_comment(doc)))
    (folder / "netready.pub").write_text(key.public_key().to_text())
    return folder / "report.json"


@pytest.fixture
def key() -> SecretKey:
    return SecretKey.generate()


def test_bundle_next_to_report_with_verified_files(tmp_path: Path, key: SecretKey) -> None:
    report = write_signed(block(pass_doc(), "video", "25000-25010"), tmp_path / "r", key)
    (report.parent / "report.html").write_text("<html>FAIL-TAMPERED</html>")  # not signed
    archive = make_ticket_bundle(report)
    assert archive == report.parent / "ticket-koeln-hq-2026-11-21.zip"
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert names == [
            f"ticket-koeln-hq-2026-11-21/{n}"
            for n in (
                "netready.pub",
                "report.html",
                "report.json",
                "report.json.minisig",
                "ticket.de.txt",
                "ticket.txt",
            )
        ]
        assert all(i.date_time == (2026, 11, 21, 10, 0, 8) for i in zf.infolist())
        root = "ticket-koeln-hq-2026-11-21/"
        assert zf.read(root + "report.json") == report.read_bytes()
        ticket = zf.read(root + "ticket.txt").decode("utf-8")
        html = zf.read(root + "report.html").decode("utf-8")
        contents = b"".join(zf.read(n) for n in names)
    assert "FAIL-TAMPERED" not in html and "<svg" in html  # rendered anew from the verified JSON
    assert ticket.startswith("Fault report (support ticket)")
    assert f"verified, key ID {key.public_key().key_id_hex}" in ticket
    assert "Suggested priority: 2" in ticket
    assert key.to_text().encode() not in contents  # the secret key never leaves its folder


def test_bundle_is_byte_for_byte_deterministic(tmp_path: Path, key: SecretKey) -> None:
    report = write_signed(pass_doc(), tmp_path / "r", key)
    first = make_ticket_bundle(report).read_bytes()
    assert make_ticket_bundle(report).read_bytes() == first


def test_bundle_german_first_and_tar_gz(tmp_path: Path, key: SecretKey) -> None:
    report = write_signed(pass_doc(), tmp_path / "r", key)
    out = make_ticket_bundle(report, tmp_path / "t.tar.gz", lang="de")
    with tarfile.open(out) as tf:
        names = tf.getnames()
        ticket = tf.extractfile("t/ticket.txt")
        english = tf.extractfile("t/ticket.en.txt")
        assert ticket is not None and english is not None
        assert ticket.read().decode().startswith("Fehlermeldung (Support-Ticket)")
        assert english.read().decode().startswith("Fault report")
    assert "t/report.html" in names  # always rendered from the verified report
    assert sorted(names) == names


def test_an_archive_name_cannot_climb_out_of_its_folder(tmp_path: Path, key: SecretKey) -> None:
    report = write_signed(pass_doc(), tmp_path / "r", key)
    out = make_ticket_bundle(report, tmp_path / "...zip")
    with zipfile.ZipFile(out) as zf:
        assert all(n.startswith("ticket/") for n in zf.namelist()), zf.namelist()


def test_tampered_report_is_refused_naming_the_file(tmp_path: Path, key: SecretKey) -> None:
    report = write_signed(pass_doc(), tmp_path / "r", key)
    report.write_bytes(report.read_bytes().replace(b"4711", b"4712"))
    with pytest.raises(UsageError) as err:
        make_ticket_bundle(report)
    message = str(err.value)
    assert message.startswith(f"{report}: does not verify (signature: FAILED")
    assert "\n" not in message
    assert list(report.parent.glob("ticket-*")) == []


def test_other_key_is_refused(tmp_path: Path, key: SecretKey) -> None:
    report = write_signed(pass_doc(), tmp_path / "r", key)
    other = tmp_path / "other.pub"
    other.write_text(SecretKey.generate().public_key().to_text())
    with pytest.raises(UsageError, match="does not verify"):
        make_ticket_bundle(report, public_key=other)


def test_bad_out_name_and_missing_folder(tmp_path: Path, key: SecretKey) -> None:
    report = write_signed(pass_doc(), tmp_path / "r", key)
    with pytest.raises(UsageError, match=r"must end in \.zip, \.tar\.gz or \.tgz"):
        make_ticket_bundle(report, tmp_path / "ticket.txt")
    with pytest.raises(UsageError, match="does not exist"):
        make_ticket_bundle(report, tmp_path / "nope" / "t.zip")


def test_zip_entries_are_readable_text(tmp_path: Path, key: SecretKey) -> None:
    report = write_signed(pass_doc(), tmp_path / "r", key)
    with zipfile.ZipFile(io.BytesIO(make_ticket_bundle(report).read_bytes())) as zf:
        for info in zf.infolist():
            assert info.external_attr >> 16 == 0o100644
            assert zf.testzip() is None


def test_slug() -> None:
    assert slug("Köln HQ / Müller & Söhne") == "koeln-hq-mueller-soehne"
    assert slug("  ") == "site"
    assert slug("x" * 60) == "x" * 40


def test_stun_fallback_says_directions_were_not_separated() -> None:
    doc = pass_doc()
    voice = _check(doc, "media.voice")
    voice["method"] = "stun-rtt (round trip only; directions could not be separated)"
    voice["evidence"] = {"method": "stun-rtt", "directions_separated": False, "server": "x:3478"}
    text = build_ticket(doc)
    assert "media.voice (stun-rtt (round trip only" in text
    assert "Directions could not be separated (STUN round trip only)" in text
    assert "One-way delay" not in text


def test_control_characters_in_site_fields_stay_on_one_line() -> None:
    doc = pass_doc()
    doc["site"]["site"] = "Köln\tHQ\nFloor 2"
    text = build_ticket(doc)
    assert "Site:                Köln HQ Floor 2\n" in text
    assert "Site: Müller GmbH / Köln HQ Floor 2\n" in text

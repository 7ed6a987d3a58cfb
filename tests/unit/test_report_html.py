"""The human report: one self-contained HTML page (en/de) rendered from the signed document alone.

The documents here are built with the real metric code (engine.stats.voice_metrics, the voice
check's judging, the firewall check's texts) from synthetic samples, so the page is tested
against what a run really writes. No network, no subprocess.
"""

from __future__ import annotations

import copy
import json
import random
import re
import string
import sys
from typing import Any

import pytest
import rfc8785

from netready.checks.firewall import remediation as firewall_remediation
from netready.checks.firewall import rule_title as firewall_title
from netready.checks.voice import _judge, limits_for, statistics_for
from netready.checktexts import text, texts
from netready.metrics.stats import JITTER_WARMUP_PACKETS, voice_metrics
from netready.model import CheckResult, Limit, PortRange, Rule, Status, Target
from netready.probes.voice import VoiceRun, VoiceSample
from netready.report import pdf, series, svg
from netready.report import texts as report_texts
from netready.report.html import render_html
from netready.report.signing import SecretKey

KEY = SecretKey.generate().public_key()
START_NS = 1_795_313_879_000_000_000
TARGETS = (
    Target("delay_ms", Limit("<=", 150.0), "p95"),
    Target("jitter_ms", Limit("<=", 20.0), "running_max"),
    Target("loss_pct", Limit("<", 1.0), "whole_run"),
)
RULES = (
    Rule("https-mypbx", "HTTPS", "tcp", (PortRange(443, 443),), "pbx", "myPBX client", "tls"),
    Rule("rtp", "RTP", "udp", (PortRange(16384, 32767),), "pbx", "voice", "echo"),
    Rule("video", "Video", "udp", (PortRange(50000, 50100),), "pbx", "video telephony", "echo"),
)
HOSTS = {"pbx": "192.0.2.10", "stun": "192.0.2.20"}
UP_LOST = {100, 101, 102, 700}
DOWN_LOST = {300, 301, 900}


def voice_run(
    count: int = 1500, up_ms: float = 20.0, down_ms: float = 25.0, measured: bool = True
) -> VoiceRun:
    """A 50 packets/s stream with noise, two delay spikes, and losses on both paths."""
    rng = random.Random(7)
    samples, at_reflector = [], 0
    for seq in range(count):
        scheduled = START_NS + seq * 20_000_000
        t1 = scheduled + rng.randint(5_000, 80_000)
        sample = VoiceSample(seq=seq, scheduled_ns=scheduled, t1_ns=t1)
        samples.append(sample)
        if seq in UP_LOST:
            continue
        reflector_seq, at_reflector = at_reflector, at_reflector + 1
        if seq in DOWN_LOST:
            continue
        spike = 12_000_000 if seq in (400, 401, 402) else 0
        t2 = t1 + int(up_ms * 1e6) + rng.randint(0, 3_000_000) + spike
        t3 = t2 + 40_000
        t4 = t3 + int(down_ms * 1e6) + rng.randint(0, 2_000_000)
        sample.t2_ns, sample.t3_ns, sample.t4_ns = t2, t3, t4
        sample.reflector_seq = reflector_seq
        sample.dscp_at_reflector = sample.dscp_received = 46
        sample.cos_rp = 0
    arrived = sorted((s for s in samples if s.t4_ns is not None), key=lambda s: s.t4_ns or 0)
    for index, s in enumerate(arrived):
        s.arrival_index = index
    return VoiceRun(
        samples=samples,
        rate_pps=50,
        payload_bytes=172,
        dscp=46,
        local_clock_synchronised=measured,
        remote_clock_synchronised=measured,
        timestamp_source="kernel",
        started_ns=START_NS,
        finished_ns=START_NS + count * 20_000_000,
    )


def voice_check(run: VoiceRun) -> dict[str, Any]:
    """The media.voice check as the voice check writes it, judged by its own code."""
    metrics, evidence = voice_metrics(run, **statistics_for(TARGETS))
    result = CheckResult(
        id="media.voice", title=text("media.voice", "title"), status=Status.NOT_TESTED
    )
    result.limits = limits_for(TARGETS)
    result.method = "stamp (RFC 8762, stateful reflector, per direction)"
    result.metrics = metrics
    result.evidence = {"destination": "192.0.2.10:16500", "pacing_realtime": False, **evidence}
    _judge(result, False)
    return result.to_dict()


def firewall_check(rule: Rule, blocked: str = "", open_: str = "") -> dict[str, Any]:
    address = HOSTS[rule.host]
    planned = ",".join(str(p) for p in rule.ports)
    check = CheckResult(
        id=f"firewall.{rule.name}", title=firewall_title(rule), status=Status.PASS
    ).to_dict()
    check["method"] = "udp-echo via netready responder"
    check["evidence"] = {
        "address": address,
        "ports": {"open": open_ or planned, "blocked": blocked, "not_tested": ""},
    }
    if blocked:
        check["status"] = "fail"
        check["reason"] = f"UDP port(s) to {address} did not answer: {blocked}"
        check["remediation"] = firewall_remediation(rule, address, blocked)
        check["evidence"]["remediation_de"] = firewall_remediation(rule, address, blocked, "de")
    return check


def other_checks(fail: bool) -> list[dict[str, Any]]:
    """TLS, DNS, TURN, SIP ALG; with `fail` TLS is intercepted, TURN untested, SIP an error."""
    tls_title = text(
        "tls", "title", protocol="HTTPS", ports="443", host="pbx", function="myPBX client"
    )
    tls_fix = text("tls", "remediation", address="192.0.2.10", ports="443", function="myPBX client")
    checks = [
        {
            "id": "tls.https-mypbx",
            "title": tls_title,
            "status": "fail",
            "method": "tls-handshake + GET /",
            "metrics": {"ports_intercepted": 1.0, "handshake_ms_max": 31.5},
            "limits": {},
            "evidence": {
                "address": "192.0.2.10",
                "interception": True,
                "per_port": {
                    "443": {
                        "handshake": "ok",
                        "version": "TLSv1.3",
                        "cipher": "TLS_AES_256_GCM_SHA384",
                        "issuer": "CN=Corporate Inspection CA",
                        "fingerprint": "AB:CD:EF",
                        "verified_by_system_cas": False,
                        "verify_error": "unable to get local issuer certificate",
                        "interception": True,
                        "chain": [{"subject": "CN=x", "issuer": "CN=y"}],
                    }
                },
            },
            "reason": "the certificate on port 443 is issued by 'CN=Corporate Inspection CA'",
            "remediation": tls_fix,
        },
        {
            "id": "dns",
            "title": text("dns", "title"),
            "status": "pass",
            "method": "system resolvers, each separately",
            "metrics": {"names": 2.0, "failures": 0.0},
            "limits": {},
            "evidence": {"resolvers": ["192.0.2.53"], "names": {"pbx": {"host": "pbx.example"}}},
            "reason": "",
            "remediation": "",
        },
        {
            "id": "turn.turn-udp",
            "title": text(
                "turn", "title", transport="udp", ports="3478", host="stun", function="relay"
            ),
            "status": "not_tested",
            "method": "",
            "metrics": {},
            "limits": {},
            "evidence": {},
            "reason": "no TURN credentials given (NETREADY_TURN_USERNAME)",
            "remediation": "",
        },
        {
            "id": "sip.alg.udp",
            "title": text("sip", "title_alg", transport="UDP"),
            "status": "error",
            "method": "sip echo",
            "metrics": {},
            "limits": {},
            "evidence": {"echo": "127.0.0.1:5060", "changes": []},
            "reason": "the responder did not echo the SIP message",
            "remediation": text("sip", "remediation_alg", transport="UDP"),
        },
    ]
    if not fail:
        tls, _, turn, sip = checks
        tls["status"], tls["reason"], tls["remediation"] = "pass", "", ""
        tls["evidence"]["interception"] = tls["evidence"]["per_port"]["443"]["interception"] = False
        turn["status"] = "skipped"
        sip["status"], sip["reason"], sip["remediation"] = "pass", "", ""
    return checks


def make_report(
    *, fail: bool = False, measured: bool = True, customer: str = "Muster GmbH"
) -> dict[str, Any]:
    """A whole report document; `fail` makes upstream delay and the RTP rule fail."""
    voice = voice_check(voice_run(up_ms=300.0 if fail else 20.0, measured=measured))
    firewall = [
        firewall_check(RULES[0]),
        firewall_check(RULES[1], blocked="20000-20099,30000" if fail else ""),
        firewall_check(RULES[2]),
    ]
    if fail:
        firewall[1]["evidence"]["ports"]["open"] = "16384-19999,20100-29999,30001-32767"
    checks = [voice, *firewall, *other_checks(fail)]
    statuses = [c["status"] for c in checks]
    verdict = "FAIL" if "fail" in statuses else "INCOMPLETE" if "not_tested" in statuses else "PASS"
    return {
        "schema": "netready.report/1",
        "tool": {"name": "netready", "version": "0.1.0"},
        "verdict": verdict,
        "interrupted": False,
        "site": {
            "customer": customer,
            "site": "Lager Nord",
            "address": "Hafenstraße 1, 20457 Hamburg",
            "installer": "Erika Beispiel",
            "ticket": "T-4711",
        },
        "profile": {
            "name": "stimme",
            "title": "stimme UCaaS (seed 002, section 6.1)",
            "source": "profiles/stimme.toml",
            "sha256": "3e65c9c276e870a74f7afff2833cb497123e8a6ded1f05a1c1fb5598b12aa7f5",
            "hosts": HOSTS,
            "responder": "192.0.2.10:862",
            "targets": [
                {
                    "metric": t.metric,
                    "op": t.limit.op,
                    "value": t.limit.value,
                    "statistic": t.statistic,
                }
                for t in TARGETS
            ],
            "rules": [
                {
                    "name": r.name,
                    "protocol": r.protocol,
                    "transport": r.transport,
                    "ports": ",".join(str(p) for p in r.ports),
                    "host": r.host,
                    "function": r.function,
                    "optional": r.optional,
                }
                for r in RULES
            ],
        },
        "environment": {
            "hostname": "laptop-7",
            "local_addresses": ["192.0.2.2/24 (eth0)"],
            "gateways": ["192.0.2.1 dev eth0"],
            "dns_servers": ["192.0.2.53"],
            "public_address": None,
            "nat_behaviour": None,
            "os": "Linux",
        },
        "started_at": "2026-11-22T09:00:00.000Z",
        "finished_at": "2026-11-22T09:01:05.000Z",
        "summary": {
            s: statuses.count(s) for s in ("pass", "fail", "error", "skipped", "not_tested")
        },
        "checks": checks,
    }


def signed_form(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as it comes back from report.json (canonical JSON, parsed)."""
    parsed: dict[str, Any] = json.loads(rfc8785.dumps(doc))
    return parsed


def voice_of(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["id"] == "media.voice")


@pytest.fixture(scope="module")
def pass_doc() -> dict[str, Any]:
    return signed_form(make_report())


@pytest.fixture(scope="module")
def fail_doc() -> dict[str, Any]:
    return signed_form(make_report(fail=True, measured=False))


# --- self-contained page ----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "de"])
def test_page_is_self_contained(fail_doc: dict[str, Any], lang: str) -> None:
    page = render_html(fail_doc, KEY, lang=lang)
    assert page.startswith("<!doctype html>")
    assert f'<html lang="{lang}">' in page
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered
    for fetch in ("<script", "<link", " src=", "url(", "@import", "<iframe", "<img"):
        assert fetch not in lowered, fetch
    assert lowered.count("<svg") == 2


def test_page_shows_verdict_site_who_when_tool_and_key(pass_doc: dict[str, Any]) -> None:
    page = render_html(pass_doc, KEY)
    assert re.search(r'class="verdict v-PASS"><div class="word">PASS<', page)
    for value in ("Muster GmbH", "Lager Nord", "Hafenstraße 1, 20457 Hamburg", "Erika Beispiel"):
        assert value in page
    assert "T-4711" in page and "laptop-7" in page and "netready 0.1.0" in page
    assert "2026-11-22 09:00:00 UTC – 2026-11-22 09:01:05 UTC" in page
    assert KEY.key_id_hex in page and KEY.fingerprint() in page
    assert "minisign -Vm report.json -p netready.pub" in page
    assert "netready verify report.json" in page


def test_document_text_is_escaped() -> None:
    doc = signed_form(make_report(customer='<script>alert("x")</script> & Co'))
    page = render_html(doc, KEY)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page


def test_render_html_keeps_the_two_argument_call(pass_doc: dict[str, Any]) -> None:
    assert render_html(pass_doc, KEY) == render_html(pass_doc, KEY, lang="en")
    with pytest.raises(ValueError, match="lang"):
        render_html(pass_doc, KEY, lang="fr")


# --- values against the limits ------------------------------------------------------------


def _row(page: str, title: str) -> str:
    match = re.search(rf"<tr><th>{re.escape(title)}</th>(.*?)</tr>", page)
    assert match, title
    return match.group(1)


def test_values_per_direction_are_judged_against_the_limits(fail_doc: dict[str, Any]) -> None:
    page = render_html(fail_doc, KEY)
    m = voice_of(fail_doc)["metrics"]
    assert m["delay_up_ms"] > 150
    delay = _row(page, "Delay")
    assert 'class="v-fail"' in delay and "≤ 150\u00a0ms" in delay and "st-fail" in delay
    jitter = _row(page, "Jitter (RFC 3550)")
    assert jitter.count('class="v-pass"') == 2 and "st-pass" in jitter
    loss = _row(page, "Packet loss")
    # 4 of 1500 lost upstream, 3 of 1496 downstream: under 1 %
    assert loss.count('class="v-pass"') == 2 and "&lt; 1\u00a0%" in loss
    assert "MOS (E-model, G.107)" in page and "Round-trip time" in page
    assert "estimated as RTT/2" in page and "Delay over time (RTT/2, estimated)" in page
    assert "Send lateness p99 / max" in page and "<code>kernel</code>" in page


def test_measured_delay_is_charted_per_direction(pass_doc: dict[str, Any]) -> None:
    page = render_html(pass_doc, KEY)
    assert "measured one way (T2−T1, T4−T3)" in page
    assert ">upstream</text>" in page and ">downstream</text>" in page
    assert "RTT/2 (both directions)" not in page


def test_what_to_change_lists_failures_with_fixes(fail_doc: dict[str, Any]) -> None:
    page = render_html(fail_doc, KEY)
    changes = page.split('<section class="changes">', 1)[1].split("</section>", 1)[0]
    for check_id in ("media.voice", "firewall.rtp", "tls.https-mypbx", "turn.turn-udp"):
        assert check_id in changes
    assert "allow out proto udp to 192.0.2.10 port 20000-20099,30000" in changes


# --- port plan and service checks ----------------------------------------------------------


def test_port_plan_highlights_blocked_ranges(fail_doc: dict[str, Any]) -> None:
    page = render_html(fail_doc, KEY)
    table = page.split('<table class="ports">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tbody>(.*?)</tbody>", table, re.S)
    assert len(rows) == len(RULES)
    rtp = next(r for r in rows if "<b>rtp</b>" in r).replace("<wbr>", "")  # wrap points
    assert '<tr class="blocked">' in rtp
    assert '<td class="p-blocked"><code>20000-20099,30000</code></td>' in rtp
    assert "16384-19999,20100-29999,30001-32767" in rtp and "16384-32767" in rtp
    https = next(r for r in rows if "<b>https-mypbx</b>" in r)
    assert 'class="p-blocked"' not in https and "st-pass" in https


def test_service_checks_show_status_reason_fix_and_evidence(fail_doc: dict[str, Any]) -> None:
    page = render_html(fail_doc, KEY)
    table = page.split('<table class="services">', 1)[1].split("</table>", 1)[0]
    for check_id in ("tls.https-mypbx", "dns", "turn.turn-udp", "sip.alg.udp"):
        assert check_id in table
    assert "CN=Corporate Inspection CA" in table and "TLS INTERCEPTION" in table
    assert "no-decrypt to 192.0.2.10 port 443" in table
    assert "Switch off the SIP ALG for UDP" in table
    assert "st-error" in table and "st-not_tested" in table
    assert "media.voice" not in table and "firewall.rtp" not in table


# --- German ----------------------------------------------------------------------------------


def test_german_page_uses_the_check_texts(fail_doc: dict[str, Any]) -> None:
    page = render_html(fail_doc, KEY, lang="de")
    assert text("media.voice", "title", "de") in page
    assert text("dns", "title", "de") in page
    assert "Firewall: RTP UDP/16384-32767 zu pbx (voice)" in page
    assert "TLS: HTTPS tcp/443 zu pbx (myPBX client)" in page
    assert "SIP-ALG-Erkennung über UDP" in page
    # remediation: evidence remediation_de (firewall) and the toml templates (tls, sip, voice)
    assert "Ausgehend UDP aus den Netzen der Telefone" in page
    assert "von TLS-Inspektion / SSL-Entschlüsselung ausnehmen" in page
    assert "Das SIP-ALG für UDP am Router" in page
    assert "Sprachverkehr priorisieren" in page and "delay_up_ms über 150 bleibt" in page
    assert "Prüfbericht Netzwerkbereitschaft" in page and "Was zu ändern ist" in page
    assert "Verzögerung" in page and "aufwärts" in page
    assert text("media.voice", "title", "en") not in page
    # numbers with a decimal comma, reasons kept as written (English) and marked so
    assert re.search(r"\d,\d+\u00a0ms", page)
    assert '<span lang="en">UDP port(s) to 192.0.2.10 did not answer' in page


def test_every_title_and_remediation_template_translates() -> None:
    """Any text a check makes from checks/*.toml comes out in the other language."""
    kinds = report_texts._kinds()
    assert {"firewall", "media.voice", "tls", "sip", "dns"} <= set(kinds)
    for kind in kinds:
        for key, entry in texts(kind).items():
            if not isinstance(entry, dict) or not key.startswith(("title", "remediation")):
                continue
            parsed = string.Formatter().parse(entry["en"])
            fields = {name: f"v{i} {name}" for i, (_, name, _, _) in enumerate(parsed) if name}
            english = entry["en"].format(**fields)
            german = entry["de"].format(**fields)
            prefix = "title" if key.startswith("title") else "remediation"
            assert report_texts.translate(kind, prefix, english, "de") == german, (kind, key)
            assert report_texts.translate(kind, prefix, german, "en") == english, (kind, key)


def test_untranslatable_text_is_kept_and_marked() -> None:
    check = {"id": "x.y", "title": "Something new", "remediation": "Do this", "evidence": {}}
    assert report_texts.check_title(check, "de") == "Something new"
    assert report_texts.check_remediation(check, "de") == ("Do this", False)


# --- charts ---------------------------------------------------------------------------------


def test_chart_series_follow_the_signed_metrics(pass_doc: dict[str, Any]) -> None:
    check = voice_of(pass_doc)
    m = check["metrics"]
    data = series.voice_series(check["evidence"])
    assert data is not None and data.kind == "stamp" and data.delay_method == "measured"
    up, down = data.delay
    assert max(y for _, y in up.points) == m["delay_up_max_ms"]
    assert min(y for _, y in down.points) == m["delay_down_min_ms"]
    j_up, j_down = data.jitter
    warm = JITTER_WARMUP_PACKETS - 1
    assert max(y for _, y in j_up.points[warm:]) == m["jitter_up_running_max_ms"]
    assert max(y for _, y in j_down.points[warm:]) == m["jitter_down_running_max_ms"]
    assert [round(x * 50) for x, _ in data.losses["up"]] == sorted(UP_LOST)
    assert [round(x * 50) for x, _ in data.losses["down"]] == sorted(DOWN_LOST)
    assert data.unknown == []


def test_estimated_delay_is_rtt_half(fail_doc: dict[str, Any]) -> None:
    check = voice_of(fail_doc)
    data = series.voice_series(check["evidence"])
    assert data is not None and [s.key for s in data.delay] == ["rtt_half"]
    assert max(y for _, y in data.delay[0].points) == check["metrics"]["delay_up_max_ms"]


def test_charts_are_light(pass_doc: dict[str, Any]) -> None:
    page = render_html(pass_doc, KEY)
    lines = re.findall(r'<polyline [^>]*points="([^"]*)"', page)
    assert len(lines) == 4
    assert all(0 < len(points.split()) <= series.MAX_POINTS for points in lines)
    assert len(page) < 200_000


def test_downsample_keeps_extremes_and_bounds() -> None:
    rng = random.Random(1)
    points = [(i / 50, rng.random()) for i in range(3000)]
    points[1234] = (1234 / 50, 9.0)
    points[2345] = (2345 / 50, -1.0)
    out = series.downsample(points)
    assert len(out) <= series.MAX_POINTS
    assert (1234 / 50, 9.0) in out and (2345 / 50, -1.0) in out
    assert [x for x, _ in out] == sorted(x for x, _ in out)
    assert series.downsample(points[:10]) == points[:10]


def test_target_line_or_off_scale_note() -> None:
    near = svg.Chart(
        "t",
        "ms",
        "s",
        10,
        [svg.Line("a", [(0, 1), (10, 120)], "#000")],
        [svg.Target(150, "target ≤ 150 ms")],
    )
    assert 'stroke-dasharray="6 4"/><text' in svg.line_chart(near)
    far = svg.Chart(
        "t",
        "ms",
        "s",
        10,
        [svg.Line("a", [(0, 0.1), (10, 0.2)], "#000")],
        [svg.Target(150, "target ≤ 150 ms")],
    )
    assert "target ≤ 150 ms: above this scale" in svg.line_chart(far)


def test_stun_fallback_samples_are_charted(pass_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(pass_doc)
    voice = voice_of(doc)
    rows = []
    for seq in range(200):
        t1 = START_NS + seq * 20_000_000
        t4 = None if seq in (50, 51) else str(t1 + 40_000_000 + (seq % 7) * 100_000)
        rows.append([seq, str(t1), t4, 0, None])
    voice["evidence"] = {
        "samples_format": ["seq", "t1_ns", "t4_ns", "duplicates", "error_code"],
        "samples": rows,
        "delay_method": "estimated_rtt_half",
    }
    voice["method"] = "stun-rtt (round trip only; directions could not be separated)"
    data = series.voice_series(voice["evidence"])
    assert data is not None and data.kind == "stun" and len(data.losses["rt"]) == 2
    page = render_html(doc, KEY)
    assert page.count("<svg") == 2 and "paced STUN stream" in page


@pytest.mark.parametrize(
    "evidence",
    [{}, {"samples": []}, {"samples": [[1, "x"]]}, {"samples": [[0, "5", None, None, None, None]]}],
)
def test_odd_samples_never_break_the_page(pass_doc: dict[str, Any], evidence: Any) -> None:
    doc = copy.deepcopy(pass_doc)
    voice_of(doc)["evidence"] = evidence
    page = render_html(doc, KEY, lang="de")
    assert "</html>" in page


def test_a_sparse_document_renders() -> None:
    """An interrupted, almost empty document (the renderer never re-validates)."""
    doc = {"verdict": "INCOMPLETE", "interrupted": True, "site": {}, "checks": []}
    page = render_html(doc, KEY)
    assert "INCOMPLETE" in page and "The run was interrupted" in page


# --- PDF without WeasyPrint -----------------------------------------------------------------


def test_render_pdf_says_how_to_install_weasyprint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import fails as if not installed
    with pytest.raises(pdf.PdfUnavailable, match=r"netready\[pdf\]"):
        pdf.render_pdf("<p>x</p>")


def test_a_huge_remediation_is_not_run_through_the_templates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Template matching is super-linear: a crafted 14 kB fix took a minute before the cap."""
    from netready.report import texts

    def no_matching(template: str) -> None:
        raise AssertionError("a long text reached the template matcher")

    monkeypatch.setattr(texts, "_pattern", no_matching)
    stored = "Allow " + "x " * 7000 + "outbound"
    assert texts.translate("firewall.rtp", "remediation", stored, "de") is None
    with pytest.raises(AssertionError):  # a short text does reach it: the guard is the length
        texts.translate("firewall.rtp", "remediation", "Allow UDP 5 outbound", "de")

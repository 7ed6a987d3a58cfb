"""The support-ticket text: seed 000's five fault-report items, prefilled from a report document.

Works on the document alone (a dict), so it can be tested on any report; `netready ticket`
verifies the signature before it calls this. Numbers are formatted without the locale.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from netready.model import Limit
from netready.report.ticket_priority import VOICE_ID, firewall_ports, suggest_priority
from netready.report.ticket_texts import FIELDS, FINDINGS, LABELS, LANGS, PRIORITIES

UNITS = {"ms": "ms", "pct": "%"}
TARGET_ORDER = ("delay_ms", "jitter_ms", "loss_pct")
RULE = "=" * 78


def _num(value: object, digits: int = 3) -> str:
    """A number with '.' as decimal point, whatever the locale."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:.{digits}f}"


def _seconds(start: str, end: str) -> str:
    try:
        delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except (TypeError, ValueError):
        return "-"
    return f"{delta.total_seconds():.1f}"


def _voice(doc: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in doc.get("checks", []) if c.get("id") == VOICE_ID), None)


def _line(value: object) -> str:
    """A field on one line: tabs, newlines and other control characters become spaces.

    Site fields and check texts both go through here: a reason can quote a server's own
    words (a TURN or LDAP error), and they must not start lines of their own in a ticket.
    """
    return "".join(ch if ch.isprintable() else " " for ch in str(value or ""))


def _header(doc: dict[str, Any], t: dict[str, str], signature: str) -> list[str]:
    site = doc.get("site", {})
    profile = doc.get("profile", {})
    fields = ("customer", "site", "address", "installer", "ticket")
    rows = [(t[k], _line(site.get(k))) for k in fields]
    tool = doc.get("tool", {})
    line = t["report_line"].format(
        version=tool.get("version", "?"),
        profile=profile.get("name", "?"),
        sha=str(profile.get("sha256", ""))[:16],
    )
    rows.append((t["report"], line))
    if signature:
        rows.append((t["signature"], signature))
    rows.append((t["verdict"], t.get(str(doc.get("verdict")), str(doc.get("verdict")))))
    width = max(len(label) for label, _ in rows) + 1
    return [f"{(label + ':').ljust(width)} {value or t['none']}" for label, value in rows]


def _priority(doc: dict[str, Any], lang: str) -> list[str]:
    t = LABELS[lang]
    suggestion = suggest_priority(doc)
    name, hours = PRIORITIES[lang][suggestion.level]
    lines = [
        f"{t['priority']}: "
        + t["priority_line"].format(level=suggestion.level, name=name, hours=hours),
        f"  {t['why']}:",
    ]
    for f in suggestion.findings:
        lines.append("  - " + FINDINGS[lang][f.kind].format(check=f.check, detail=f.detail))
    return [*lines, "  " + t["caveat"]]


def _failing(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc.get("checks", []) if c.get("status") == "fail"]


def _unmeasured(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc.get("checks", []) if c.get("status") in ("error", "not_tested")]


def _check_line(c: dict[str, Any], t: dict[str, str]) -> str:
    reason = _line(c.get("reason"))
    ports = firewall_ports(c)
    if ports and ports["blocked"] and ports["blocked"] not in reason:
        reason = "; ".join(filter(None, (reason, f"{t['blocked']}: {ports['blocked']}")))
    return f"  - {_line(c.get('id'))} ({_line(c.get('status'))}): {_line(c.get('title'))}" + (
        f": {reason}" if reason else ""
    )


def _description(doc: dict[str, Any], t: dict[str, str]) -> list[str]:
    verdict = doc.get("verdict")
    lines = [t["fill_description"]]
    if verdict == "FAIL":
        lines.append(t["measured_fail"])
        lines += [_check_line(c, t) for c in _failing(doc)]
    elif verdict == "PASS":
        lines.append(t["measured_pass"].format(profile=doc.get("profile", {}).get("name", "?")))
    else:
        lines.append(t["measured_incomplete"])
    missing = _unmeasured(doc)
    if missing:
        lines.append(f"{t['not_measured']}:")
        lines += [_check_line(c, t) for c in missing]
    return lines


def _time(doc: dict[str, Any], t: dict[str, str]) -> list[str]:
    start, end = str(doc.get("started_at", "")), str(doc.get("finished_at", ""))
    measured = t["measured_at"].format(start=start, end=end, seconds=_seconds(start, end))
    stream = (_voice(doc) or {}).get("evidence", {}).get("stream", {})
    try:
        length = (int(stream["finished_ns"]) - int(stream["started_ns"])) / 1e9
        measured += "; " + t["voice_stream"].format(seconds=f"{length:.1f}")
    except (KeyError, TypeError, ValueError):
        pass
    return [t["fill_time"], measured, t["deadline"]]


def _servers(doc: dict[str, Any]) -> list[str]:
    """Each far end of a failing or unmeasured check with the checks that concern it."""
    by_address: dict[str, list[str]] = {}
    for c in _failing(doc) + _unmeasured(doc):
        ev = c.get("evidence", {})
        where = str(ev.get("address") or ev.get("destination") or ev.get("server") or "")
        if where:
            by_address.setdefault(where, []).append(str(c.get("id")))
    return [f"{addr} ({', '.join(ids)})" for addr, ids in sorted(by_address.items())]


def _scope(doc: dict[str, Any], t: dict[str, str]) -> list[str]:
    site = doc.get("site", {})
    where = " / ".join(_line(site.get(k)) for k in ("customer", "site", "address") if site.get(k))
    rules = [p for c in doc.get("checks", []) if (p := firewall_ports(c))]
    lines = [t["kind"], t["fill_kind"], t["scope_site"].format(site=where or t["none"])]
    servers = _servers(doc)
    if servers:
        lines.append(f"{t['servers']}: {'; '.join(servers)}")
    hosts = {k: v for k, v in doc.get("profile", {}).get("hosts", {}).items() if v}
    if hosts:
        lines.append(f"{t['hosts']}: " + ", ".join(f"{k}={v}" for k, v in sorted(hosts.items())))
    blocked = sum(1 for p in rules if p["blocked"])
    lines.append(t["rules"].format(total=len(rules), blocked=blocked))
    return lines


def _reproducibility(doc: dict[str, Any], t: dict[str, str]) -> list[str]:
    profile = doc.get("profile", {})
    command = f"netready check --profile {profile.get('name', '?')}"
    if profile.get("responder"):
        command += f" --responder {profile['responder']}"
    lines = [t["fill_repro"], t["repro_run"].format(command=command)]
    m = (_voice(doc) or {}).get("metrics", {})
    for d in ("up", "down", "rt"):
        whole, worst = m.get(f"loss_{d}_pct"), m.get(f"worst_window_loss_{d}_pct")
        if isinstance(whole, int | float) and isinstance(worst, int | float) and worst > whole:
            lines.append(t["repro_bursty"].format(whole=_num(whole, 2), worst=_num(worst, 2)))
            break
    return lines


def _remediation(c: dict[str, Any], lang: str) -> str:
    german = c.get("evidence", {}).get("remediation_de")
    if lang == "de" and german:
        return _line(german)
    return _line(c.get("remediation"))


def _steps(doc: dict[str, Any], t: dict[str, str], lang: str) -> list[str]:
    lines = [t["taken_measured"], t["fill_steps"]]
    todo = [(c.get("id"), _remediation(c, lang)) for c in _failing(doc) + _unmeasured(doc)]
    todo = [(cid, text) for cid, text in todo if text]
    if todo:
        lines.append(f"{t['recommended']}:")
        lines += [f"  - {cid}: {text}" for cid, text in todo]
    return lines


def _target_row(target: dict[str, Any], voice: dict[str, Any], t: dict[str, str]) -> list[str]:
    base, _, unit_key = str(target["metric"]).rpartition("_")
    unit = UNITS.get(unit_key, unit_key)
    metrics, limits = voice.get("metrics", {}), voice.get("limits", {})
    cells, verdicts = [], []
    for d in ("up", "down"):
        name = f"{base}_{d}_{unit_key}"
        value = metrics.get(name)
        lim = limits.get(name) or target
        cells.append(f"{_num(value)} {unit}" if value is not None else t["n/a"])
        if isinstance(value, int | float):
            verdicts.append(Limit(str(lim["op"]), float(lim["value"])).holds(float(value)))
    result = t["n/a"] if len(verdicts) < 2 else (t["ok"] if all(verdicts) else t["not_met"])
    label = f"{t.get(base, base)} ({target.get('statistic', '')})"
    return [label, *cells, f"{target['op']} {target['value']:g} {unit}", result]


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


def _voice_section(doc: dict[str, Any], t: dict[str, str]) -> list[str]:
    voice = _voice(doc)
    if voice is None:
        return []
    if not voice.get("metrics"):
        status, reason = _line(voice.get("status")), _line(voice.get("reason"))
        return [t["voice_none"].format(check=VOICE_ID, status=status, reason=reason)]
    lines = [t["voice_header"].format(check=VOICE_ID, method=voice.get("method", ""))]
    targets = sorted(
        (x for x in doc.get("profile", {}).get("targets", []) if x.get("metric") in TARGET_ORDER),
        key=lambda x: TARGET_ORDER.index(x["metric"]),
    )
    head = [t[k] for k in ("col_metric", "col_up", "col_down", "col_target", "col_result")]
    lines += _table([head, *(_target_row(x, voice, t) for x in targets)])
    ev, m = voice.get("evidence", {}), voice.get("metrics", {})
    if ev.get("directions_separated") is False:
        lines.append("  " + t["delay_stun"])
    else:
        key = "delay_measured" if ev.get("delay_method") == "measured" else "delay_estimated"
        lines.append("  " + t[key])
    lines.append(
        "  "
        + t["voice_extra"].format(
            rtt_mean=_num(m.get("rtt_mean_ms")),
            rtt_p95=_num(m.get("rtt_p95_ms")),
            sent=_num(m.get("packets_sent"), 0),
            received=_num(m.get("packets_received"), 0),
            mos=_num(m.get("mos"), 2),
        )
    )
    return lines


def _firewall_section(doc: dict[str, Any], t: dict[str, str]) -> list[str]:
    lines = []
    for c in doc.get("checks", []):
        ports = firewall_ports(c)
        if ports is None:
            continue
        lines.append(f"  [{c.get('status')}] {c.get('id')}: {c.get('title', '')}")
        shown = {k: v or t["none"] for k, v in ports.items()}
        lines.append("      " + t["ports_line"].format(**shown))
    return [f"{t['firewall']}:", *lines] if lines else []


def _other_section(doc: dict[str, Any], t: dict[str, str]) -> list[str]:
    others = [
        c for c in doc.get("checks", []) if c.get("id") != VOICE_ID and firewall_ports(c) is None
    ]
    return [f"{t['other']}:", *(_check_line(c, t) for c in others)] if others else []


def build_ticket(
    doc: dict[str, Any], lang: str = "en", signature: str = "", attachments: Sequence[str] = ()
) -> str:
    """The ticket text in `lang` ("en" or "de"); `signature` says how the report was verified."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    t = LABELS[lang]
    out = [t["title"], RULE, t["draft"], "", *_header(doc, t, signature), ""]
    out += [*_priority(doc, lang), ""]
    items = (
        _description(doc, t),
        _time(doc, t),
        _scope(doc, t),
        _reproducibility(doc, t),
        _steps(doc, t, lang),
    )
    for number, (heading, body) in enumerate(zip(FIELDS[lang], items, strict=True), start=1):
        out += [f"{number}. {heading}", *("   " + line for line in body), ""]
    out += [t["measurements"], "-" * len(t["measurements"])]
    for part in (_voice_section(doc, t), _firewall_section(doc, t), _other_section(doc, t)):
        if part:
            out += [*part, ""]
    assess = f"assess_{doc.get('verdict')}"
    out += [t["assessment"], "-" * len(t["assessment"]), t.get(assess, ""), ""]
    if attachments:
        out.append(f"{t['attached']}: {', '.join(attachments)}")
    out.append(t["verify_hint"])
    return "\n".join(out) + "\n"

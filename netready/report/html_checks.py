"""The port plan, the service checks and the list of changes of the HTML report."""

from __future__ import annotations

from typing import Any

from netready.report.html_format import badge, esc, foreign, num
from netready.report.texts import check_remediation, check_title, label

#: Evidence keys never shown as "key evidence" (bulky, or shown elsewhere).
HIDDEN = {"samples", "samples_format", "definitions", "remediation_de", "ports", "per_port"}
MAX_ITEMS = 24
MAX_TEXT = 220
NEEDS_ACTION = ("fail", "error", "not_tested")


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _scalar(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return label("yes" if value else "no", lang)
    if isinstance(value, int | float):
        return num(value, lang)
    if value is None:
        return "—"
    return str(value)


def flatten(
    evidence: dict[str, Any], lang: str, prefix: str = "", depth: int = 0
) -> list[tuple[str, str]]:
    """Evidence as (dotted key, short text) pairs: scalars, short lists, small nested dicts."""
    out: list[tuple[str, str]] = []
    for key, value in evidence.items():
        if key in HIDDEN:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if depth < 2:
                out += flatten(value, lang, name + ".", depth + 1)
            else:
                out.append(
                    (name, _short(", ".join(f"{k}={_scalar(v, lang)}" for k, v in value.items())))
                )
        elif isinstance(value, list):
            if not value:
                out.append((name, "—"))
            elif all(not isinstance(v, dict | list) for v in value):
                shown = ", ".join(_scalar(v, lang) for v in value[:12])
                out.append((name, _short(shown + (" …" if len(value) > 12 else ""))))
            elif len(value) <= 6 and all(isinstance(v, dict) for v in value):
                for i, item in enumerate(value):
                    text = "; ".join(
                        f"{k}={_scalar(v, lang)}"
                        for k, v in item.items()
                        if not isinstance(v, dict | list)
                    )
                    out.append((f"{name}[{i}]", _short(text)))
            else:
                out.append((name, f"{len(value)} ×"))
        elif value not in ("", None):
            out.append((name, _short(_scalar(value, lang))))
    return out


def _tls_ports(per_port: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    """One line per TLS port: version, cipher, issuer, SHA-256, CA check, HTTP status."""
    out = []
    for port, ev in per_port.items():
        if not isinstance(ev, dict):
            continue
        parts = [
            str(ev.get(k))
            for k in ("handshake", "version", "cipher", "http_status")
            if ev.get(k) not in (None, "")
        ]
        if ev.get("interception"):
            parts.append("TLS INTERCEPTION")
        details: list[tuple[str, str]] = []
        if ev.get("issuer"):
            details.append(("issuer", str(ev["issuer"])))
        if ev.get("fingerprint"):
            details.append(("sha256", str(ev["fingerprint"])))
        if "verified_by_system_cas" in ev:
            ok = ev["verified_by_system_cas"]
            why = f" ({ev.get('verify_error')})" if not ok and ev.get("verify_error") else ""
            details.append(("system CAs", _scalar(bool(ok), lang) + why))
        details += [(k, str(ev[k])) for k in ("http_error", "error", "stage") if ev.get(k)]
        out.append((f"port {port}", _short(", ".join(parts))))
        out += [(f"port {port} {name}", _short(text)) for name, text in details]
    return out


def key_evidence(check: dict[str, Any], lang: str) -> str:
    """The check's evidence that matters, as a compact definition list."""
    evidence = check.get("evidence")
    if not isinstance(evidence, dict) or not evidence:
        return ""
    items: list[tuple[str, str]] = []
    per_port = evidence.get("per_port")
    if isinstance(per_port, dict):
        items += _tls_ports(per_port, lang)
    items += flatten(evidence, lang)
    metrics = check.get("metrics")
    if isinstance(metrics, dict) and metrics:
        items.append(("metrics", ", ".join(f"{k} {num(v, lang)}" for k, v in metrics.items())))
    more = len(items) - MAX_ITEMS
    body = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items[:MAX_ITEMS])
    if more > 0:
        body += f"<dt>…</dt><dd>+{more} (report.json)</dd>"
    return f'<dl class="evidence">{body}</dl>'


def _remediation(check: dict[str, Any], lang: str) -> str:
    text, translated = check_remediation(check, lang)
    if not text:
        return ""
    note = "" if translated else f' <span class="small">{label("english_only", lang)}</span>'
    body = esc(text) if translated else foreign(text, lang)
    return f'<div class="fix"><b>{label("fix", lang)}:</b> {body}{note}</div>'


def changes(doc: dict[str, Any], lang: str) -> str:
    """Every check that needs action, with its reason and what to change."""
    items = []
    for c in doc.get("checks") or []:
        if c.get("status") not in NEEDS_ACTION:
            continue
        reason = str(c.get("reason", ""))
        items.append(
            f"<li>{badge(str(c['status']), lang)} <b>{esc(check_title(c, lang))}</b>"
            f' <code class="id">{esc(c.get("id", ""))}</code>'
            + (f"<br>{foreign(reason, lang)}" if reason else "")
            + _remediation(c, lang)
            + "</li>"
        )
    if not items:
        return ""
    title = label("to_change", lang)
    return f'<section class="changes"><h2>{title}</h2><ol>{"".join(items)}</ol></section>'


def ranges(text: str) -> str:
    """A compact range string that may wrap after its commas (and only there)."""
    return ",<wbr>".join(esc(part) for part in text.split(",")) if text else "—"


def port_plan(doc: dict[str, Any], lang: str) -> str:
    """One row per firewall rule of the profile: open, blocked and untested port ranges."""
    profile = doc.get("profile") or {}
    hosts: dict[str, Any] = profile.get("hosts") or {}
    rules = {str(r.get("name")): r for r in profile.get("rules") or [] if isinstance(r, dict)}
    checks = {
        str(c["id"]).split(".", 1)[1]: c
        for c in doc.get("checks") or []
        if str(c.get("id", "")).startswith("firewall.")
    }
    names = list(rules) + [n for n in checks if n not in rules]
    if not names:
        return ""
    bodies = []
    for name in names:
        rule = rules.get(name, {})
        check = checks.get(name)
        ev = (check or {}).get("evidence") or {}
        found = ev.get("ports") if isinstance(ev, dict) else None
        ports: dict[str, Any] = found if isinstance(found, dict) else {}
        host = str(rule.get("host", ""))
        address = str(ev.get("address") or hosts.get(host) or "")
        dest = esc(host) + (
            f"<br><code>{esc(address)}</code>" if address and address != host else ""
        )
        blocked = str(ports.get("blocked", "") or "")
        untested = str(ports.get("not_tested", "") or "")
        opened = str(ports.get("open", "") or "")
        status = badge(str(check.get("status", "")), lang) if check else label("not_in_run", lang)
        hot = ' class="p-blocked"' if blocked else ""
        optional = (
            f' <span class="small">({label("optional", lang)})</span>'
            if rule.get("optional")
            else ""
        )
        css = "blocked" if blocked else "untested" if untested else ""
        row_class = f' class="{css}"' if css else ""
        protocol = f"{rule.get('protocol', '')} {str(rule.get('transport', '')).upper()}"
        row = (
            f"<tr{row_class}><td><b>{esc(name)}</b>{optional}<br>{esc(protocol.strip())}<br>"
            f'<span class="small">{esc(rule.get("function", ""))}</span></td>'
            f"<td>{dest}</td><td><code>{ranges(str(rule.get('ports', '')))}</code></td>"
            f'<td class="p-open"><code>{ranges(opened)}</code></td>'
            f"<td{hot}><code>{ranges(blocked)}</code></td>"
            f'<td class="p-untested"><code>{ranges(untested)}</code></td>'
            f"<td>{status}</td></tr>"
        )
        extra = ""
        if (
            check
            and (check.get("reason") or check.get("remediation"))
            and check.get("status") != "pass"
        ):
            reason = str(check.get("reason", ""))
            extra = (
                f'<tr class="{css} detail"><td colspan="7">'
                + (foreign(reason, lang) if reason else "")
                + _remediation(check, lang)
                + "</td></tr>"
            )
        bodies.append(f"<tbody>{row}{extra}</tbody>")
    head = "".join(
        f"<th>{label(k, lang)}</th>"
        for k in (
            "rule",
            "destination",
            "ports_planned",
            "open",
            "blocked",
            "not_tested",
            "status",
        )
    )
    return f'<table class="ports"><thead><tr>{head}</tr></thead>{"".join(bodies)}</table>'


def services(checks: list[dict[str, Any]], lang: str) -> str:
    """Every other check: status, reason, remediation and its key evidence."""
    if not checks:
        return ""
    rows = []
    for c in checks:
        reason = str(c.get("reason", ""))
        method = str(c.get("method", ""))
        rows.append(
            "<tbody><tr>"
            f'<td class="st">{badge(str(c.get("status", "")), lang)}</td>'
            f"<td><b>{esc(check_title(c, lang))}</b>"
            f"<br><code class='id'>{esc(c.get('id', ''))}</code>"
            + (f'<br><span class="small">{foreign(method, lang)}</span>' if method else "")
            + "</td><td>"
            + (f'<p class="reason">{foreign(reason, lang)}</p>' if reason else "")
            + _remediation(c, lang)
            + key_evidence(c, lang)
            + "</td></tr></tbody>"
        )
    head = "".join(f"<th>{label(k, lang)}</th>" for k in ("status", "check", "findings"))
    head = f"<tr>{head}</tr>"
    return f'<table class="services"><thead>{head}</thead>{"".join(rows)}</table>'

"""A self-contained HTML view of a signed report (rendered from the document alone)."""

from __future__ import annotations

from html import escape
from typing import Any

from netready.report.signing import PublicKey

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#111;background:#fff}
h1 span{padding:.1em .5em;border-radius:.3em;color:#fff}
.PASS{background:#1a7f37}.FAIL{background:#cf222e}.INCOMPLETE{background:#9a6700}
table{border-collapse:collapse;width:100%;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
.pass{color:#1a7f37}.fail{color:#cf222e}.error,.not_tested{color:#9a6700}.skipped{color:#666}
code{font-size:90%}
"""


def _row(cells: list[str]) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _metrics(check: dict[str, Any]) -> str:
    limits = check.get("limits", {})
    parts = []
    for name, value in sorted(check.get("metrics", {}).items()):
        lim = limits.get(name)
        bound = f" (limit {escape(lim['op'])} {lim['value']})" if lim else ""
        parts.append(
            f"{escape(name)} = {value:.3f}{bound}"
            if isinstance(value, float)
            else f"{escape(name)} = {value}{bound}"
        )
    ports = check.get("evidence", {}).get("ports")
    if isinstance(ports, dict):
        parts += [f"{k}: {escape(str(v)) or '-'}" for k, v in ports.items()]
    return "<br>".join(parts)


def render_html(doc: dict[str, Any], key: PublicKey) -> str:
    """The report as one HTML page with no external resources."""
    site = doc["site"]
    verdict = escape(doc["verdict"])
    rows = "".join(
        _row(
            [
                f"<code>{escape(c['id'])}</code><br>{escape(c['title'])}",
                f"<span class='{escape(c['status'])}'>{escape(c['status'])}</span>",
                _metrics(c),
                escape(c["reason"])
                + ("<br><b>Fix:</b> " + escape(c["remediation"]) if c["remediation"] else ""),
            ]
        )
        for c in doc["checks"]
    )
    site_rows = "".join(_row([escape(k), escape(v)]) for k, v in site.items() if v)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>netready report: {verdict}</title>
<style>{_STYLE}</style></head><body>
<h1>Network readiness: <span class="{verdict}">{verdict}</span></h1>
<p>Profile <b>{escape(doc["profile"]["name"])}</b> ({escape(doc["profile"]["title"])}),
measured {escape(doc["started_at"])} to {escape(doc["finished_at"])} with netready
{escape(doc["tool"]["version"])}.</p>
<table>{site_rows}</table>
<table><tr><th>check</th><th>status</th><th>measured</th><th>reason</th></tr>{rows}</table>
<p>This page is a rendering. The evidence is <code>report.json</code>, signed in
<code>report.json.minisig</code> by key ID <code>{escape(key.key_id_hex)}</code>
({escape(key.fingerprint())}). Verify with
<code>minisign -Vm report.json -p netready.pub</code> or <code>netready verify report.json</code>.
</p></body></html>
"""

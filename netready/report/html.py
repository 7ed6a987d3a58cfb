"""A self-contained HTML view of a signed report, rendered from the document alone.

`render_html(doc, key, lang)` takes the parsed report.json (the signed bytes) and the public
key that signed it, and returns one HTML page: inline CSS and SVG, no scripts, no fetches, in
English or German. It never re-verifies the signature; `netready verify` does that.
"""

from __future__ import annotations

from typing import Any

from netready.report import html_checks, html_voice
from netready.report.html_format import (
    badge,
    esc,
    foreign,
    kv_table,
    limit_text,
    span_seconds,
    when,
)
from netready.report.signing import PublicKey
from netready.report.texts import LANGS, label

STYLE = """
@page{size:A4;margin:14mm 12mm 16mm 12mm;
 @bottom-left{content:"netready report";font:8pt "DejaVu Sans",sans-serif;color:#57606a}
 @bottom-right{content:counter(page) " / " counter(pages);font:8pt "DejaVu Sans",sans-serif;
  color:#57606a}}
html{color-scheme:light;-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{font-family:"DejaVu Sans","Liberation Sans",system-ui,Arial,sans-serif;font-size:10.5pt;
 line-height:1.4;margin:0 auto;padding:1.5em 2em;max-width:62em;color:#1f2328;background:#fff}
h1{font-size:1.6em;margin:0 0 .4em}
h2{font-size:1.25em;border-bottom:2px solid #d0d7de;padding-bottom:.15em;margin:1.6em 0 .6em;
 break-after:avoid;page-break-after:avoid}
h3{font-size:1.05em;margin:1.2em 0 .4em;break-after:avoid;page-break-after:avoid}
code{font-family:"DejaVu Sans Mono","Liberation Mono",monospace;font-size:88%;
 overflow-wrap:anywhere}
code.id{color:#57606a;font-weight:normal}
.verdict{display:flex;align-items:center;gap:1.2em;border:3px solid;border-radius:8px;
 padding:.7em 1.2em;margin:.6em 0 1em;break-inside:avoid}
.verdict .word{font-size:2.8em;font-weight:bold;letter-spacing:.04em;line-height:1}
.verdict .what{font-size:1.1em}
.verdict .what b{font-size:1.15em}
.v-PASS{border-color:#1a7f37;background:#dafbe1}.v-PASS .word{color:#1a7f37}
.v-FAIL{border-color:#cf222e;background:#ffebe9}.v-FAIL .word{color:#cf222e}
.v-INCOMPLETE{border-color:#9a6700;background:#fff8c5}.v-INCOMPLETE .word{color:#9a6700}
.banner{border:1px solid #9a6700;background:#fff8c5;padding:.4em .8em;border-radius:4px}
table{border-collapse:collapse;width:100%;margin:.5em 0 1em}
th,td{border:1px solid #d0d7de;padding:.28em .5em;text-align:left;vertical-align:top}
thead th{background:#f6f8fa}
thead{display:table-header-group}
tr,tbody{break-inside:avoid;page-break-inside:avoid}
table.kv th{width:15em;background:#f6f8fa;font-weight:600}
table.values td{white-space:nowrap}table.values td.tgt{white-space:normal}
table.values th{font-weight:600}
table.values tr.info{color:#424a53}
td.v-pass{color:#1a7f37;font-weight:600}td.v-fail{color:#cf222e;font-weight:700;background:#ffebe9}
td.na{color:#9a6700}
.badge{display:inline-block;padding:.05em .45em;border-radius:.8em;font-size:.85em;
 font-weight:600;color:#fff;white-space:nowrap}
.st-pass{background:#1a7f37}.st-fail{background:#cf222e}.st-error{background:#bc4c00}
.st-not_tested{background:#9a6700}.st-skipped{background:#6e7781}
table.ports tr.blocked td{background:#ffebe9}
table.ports td.p-blocked code{color:#cf222e;font-weight:bold}
table.ports tr.untested td.p-untested code{color:#9a6700;font-weight:bold}
table.ports tr.detail td{font-size:.92em}
table.ports b{white-space:nowrap}table.ports code{overflow-wrap:normal}
table.services td.st{width:7em}
.reason{margin:.1em 0 .3em}
.fix{border-left:4px solid #cf222e;background:#fff5f5;padding:.25em .6em;margin:.3em 0}
.changes ol{padding-left:1.4em}.changes li{margin:.4em 0}
dl.evidence{display:grid;grid-template-columns:max-content auto;gap:.05em .8em;margin:.3em 0;
 font-size:.85em;color:#424a53}
dl.evidence dt{font-family:"DejaVu Sans Mono",monospace;color:#57606a}
dl.evidence dd{margin:0;overflow-wrap:anywhere}
figure.chart{margin:.6em 0 .2em;break-inside:avoid;page-break-inside:avoid}
figure.chart figcaption{font-weight:600;margin-bottom:.2em}
svg.chart{display:block;max-width:100%;height:auto;border:1px solid #d0d7de}
.note{background:#f6f8fa;border-left:4px solid #8c959f;padding:.3em .6em}
.small{font-size:.85em;color:#57606a}
ul.defs{font-size:.85em;color:#424a53}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:.5em .8em;white-space:pre-wrap;
 font-family:"DejaVu Sans Mono","Liberation Mono",monospace;font-size:.9em}
.summary span{margin-right:.8em}
section.keep{break-inside:avoid;page-break-inside:avoid}
footer{margin-top:2em;font-size:.8em;color:#57606a}
@media print{body{padding:0;max-width:none;font-size:9.5pt}a{color:inherit}}
"""


def _summary(doc: dict[str, Any], lang: str) -> str:
    counts = doc.get("summary")
    if not isinstance(counts, dict):
        counts = {}
        for c in doc.get("checks") or []:
            counts[c.get("status")] = counts.get(c.get("status"), 0) + 1
    order = ["pass", "fail", "error", "not_tested", "skipped"]
    ranked = sorted(counts, key=lambda s: order.index(s) if s in order else len(order))
    parts = [f"<span>{badge(str(s), lang)} {esc(counts[s])}</span>" for s in ranked if counts[s]]
    return f'<p class="summary">{label("summary", lang)}: {"".join(parts)}</p>'


def _site(doc: dict[str, Any], key: PublicKey, lang: str) -> str:
    site = doc.get("site") or {}
    env = doc.get("environment") or {}
    profile = doc.get("profile") or {}
    tool = doc.get("tool") or {}
    started, finished = doc.get("started_at", ""), doc.get("finished_at", "")
    span = span_seconds(started, finished)
    took = f" ({round(span)} s)" if span is not None else ""
    rows = [
        (label("customer", lang), esc(site.get("customer", ""))),
        (label("site_name", lang), esc(site.get("site", ""))),
        (label("address", lang), esc(site.get("address", ""))),
        (label("installer", lang), esc(site.get("installer", ""))),
        (label("ticket", lang), esc(site.get("ticket", ""))),
    ]
    rows += [
        (str(k), esc(v))
        for k, v in site.items()
        if k not in ("customer", "site", "address", "installer", "ticket") and v
    ]
    rows += [
        (label("when", lang), f"{when(started)} – {when(finished)}{took}"),
        (label("measured_from", lang), esc(env.get("hostname", ""))),
        (label("tool", lang), esc(f"{tool.get('name', 'netready')} {tool.get('version', '')}")),
        (
            label("profile", lang),
            f"<b>{esc(profile.get('name', ''))}</b> — {esc(profile.get('title', ''))}"
            + (
                f'<br><span class="small">{esc(profile.get("source", ""))}</span>'
                if profile.get("source")
                else ""
            ),
        ),
        (label("profile_sha", lang), f"<code>{esc(profile.get('sha256', ''))}</code>"),
        (
            label("key", lang),
            f"{label('key_id', lang)} <code>{esc(key.key_id_hex)}</code>, "
            f"{label('fingerprint', lang)} <code>{esc(key.fingerprint())}</code>",
        ),
    ]
    return kv_table(rows)


def _targets(doc: dict[str, Any], lang: str) -> str:
    targets = (doc.get("profile") or {}).get("targets") or []
    items = []
    for t in targets:
        if not isinstance(t, dict):
            continue
        metric = str(t.get("metric", ""))
        base = metric.rsplit("_", 1)[0]
        name = label(base, lang) if base in ("delay", "jitter", "loss") else esc(metric)
        stat = str(t.get("statistic", ""))
        items.append(
            f"<li><b>{name}</b> {limit_text(t, metric, lang)} "
            f"({label('per_direction', lang)}"
            + (f", {html_voice.stat_label(stat, lang)}" if stat else "")
            + ")</li>"
        )
    if not items:
        return ""
    return f"<p>{label('targets_intro', lang)}</p><ul>{''.join(items)}</ul>"


def _environment(doc: dict[str, Any], lang: str) -> str:
    env = doc.get("environment") or {}

    def joined(value: Any) -> str:
        if isinstance(value, list):
            return "<br>".join(f"<code>{esc(v)}</code>" for v in value)
        if isinstance(value, dict):
            return "<br>".join(f"{esc(k)}: <code>{esc(v)}</code>" for k, v in value.items())
        return "" if value in (None, "") else f"<code>{esc(value)}</code>"

    rows = [
        (label(k, lang), joined(env.get(k)))
        for k in (
            "local_addresses",
            "gateways",
            "dns_servers",
            "public_address",
            "nat_behaviour",
            "os",
        )
    ]
    return kv_table(rows)


def _verify(key: PublicKey, lang: str) -> str:
    return (
        f"<p>{label('verify_intro', lang)}</p>"
        "<pre>minisign -Vm report.json -p netready.pub\nnetready verify report.json</pre>"
        f"<p>{esc(label('verify_key', lang, key_id=key.key_id_hex, fp=key.fingerprint()))}</p>"
        f"<p>{label('verify_trusted', lang)}</p>"
    )


def render_html(doc: dict[str, Any], key: PublicKey, lang: str = "en") -> str:
    """The report as one HTML page with no external resources (lang: "en" or "de")."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    verdict = str(doc.get("verdict", "INCOMPLETE"))
    vkey = verdict if verdict in ("PASS", "FAIL", "INCOMPLETE") else "INCOMPLETE"
    checks = [c for c in doc.get("checks") or [] if isinstance(c, dict)]
    voice = [c for c in checks if str(c.get("id", "")).startswith("media.")]
    others = [
        c for c in checks if c not in voice and not str(c.get("id", "")).startswith("firewall.")
    ]
    site = doc.get("site") or {}
    where = " / ".join(str(v) for v in (site.get("customer"), site.get("site")) if v)
    parts = [
        f"<h1>{label('doc_title', lang)}</h1>",
        f'<div class="verdict v-{esc(vkey)}"><div class="word">{esc(verdict)}</div>'
        f'<div class="what"><b>{label("verdict_word_" + vkey, lang)}</b><br>'
        f"{label('verdict_' + vkey, lang)}</div></div>",
    ]
    if doc.get("interrupted"):
        parts.append(f'<p class="banner">{label("interrupted", lang)}</p>')
    parts += [_summary(doc, lang), f"<h2>{label('site', lang)}</h2>", _site(doc, key, lang)]
    parts.append(html_checks.changes(doc, lang))
    parts += [f"<h2>{label('targets', lang)}</h2>", _targets(doc, lang)]
    if voice:
        parts.append(f"<h2>{label('voice', lang)}</h2>")
        parts += [html_voice.section(c, doc, lang) for c in voice]
    plan = html_checks.port_plan(doc, lang)
    if plan:
        parts.append(f'<section class="keep"><h2>{label("ports", lang)}</h2>{plan}</section>')
    if others:
        parts += [f"<h2>{label('services', lang)}</h2>", html_checks.services(others, lang)]
    if voice:
        parts.append(f"<h2>{label('method', lang)}</h2>")
        parts += [html_voice.method_table(c, lang) for c in voice]
    parts.append(
        f'<section class="keep"><h2>{label("environment", lang)}</h2>{_environment(doc, lang)}'
        "</section>"
    )
    parts.append(
        f'<section class="keep"><h2>{label("verify", lang)}</h2>{_verify(key, lang)}</section>'
    )
    tool = doc.get("tool") or {}
    parts.append(
        f"<footer>{esc(tool.get('name', 'netready'))} {esc(tool.get('version', ''))} · "
        f"{esc(doc.get('schema', ''))} · {foreign(where, lang)}</footer>"
    )
    title = f"{label('doc_title', lang)}: {verdict}" + (f" — {where}" if where else "")
    return (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(p for p in parts if p)
        + "\n</body></html>\n"
    )

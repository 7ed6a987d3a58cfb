"""The voice-path part of the HTML report: values per direction, charts, method and error."""

from __future__ import annotations

from typing import Any

from netready.report import series as ser
from netready.report import svg
from netready.report.html_format import (
    OPS,
    badge,
    esc,
    foreign,
    holds,
    kv_table,
    limit_text,
    num,
    with_unit,
    yes_no,
)
from netready.report.texts import LABELS, check_title, label

COLOURS = {"up": "#0550ae", "down": "#bc4c00", "rtt_half": "#6639ba", "rtt": "#6639ba"}
UNKNOWN_COLOUR = "#8c959f"
#: (row label, metric base, target metric of the profile)
JUDGED = (
    ("delay", "delay", "delay_ms"),
    ("jitter", "jitter", "jitter_ms"),
    ("loss", "loss", "loss_pct"),
)


def _dir_metric(base: str, direction: str, unit: str) -> str:
    return f"{base}_{direction}_{unit}"


def _unit(base: str) -> str:
    return "pct" if base == "loss" else "ms"


def stat_short(stat: str, lang: str) -> str:
    """mean / p95 / max as a column word."""
    return "Mittel" if stat == "mean" and lang == "de" else stat


def stat_label(stat: str, lang: str) -> str:
    key = f"stat_{stat}"
    return label(key, lang) if key in LABELS else esc(stat)


def _value_cell(metrics: dict[str, Any], limits: dict[str, Any], name: str, lang: str) -> str:
    if name not in metrics:
        return f'<td class="na">{label("not_measured", lang) if name in limits else "—"}</td>'
    ok = holds(limits[name], metrics[name]) if name in limits else None
    css = "" if ok is None else (' class="v-pass"' if ok else ' class="v-fail"')
    mark = "" if ok is None else (" ✓" if ok else " ✗")
    return f"<td{css}>{with_unit(metrics[name], name, lang)}{mark}</td>"


def _result(metrics: dict[str, Any], limits: dict[str, Any], names: list[str], lang: str) -> str:
    judged = [n for n in names if n in limits]
    if not judged:
        return "<td>—</td>"
    outcomes = [holds(limits[n], metrics.get(n)) for n in judged]
    if any(o is False for o in outcomes):
        return f"<td>{badge('fail', lang)}</td>"
    if any(o is None for o in outcomes):
        return f"<td>{badge('not_tested', lang)}</td>"
    return f"<td>{badge('pass', lang)}</td>"


def _target_cell(limits: dict[str, Any], names: list[str], stat: str, lang: str) -> str:
    shown = sorted({limit_text(limits[n], n, lang) for n in names if n in limits})
    if not shown:
        return "<td>—</td>"
    extra = f'<br><span class="small">{stat_label(stat, lang)}</span>' if stat else ""
    return f'<td class="tgt">{" / ".join(shown)}{extra}</td>'


def values_table(check: dict[str, Any], doc: dict[str, Any], lang: str) -> str:
    """Targets and measured values per direction, with pass/fail against the limits."""
    m: dict[str, Any] = check.get("metrics") or {}
    limits: dict[str, Any] = check.get("limits") or {}
    stats = {
        str(t.get("metric")): str(t.get("statistic", ""))
        for t in (doc.get("profile") or {}).get("targets") or []
        if isinstance(t, dict)
    }
    rows: list[str] = []
    covered: set[str] = set()
    for key, base, target in JUDGED:
        names = [_dir_metric(base, d, _unit(base)) for d in ("up", "down")]
        covered |= set(names)
        rows.append(
            f"<tr><th>{label(key, lang)}</th>"
            + "".join(_value_cell(m, limits, n, lang) for n in names)
            + _target_cell(limits, names, stats.get(target, ""), lang)
            + _result(m, limits, names, lang)
            + "</tr>"
        )

    def info(title: str, cells: list[str]) -> None:
        if any(c != "—" for c in cells):
            rows.append(
                f"<tr class='info'><th>{title}</th>"
                + "".join(f"<td>{c}</td>" for c in cells)
                + "<td>—</td><td>—</td></tr>"
            )

    def triple(d: str) -> str:
        names = [f"delay_{d}_{s}_ms" for s in ("p50", "p99", "max")]
        if not all(n in m for n in names):
            return "—"
        return " / ".join(num(m[n], lang) for n in names) + "\u00a0ms"

    def one(name: str) -> str:
        return with_unit(m[name], name, lang) if name in m else "—"

    info(label("delay_stats", lang), [triple("up"), triple("down")])
    info(label("ipdv", lang), [one("ipdv_up_p99_ms"), one("ipdv_down_p99_ms")])
    info(label("pdv", lang), [one("pdv_up_p99_ms"), one("pdv_down_p99_ms")])
    info(
        label("worst_window", lang),
        [one("worst_window_loss_up_pct"), one("worst_window_loss_down_pct")],
    )
    info(label("burst", lang), [one("longest_burst_up"), one("longest_burst_down")])

    def single(title: str, html: str, names: list[str] = []) -> None:  # noqa: B006
        if html and html != "—":
            lim = [n for n in names if n in limits]
            covered.update(names)
            rows.append(
                f"<tr class='info'><th>{title}</th><td colspan='2'>{html}</td>"
                + _target_cell(limits, lim, "", lang)
                + _result(m, limits, lim, lang)
                + "</tr>"
            )

    rtt: list[str] = [n for n in ("rtt_mean_ms", "rtt_p95_ms", "rtt_max_ms") if n in m]
    if rtt:
        single(
            f"{label('rtt', lang)} ({' / '.join(stat_short(n.split('_')[1], lang) for n in rtt)})",
            " / ".join(num(m[n], lang) for n in rtt) + "\u00a0ms",
            rtt,
        )
    if "loss_rt_pct" in m:
        single(f"{label('loss', lang)} ({label('round_trip', lang)})", one("loss_rt_pct"))
    if "mos" in m:
        single(label("mos", lang), f"<b>{num(m['mos'], lang, 2)}</b>", ["mos"])
    if "r_factor" in m:
        single(label("r_factor", lang), num(m["r_factor"], lang, 1), ["r_factor"])
    if "packets_sent" in m:
        single(
            label("packets", lang),
            f"{num(m['packets_sent'], lang)} / {num(m.get('packets_received', 0), lang)}",
        )
    if "reordered_count" in m or "duplicate_count" in m:
        single(
            label("reordered", lang),
            f"{num(m.get('reordered_count', 0), lang)} / {num(m.get('duplicate_count', 0), lang)}",
        )
    for name in sorted(set(limits) - covered):
        single(esc(name), one(name), [name])
    head = (
        f"<tr><th>{label('metric', lang)}</th><th>{label('up', lang)}</th>"
        f"<th>{label('down', lang)}</th><th>{label('target', lang)}</th>"
        f"<th>{label('result', lang)}</th></tr>"
    )
    return f'<table class="values"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _targets(limits: dict[str, Any], names: list[str], lang: str) -> list[svg.Target]:
    seen: dict[float, svg.Target] = {}
    for n in names:
        lim = limits.get(n)
        if isinstance(lim, dict) and isinstance(lim.get("value"), int | float):
            value = float(lim["value"])
            op = OPS.get(str(lim.get("op")), str(lim.get("op")))
            seen.setdefault(
                value, svg.Target(value, label("target_line", lang, op=op, value=num(value, lang)))
            )
    return list(seen.values())


def charts(check: dict[str, Any], lang: str) -> str:
    """Delay and jitter over time as inline SVG, with target lines and loss ticks."""
    evidence = check.get("evidence") or {}
    try:
        data = ser.voice_series(evidence) if isinstance(evidence, dict) else None
    except (ValueError, TypeError) as exc:
        return f'<p class="note">{label("bad_samples", lang, why=esc(exc))}</p>'
    if data is None:
        return f'<p class="note">{label("no_samples", lang)}</p>'
    limits: dict[str, Any] = check.get("limits") or {}

    def fmt(v: float) -> str:
        return num(v, lang)

    def lines(items: list[ser.Series]) -> list[svg.Line]:
        return [
            svg.Line(label(f"series_{s.key}", lang), ser.downsample(s.points), COLOURS[s.key])
            for s in items
        ]

    rows = [
        svg.TickRow(label(f"loss_{k}", lang), data.losses[k])
        for k in ("up", "down", "rt")
        if k in data.losses
    ]
    if data.unknown:
        rows.append(
            svg.TickRow(
                label("loss_unknown", lang), [(x, 1.0) for x in data.unknown], UNKNOWN_COLOUR
            )
        )
    estimated = data.delay_method != "measured"
    delay = svg.Chart(
        title=label("chart_delay_est" if estimated else "chart_delay", lang),
        y_label=label("axis_ms", lang),
        x_label=label("axis_s", lang),
        x_max=data.duration_s,
        lines=lines(data.delay),
        targets=_targets(limits, ["delay_up_ms", "delay_down_ms"], lang),
        rows=rows,
        off_scale=label("off_scale", lang),
        empty=label("no_data", lang),
        fmt=fmt,
    )
    jitter = svg.Chart(
        title=label("chart_jitter", lang),
        y_label=label("axis_ms", lang),
        x_label=label("axis_s", lang),
        x_max=data.duration_s,
        lines=lines(data.jitter),
        targets=_targets(limits, ["jitter_up_ms", "jitter_down_ms"], lang),
        shade_until=data.warmup_until_s,
        shade_label=label("warmup", lang),
        off_scale=label("off_scale", lang),
        empty=label("no_data", lang),
        fmt=fmt,
    )
    note = label("chart_note", lang, count=data.packets, max=ser.MAX_POINTS)
    return (
        f'<figure class="chart"><figcaption>{esc(delay.title)}</figcaption>'
        f"{svg.line_chart(delay)}</figure>"
        f'<figure class="chart"><figcaption>{esc(jitter.title)}</figcaption>'
        f"{svg.line_chart(jitter)}</figure>"
        f'<p class="small">{esc(note)}</p>'
    )


def method_table(check: dict[str, Any], lang: str) -> str:
    """How the voice path was measured and how exact the instrument was."""
    ev: dict[str, Any] = check.get("evidence") or {}
    m: dict[str, Any] = check.get("metrics") or {}
    rows: list[tuple[str, str]] = [
        (label("method_used", lang), foreign(str(check.get("method", "")), lang))
    ]
    dm = ev.get("delay_method")
    if dm:
        key = "delay_measured" if dm == "measured" else "delay_estimated"
        rows.append((label("delay_method", lang), f"{label(key, lang)} (<code>{esc(dm)}</code>)"))
    if "timestamp_source" in ev:
        rows.append(
            (label("timestamp_source", lang), f"<code>{esc(ev['timestamp_source'])}</code>")
        )
    clocks = ev.get("clocks")
    if isinstance(clocks, dict):
        rows.append(
            (
                label("clocks", lang),
                f"{yes_no(clocks.get('local_synchronised'), lang)} / "
                f"{yes_no(clocks.get('remote_synchronised'), lang)}",
            )
        )
    if "send_late_p99_ms" in m:
        rows.append(
            (
                label("send_late", lang),
                f"{with_unit(m['send_late_p99_ms'], 'send_late_p99_ms', lang)} / "
                f"{with_unit(m.get('send_late_max_ms', 0), 'send_late_max_ms', lang)}",
            )
        )
    if "send_late_mean_ms" in m:
        rows.append(
            (label("send_late_mean", lang), with_unit(m["send_late_mean_ms"], "x_ms", lang))
        )
    if "pacing_realtime" in ev:
        rows.append((label("pacing", lang), yes_no(ev["pacing_realtime"], lang)))
    stream = ev.get("stream")
    if isinstance(stream, dict):
        try:
            duration: object = num(
                (int(stream["finished_ns"]) - int(stream["started_ns"])) / 1e9, lang, 1
            )
        except (KeyError, TypeError, ValueError):
            duration = "?"
        dscp = stream.get("dscp", (ev.get("dscp") or {}).get("sent", "?"))
        payload = stream.get("payload_bytes", stream.get("request_bytes", "?"))
        rows.append(
            (
                label("stream", lang),
                esc(
                    label(
                        "stream_value",
                        lang,
                        rate=stream.get("rate_pps", "?"),
                        payload=payload,
                        dscp=dscp,
                        duration=duration,
                    )
                ),
            )
        )
        rows.append(
            (
                label("replies_ignored", lang),
                f"{esc(stream.get('ignored_replies', 0))} / {esc(stream.get('late_replies', 0))}"
                f" / {esc(stream.get('send_errors', 0))}",
            )
        )
    for key in ("destination", "server"):
        if key in ev:
            rows.append((label("destination", lang), f"<code>{esc(ev[key])}</code>"))
    if "authenticated" in ev:
        rows.append((label("authenticated", lang), yes_no(ev["authenticated"], lang)))
    out = kv_table(rows)
    definitions = ev.get("definitions")
    if isinstance(definitions, dict) and definitions:
        items = "".join(
            f"<li><b>{esc(k)}</b>: {foreign(str(v), lang)}</li>" for k, v in definitions.items()
        )
        out += f'<h3>{label("definitions", lang)}</h3><ul class="defs">{items}</ul>'
    return out


def section(check: dict[str, Any], doc: dict[str, Any], lang: str) -> str:
    """One voice check: status, note on the method, values, charts."""
    ev = check.get("evidence") or {}
    if isinstance(ev, dict) and ev.get("samples_format"):
        note = label("stun_note", lang)
    elif isinstance(ev, dict) and ev.get("delay_method") == "measured":
        note = label("measured_note", lang)
    elif isinstance(ev, dict) and ev.get("delay_method"):
        note = label("estimated_note", lang)
    else:
        note = ""
    reason = str(check.get("reason", ""))
    return (
        f"<h3>{badge(str(check.get('status', '')), lang)} {esc(check_title(check, lang))}"
        f' <code class="id">{esc(check.get("id", ""))}</code></h3>'
        + (f'<p class="reason">{foreign(reason, lang)}</p>' if reason else "")
        + (f'<p class="note">{esc(note)}</p>' if note else "")
        + values_table(check, doc, lang)
        + charts(check, lang)
    )

"""Small formatting helpers shared by the HTML report's sections."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from netready.model import Limit
from netready.report.texts import label, status_label

OPS = {"<=": "≤", "<": "<", ">=": "≥", ">": ">"}


def esc(value: object) -> str:
    """Text for HTML, quotes escaped too."""
    return escape(str(value), quote=True)


def num(value: object, lang: str = "en", digits: int | None = None) -> str:
    """A number for people: about 3 significant digits, German decimal comma in `de`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return esc(value)
    v = float(value)
    if digits is None:
        a = abs(v)
        digits = 0 if a == 0 or a >= 1000 else 3 if a < 1 else 2 if a < 10 else 1
    text = f"{v:.{digits}f}"
    if v == int(v):
        text = str(int(v))
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace(".", ",") if lang == "de" else text


def unit_of(metric: str) -> str:
    """The unit a metric name ends with (delay_up_ms -> ms)."""
    if metric.endswith("_ms"):
        return "ms"
    if metric.endswith("_pct"):
        return "%"
    if metric.endswith("_bytes"):
        return "B"
    return ""


def with_unit(value: object, metric: str, lang: str) -> str:
    """`num` plus the metric's unit."""
    unit = unit_of(metric)
    return f"{num(value, lang)}\u00a0{unit}" if unit else num(value, lang)


def limit_text(limit: dict[str, Any], metric: str, lang: str) -> str:
    """'≤ 150 ms' from {op, value}."""
    op = esc(OPS.get(str(limit.get("op")), limit.get("op")))
    return f"{op} {with_unit(limit.get('value'), metric, lang)}"


def holds(limit: dict[str, Any], value: object) -> bool | None:
    """Whether a measured value meets its limit; None when either is unusable."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return Limit(str(limit["op"]), float(limit["value"])).holds(float(value))
    except (KeyError, TypeError, ValueError):
        return None


def when(iso: object) -> str:
    """'2026-11-22 02:17:58 UTC' from the report's ISO time; the raw text when unparseable."""
    try:
        t = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return esc(iso)
    suffix = " UTC" if t.utcoffset() is not None and not t.utcoffset() else ""
    return esc(t.strftime("%Y-%m-%d %H:%M:%S") + suffix)


def span_seconds(start: object, end: object) -> float | None:
    """Seconds between two ISO times of the report."""
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (b - a).total_seconds()


def badge(status: str, lang: str) -> str:
    """A coloured status word."""
    return f'<span class="badge st-{esc(status)}">{esc(status_label(status, lang))}</span>'


def yes_no(value: object, lang: str) -> str:
    """ja / nein / unbekannt for booleans; other values as they are."""
    if value is True:
        return label("yes", lang)
    if value is False:
        return label("no", lang)
    if value is None:
        return label("unknown", lang)
    return esc(value)


def foreign(text: str, lang: str) -> str:
    """English text of the document (reasons, definitions) marked as English on a German page."""
    return f'<span lang="en">{esc(text)}</span>' if lang != "en" else esc(text)


def kv_table(rows: list[tuple[str, str]], css: str = "kv") -> str:
    """A two-column table of label and already-escaped HTML value."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows if v)
    return f'<table class="{css}">{body}</table>'

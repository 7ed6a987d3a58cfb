"""Inline SVG line charts for the HTML report: no scripts, no external resources, print-safe."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

Point = tuple[float, float]

WIDTH = 760
LEFT, RIGHT, TOP = 62, 18, 34
PLOT_H = 190
ROW_H = 13
TARGET_COLOUR = "#cf222e"
GRID_COLOUR = "#d0d7de"
AXIS_COLOUR = "#57606a"


@dataclass(frozen=True)
class Line:
    """A data series: points (x, y) in chart units, drawn as one polyline."""

    label: str
    points: Sequence[Point]
    colour: str


@dataclass(frozen=True)
class Target:
    """A horizontal limit line, e.g. 150 ms."""

    value: float
    label: str


@dataclass(frozen=True)
class TickRow:
    """A strip under the plot with one tick per event (x, weight 0..1), e.g. lost packets."""

    label: str
    ticks: Sequence[Point]
    colour: str = TARGET_COLOUR


@dataclass(frozen=True)
class Chart:
    """What one chart shows; texts come already translated."""

    title: str
    y_label: str
    x_label: str
    x_max: float
    lines: Sequence[Line]
    targets: Sequence[Target] = ()
    rows: Sequence[TickRow] = ()
    shade_until: float | None = None
    shade_label: str = ""
    off_scale: str = "{label}: above this scale"
    empty: str = "no data"
    fmt: Callable[[float], str] = field(default=lambda v: f"{v:g}")


def nice_step(span: float, count: int) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about `count` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(1, count)
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _scale_top(chart: Chart) -> tuple[float, list[Target], list[Target]]:
    """Top of the y axis, the targets drawn inside it, and those left above it."""
    data_max = max((y for line in chart.lines for _, y in line.points), default=0.0)
    targets = [t for t in chart.targets if t.value > 0]
    lowest = min((t.value for t in targets), default=0.0)
    if targets and data_max >= lowest / 4:
        top = max(data_max, max(t.value for t in targets)) * 1.08
    else:
        top = data_max * 1.15
    top = top if top > 0 else 1.0
    step = nice_step(top, 4)
    top = math.ceil(top / step - 1e-9) * step
    inside = [t for t in targets if t.value <= top]
    return top, inside, [t for t in targets if t.value > top]


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def line_chart(chart: Chart) -> str:
    """The chart as an <svg> element (width 100%, scales with the page)."""
    plot_w = WIDTH - LEFT - RIGHT
    rows_top = TOP + PLOT_H + 22
    height = rows_top + len(chart.rows) * ROW_H + 26
    x_max = chart.x_max if chart.x_max > 0 else 1.0
    y_top, inside, above = _scale_top(chart)

    def px(x: float) -> float:
        return LEFT + plot_w * min(max(x / x_max, 0.0), 1.0)

    def py(y: float) -> float:
        return TOP + PLOT_H * (1 - min(max(y / y_top, 0.0), 1.0))

    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="100%" role="img"'
        f' aria-label="{escape(chart.title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(chart.title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    if chart.shade_until:
        out.append(
            f'<rect x="{LEFT}" y="{TOP}" width="{_num(px(chart.shade_until) - LEFT)}"'
            f' height="{PLOT_H}" fill="#eaeef2"/>'
        )
        if chart.shade_label:
            out.append(
                f'<text x="{LEFT + 3}" y="{TOP + 10}" font-size="9" fill="{AXIS_COLOUR}">'
                f"{escape(chart.shade_label)}</text>"
            )
    step = nice_step(y_top, 4)
    for i in range(round(y_top / step) + 1):
        y = py(i * step)
        out.append(
            f'<line x1="{LEFT}" y1="{_num(y)}" x2="{LEFT + plot_w}" y2="{_num(y)}"'
            f' stroke="{GRID_COLOUR}" stroke-width="0.6"/>'
            f'<text x="{LEFT - 5}" y="{_num(y + 3.5)}" font-size="10" text-anchor="end"'
            f' fill="{AXIS_COLOUR}">{escape(chart.fmt(i * step))}</text>'
        )
    x_step = nice_step(x_max, 6)
    for i in range(int(x_max / x_step + 1e-9) + 1):
        x = px(i * x_step)
        out.append(
            f'<line x1="{_num(x)}" y1="{TOP + PLOT_H}" x2="{_num(x)}" y2="{TOP + PLOT_H + 4}"'
            f' stroke="{AXIS_COLOUR}" stroke-width="0.8"/>'
            f'<text x="{_num(x)}" y="{TOP + PLOT_H + 15}" font-size="10" text-anchor="middle"'
            f' fill="{AXIS_COLOUR}">{escape(chart.fmt(i * x_step))}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" y1="{TOP + PLOT_H}" x2="{LEFT + plot_w}" y2="{TOP + PLOT_H}"'
        f' stroke="{AXIS_COLOUR}" stroke-width="1"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PLOT_H}"'
        f' stroke="{AXIS_COLOUR}" stroke-width="1"/>'
        f'<text x="14" y="{TOP + PLOT_H / 2}" font-size="10" fill="{AXIS_COLOUR}"'
        f' text-anchor="middle" transform="rotate(-90 14 {TOP + PLOT_H / 2})">'
        f"{escape(chart.y_label)}</text>"
    )
    has_data = any(line.points for line in chart.lines)
    for line in chart.lines:
        if not line.points:
            continue
        pts = " ".join(f"{_num(px(x))},{_num(py(y))}" for x, y in line.points)
        out.append(
            f'<polyline fill="none" stroke="{line.colour}" stroke-width="1.1"'
            f' stroke-linejoin="round" points="{pts}"/>'
        )
    if not has_data:
        out.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + PLOT_H / 2}" font-size="13"'
            f' text-anchor="middle" fill="{AXIS_COLOUR}">{escape(chart.empty)}</text>'
        )
    for t in inside:
        y = py(t.value)
        out.append(
            f'<line x1="{LEFT}" y1="{_num(y)}" x2="{LEFT + plot_w}" y2="{_num(y)}"'
            f' stroke="{TARGET_COLOUR}" stroke-width="1.4" stroke-dasharray="6 4"/>'
            f'<text x="{LEFT + plot_w - 4}" y="{_num(y - 4)}" font-size="10" text-anchor="end"'
            f' fill="{TARGET_COLOUR}">{escape(t.label)}</text>'
        )
    for i, t in enumerate(above):
        out.append(
            f'<text x="{LEFT + plot_w - 4}" y="{TOP + 11 + 12 * i}" font-size="10"'
            f' text-anchor="end" fill="{TARGET_COLOUR}">'
            f"{escape(chart.off_scale.format(label=t.label))} \u2191</text>"
        )
    out.append(
        f'<text x="{LEFT + plot_w}" y="{rows_top - 4 + len(chart.rows) * ROW_H + 16}"'
        f' font-size="10" text-anchor="end" fill="{AXIS_COLOUR}">{escape(chart.x_label)}</text>'
    )
    for r, row in enumerate(chart.rows):
        top = rows_top + r * ROW_H
        out.append(
            f'<text x="{LEFT - 5}" y="{top + 9}" font-size="9" text-anchor="end"'
            f' fill="{AXIS_COLOUR}">{escape(row.label)}</text>'
            f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{ROW_H - 3}"'
            f' fill="#f6f8fa" stroke="{GRID_COLOUR}" stroke-width="0.5"/>'
        )
        columns: dict[int, float] = {}
        for x, weight in row.ticks:
            col = round(px(x))
            columns[col] = max(columns.get(col, 0.0), weight)
        for col, weight in sorted(columns.items()):
            out.append(
                f'<line x1="{col}" y1="{top}" x2="{col}" y2="{top + ROW_H - 3}"'
                f' stroke="{row.colour}" stroke-width="1.2"'
                f' stroke-opacity="{0.35 + 0.65 * min(max(weight, 0.0), 1.0):.2f}"/>'
            )
    legend_x = float(LEFT)
    items = [(line.label, line.colour, "") for line in chart.lines]
    items += [(t.label, TARGET_COLOUR, ' stroke-dasharray="6 4"') for t in chart.targets[:1]]
    for label, colour, dash in items:
        out.append(
            f'<line x1="{_num(legend_x)}" y1="14" x2="{_num(legend_x + 18)}" y2="14"'
            f' stroke="{colour}" stroke-width="2.2"{dash}/>'
            f'<text x="{_num(legend_x + 23)}" y="18" font-size="11" fill="#1f2328">'
            f"{escape(label)}</text>"
        )
        legend_x += 34 + 7.0 * len(label)
    out.append("</svg>")
    return "\n".join(out)

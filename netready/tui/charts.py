"""Small text charts for the run screen: a trend with its target line, a port strip.

Pure functions over numbers returning rich Text, so they are tested without an app.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text

BLOCKS = " ▁▂▃▄▅▆▇█"
TARGET_MARK = "┄"
OK, BAD, DIM, TARGET = "green", "bold red", "grey50", "yellow"


def trend(values: Sequence[float], target: float, width: int, height: int = 3) -> Text:
    """The last `width` values as bars, `height` rows; the target drawn as a dotted row.

    The scale tops out at 1.5 x target (or the largest value), so the target line sits at
    two thirds of the height and a bar crossing it turns red.
    """
    shown = list(values)[-width:] if width > 0 else []
    top = max([target * 1.5, *(v * 1.05 for v in shown)]) if target > 0 else 1.0
    top = top if top > 0 else 1.0
    eighths = height * 8
    target_level = target / top * eighths
    target_row = int(target_level // 8) if 0 < target_level < eighths else -1
    rows: list[Text] = []
    for row in reversed(range(height)):
        line = Text()
        for v in shown:
            fill = max(0, min(8, round(v / top * eighths) - row * 8))
            if fill == 0 and row == target_row:
                line.append(TARGET_MARK, TARGET)
            else:
                line.append(BLOCKS[fill], BAD if v > target else OK)
        pad = width - len(shown)
        if pad > 0:
            line.append((TARGET_MARK if row == target_row else " ") * pad, TARGET)
        rows.append(line)
    return Text("\n").join(rows)


def parse_ranges(text: str) -> list[tuple[int, int]]:
    """'16384-16390,20000' -> [(16384, 16390), (20000, 20000)]; junk parts are ignored."""
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            a = int(first)
            b = int(last) if last else a
        except ValueError:
            continue
        out.append((min(a, b), max(a, b)))
    return out


def _overlaps(ranges: Sequence[tuple[int, int]], lo: int, hi: int) -> bool:
    return any(a <= hi and b >= lo for a, b in ranges)


def port_strip(ports: Mapping[str, str], width: int) -> Text:
    """One cell per slice of the rule's ports: green open, red any blocked, grey untested.

    `ports` is a firewall check's evidence {open, blocked, not_tested} of range strings.
    A blocked port always shows, however small its slice (one red cell at least).
    """
    kinds = {
        k: parse_ranges(str(ports.get(k, "") or "")) for k in ("open", "blocked", "not_tested")
    }
    every = [r for rs in kinds.values() for r in rs]
    if not every or width <= 0:
        return Text("-", DIM)
    first, last = min(a for a, _ in every), max(b for _, b in every)
    cells = min(width, last - first + 1)
    span = (last - first + 1) / cells
    strip = Text()
    for i in range(cells):
        lo = first + int(i * span)
        hi = max(lo, first + int((i + 1) * span) - 1)
        if _overlaps(kinds["blocked"], lo, hi):
            strip.append("█", BAD)
        elif _overlaps(kinds["not_tested"], lo, hi):
            strip.append("░", DIM)
        elif _overlaps(kinds["open"], lo, hi):
            strip.append("█", OK)
        else:
            strip.append(" ")
    return strip

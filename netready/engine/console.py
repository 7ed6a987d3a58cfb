"""Subscribers that show a run: a console printer (stderr) and a JSON-lines writer.

The printer shows server-chosen text (reasons, progress messages) through
`netready.termtext.visible`: its control characters are shown, never obeyed.
"""

from __future__ import annotations

import json
import threading
import time
from typing import IO

from netready.events import (
    CheckFinished,
    Event,
    Progress,
    RunFinished,
    RunStarted,
)
from netready.model import CheckResult
from netready.termtext import json_visible, visible

_MARK = {
    "pass": "PASS",
    "fail": "FAIL",
    "error": "ERROR",
    "skipped": "skip",
    "not_tested": "not tested",
}
BAR_WIDTH = 24


def measured(result: CheckResult) -> str:
    """The judged metrics of a result in one short phrase, e.g. ': delay_up_ms 0.06 (<= 150)'."""
    parts = [
        f"{name} {result.metrics[name]:.2f} ({lim.op} {lim.value:g})"
        for name, lim in result.limits.items()
        if name in result.metrics
    ]
    if "mos" in result.metrics:
        parts.append(f"MOS {result.metrics['mos']:.2f}")
    ports = result.evidence.get("ports")
    if not parts and isinstance(ports, dict) and ports.get("open"):
        parts.append(f"open {ports['open']}")
    return ": " + ", ".join(parts) if parts else ""


def time_left_s(expected_s: float, began: float) -> float:
    """What is left of the run's estimate (never below 0: a late run says 0, not minus)."""
    return max(0.0, expected_s - (time.monotonic() - began))


class ConsolePrinter:
    """One line per check on stderr; a live progress bar when stderr is a terminal."""

    def __init__(self, stream: IO[str], tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.total = 0
        self.expected_s, self.began = 0.0, time.monotonic()  # the run's estimate, its start
        self.index = 0  # checks finished so far
        self._last_draw = 0.0
        self._bar_shown = False
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.total = len(event.checks)
            self.expected_s, self.began = event.expected_s, time.monotonic()
            about = f", about {event.expected_s:.0f} s" if event.expected_s else ""
            self._line(f"netready: profile {event.profile}: {self.total} checks{about}")
        elif isinstance(event, Progress) and self.tty:
            self._bar(event)
        elif isinstance(event, CheckFinished):
            self.index = min(self.index + 1, self.total)  # checks may finish out of order
            r = event.result
            why = f": {r.reason}" if r.reason else measured(r)
            self._line(f"[{self.index}/{self.total}] {_MARK[str(r.status)]:<10} {r.id}{why}")
        elif isinstance(event, RunFinished):
            note = " (interrupted)" if event.interrupted else ""
            self._line(f"netready: verdict {event.verdict}{note}")

    def _bar(self, event: Progress) -> None:
        now = time.monotonic()
        if now - self._last_draw < 0.1 and event.fraction < 1.0:
            return
        self._last_draw = now
        done = int(event.fraction * BAR_WIDTH)
        bar = "#" * done + "-" * (BAR_WIDTH - done)
        msg = visible(event.message)[:40]
        left = f" ~{time_left_s(self.expected_s, self.began):.0f} s left" if self.expected_s else ""
        self.stream.write(
            f"\r[{self.index}/{self.total}] [{bar}] {event.fraction:4.0%}{left} {msg}\x1b[K"
        )
        self.stream.flush()
        self._bar_shown = True

    def _line(self, text: str) -> None:
        if self._bar_shown:
            self.stream.write("\r\x1b[K")
            self._bar_shown = False
        self.stream.write(visible(text) + "\n")
        self.stream.flush()


class JsonLinesWriter:
    """Writes every event as one JSON object per line (for scripts and support)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json_visible(json.dumps(event.to_dict(), ensure_ascii=False, sort_keys=True))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

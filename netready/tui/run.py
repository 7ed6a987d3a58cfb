"""Run screen: every check as a row, live delay/jitter trends per direction, loss, ports.

The screen only reads the source's queue on a 0.1 s timer; the engine never waits for it.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Label, ProgressBar, RichLog, Static

from netready.engine.console import time_left_s
from netready.tui.charts import port_strip, trend
from netready.tui.keys import COMMON, localized
from netready.tui.sources import EventDict, EventSource
from netready.tui.texts import keys, t

if TYPE_CHECKING:
    from netready.tui.app import NetreadyApp

STATUS_KEYS = {k for k in keys() if k.startswith("status_")}
POLL_S = 0.1
CHART_WIDTH = 34
SERIES_KEEP = 400
STATUS_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "error": "bold magenta",
    "not_tested": "yellow",
    "skipped": "grey50",
    "running": "bold cyan",
    "planned": "grey50",
}
# (series, text key, target metric in the profile)
CHARTS = (
    ("delay_up_ms", "delay_up", "delay_ms"),
    ("delay_down_ms", "delay_down", "delay_ms"),
    ("jitter_up_ms", "jitter_up", "jitter_ms"),
    ("jitter_down_ms", "jitter_down", "jitter_ms"),
)
DEFAULT_TARGETS = {"delay_ms": 150.0, "jitter_ms": 20.0, "loss_pct": 1.0}


class ConfirmStop(ModalScreen[bool]):
    """Asks before stopping: y / n (or escape = go on)."""

    BINDINGS = [  # noqa: RUF012
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Label(t("cancel_q", self.lang))
            with Horizontal(id="buttons"):
                yield Button(f"[y] {t('yes', self.lang)}", id="yes", variant="error")
                yield Button(f"[n] {t('no', self.lang)}", id="no", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


def _status_cell(status: str, lang: str) -> Text:
    key = f"status_{status}"
    return Text(t(key, lang) if key in STATUS_KEYS else status, STATUS_STYLE.get(status, ""))


def _detail(result: dict[str, Any]) -> str:
    """One short line: the reason, or the first few measured numbers."""
    if result.get("reason"):
        return str(result["reason"])
    metrics = result.get("metrics", {})
    shown = [f"{k} {v:.4g}" for k, v in list(metrics.items())[:3] if isinstance(v, int | float)]
    return ", ".join(shown)


class RunScreen(Screen[None]):
    """Shows one run; when it ends, the app switches to the result."""

    BINDINGS = [Binding("escape", "stop", "b_cancel"), *COMMON]  # noqa: RUF012

    def __init__(self, source: EventSource, targets: dict[str, float] | None = None) -> None:
        super().__init__()
        self.source = source
        self.targets = {**DEFAULT_TARGETS, **(targets or {})}
        self.series: dict[str, list[float]] = {name: [] for name, _, _ in CHARTS}
        self.total = 0
        self.index = 0
        self.expected_s, self.began = 0.0, time.monotonic()  # the run's estimate, its start
        self.current = ""
        self.ports: dict[str, dict[str, str]] = {}
        self.live: dict[str, float] = {}
        self.delay_measured = False
        self.stopping = False
        self.ended = False

    @property
    def nr(self) -> NetreadyApp:
        from netready.tui.app import NetreadyApp

        assert isinstance(self.app, NetreadyApp)
        return self.app

    def compose(self) -> ComposeResult:
        lang = self.nr.lang
        yield Header()
        with Horizontal(id="run"):
            with Vertical(id="left"):
                table: DataTable[Any] = DataTable(id="checks", cursor_type="row")
                yield table
                yield RichLog(id="log", max_lines=500, wrap=True, markup=False)
            with VerticalScroll(id="live"):
                yield Static(t("waiting", lang), id="message")
                yield ProgressBar(total=1.0, show_eta=False, id="progress")
                for name, _key, _ in CHARTS:
                    yield Static("", id=f"label-{name}", classes="chart-label")
                    yield Static("", id=f"chart-{name}", classes="chart")
                yield Static("", id="loss")
                yield Static("", id="ports")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#checks", DataTable)
        table.add_column("", key="status", width=10)
        table.add_column(t("checks", self.nr.lang), key="id", width=22)
        table.add_column("", key="detail", width=60)
        self._draw_charts()
        self.set_interval(POLL_S, self._poll)

    # ---- events ----

    def _poll(self) -> None:
        for event in self.source.drain():
            self.apply(event)
        if self.source.done.is_set() and not self.ended and self.source.events.empty():
            self.ended = True
            self.nr.run_ended(self.source)

    def apply(self, event: EventDict) -> None:
        """Show one event (the dict form of netready.events)."""
        kind = event.get("event")
        handler = {
            "run_started": self._run_started,
            "check_started": self._check_started,
            "progress": self._progress,
            "live": self._live,
            "check_finished": self._check_finished,
            "run_finished": self._run_finished,
            "log": self._diagnostic,
        }.get(str(kind))
        if handler is None:
            return
        try:
            handler(event)
        except Exception as exc:  # a malformed event (a damaged replay) is shown, not fatal
            self._log(f"event skipped ({type(exc).__name__}: {exc}): {str(event)[:200]}")

    def _log(self, text: str) -> None:
        self.query_one("#log", RichLog).write(text)

    def _diagnostic(self, e: EventDict) -> None:
        self._log(str(e.get("text", "")))

    def _run_started(self, e: EventDict) -> None:
        table = self.query_one("#checks", DataTable)
        table.clear()
        checks = e.get("checks", [])
        self.total = len(checks)
        for c in checks:
            check_id = str(c["id"])
            if check_id not in table.rows:
                planned = _status_cell("planned", self.nr.lang)
                table.add_row(planned, Text(check_id), "", key=check_id)
        self.expected_s, self.began = float(e.get("expected_s", 0.0) or 0.0), time.monotonic()
        about = f", about {self.expected_s:.0f} s" if self.expected_s else ""
        self._log(f"profile {e.get('profile', '')}: {self.total} checks{about}")

    def _set_row(self, check_id: str, status: str, detail: str) -> None:
        table = self.query_one("#checks", DataTable)
        try:
            table.update_cell(check_id, "status", _status_cell(status, self.nr.lang))
            table.update_cell(check_id, "detail", Text(detail))
        except Exception:  # a replay may name a check the plan did not list
            cells = (_status_cell(status, self.nr.lang), Text(check_id), Text(detail))
            table.add_row(*cells, key=check_id)

    def _check_started(self, e: EventDict) -> None:
        self.index += 1
        self.current = str(e.get("id", ""))
        self._set_row(self.current, "running", "")
        self.query_one("#message", Static).update(
            Text(f"[{self.index}/{self.total}] {self.current}")
        )

    def _progress(self, e: EventDict) -> None:
        fraction = float(e.get("fraction", 0.0))
        done = (max(0, self.index - 1) + fraction) / max(1, self.total)
        self.query_one("#progress", ProgressBar).update(progress=done)
        msg = f"[{self.index}/{self.total}] {e.get('id', '')}: {e.get('message', '')}"
        if self.expected_s:
            msg += f" (~{time_left_s(self.expected_s, self.began):.0f} s left)"
        self.query_one("#message", Static).update(Text(msg))

    def _live(self, e: EventDict) -> None:
        values = e.get("values", {})
        self.live = {
            k: float(v)
            for k, v in values.items()
            if isinstance(v, int | float) and math.isfinite(v)
        }
        self.delay_measured = self.live.get("delay_measured", 0.0) >= 1.0
        for name in self.series:
            if name in self.live:
                self.series[name] = [*self.series[name][-SERIES_KEEP:], self.live[name]]
        self._draw_charts()

    def _draw_charts(self) -> None:
        lang = self.nr.lang
        for name, key, target_name in CHARTS:
            target = self.targets.get(target_name, 0.0)
            values = self.series[name]
            now = f"{values[-1]:.2f} ms" if values else "-"
            how = (
                f" ({t('estimated', lang)})"
                if name.startswith("delay") and values and not (self.delay_measured)
                else ""
            )
            label = f"{t(key, lang)}{how} {now}  ┄ {target:g}"
            self.query_one(f"#label-{name}", Static).update(Text(label))
            self.query_one(f"#chart-{name}", Static).update(trend(values, target, CHART_WIDTH, 2))
        sent, lost = int(self.live.get("settled", 0)), int(self.live.get("lost", 0))
        received = int(self.live.get("received", 0))
        pct = 100.0 * lost / sent if sent else 0.0
        style = "bold red" if pct >= self.targets["loss_pct"] else ""
        self.query_one("#loss", Static).update(
            Text(t("loss_line", lang, sent=sent, received=received, lost=lost, pct=pct), style)
        )

    def _check_finished(self, e: EventDict) -> None:
        result = e.get("result", {})
        check_id, status = str(result.get("id", "")), str(result.get("status", ""))
        self._set_row(check_id, status, _detail(result))
        self._log(
            f"{_status_cell(status, self.nr.lang).plain or '?'}  {check_id}"
            + (f": {result['reason']}" if result.get("reason") else "")
        )
        ports = result.get("evidence", {}).get("ports")
        if check_id.startswith("firewall.") and isinstance(ports, dict):
            self.ports[check_id.removeprefix("firewall.")] = {k: str(v) for k, v in ports.items()}
            self._draw_ports()

    def _draw_ports(self) -> None:
        lines = [Text(t("ports", self.nr.lang), "bold")]
        for rule, ports in self.ports.items():
            line = Text(f"{rule[:12]:<12} ")
            line.append_text(port_strip(ports, 20))
            if ports.get("blocked"):
                line.append(f" {ports['blocked'][:40]}", "bold red")
            lines.append(line)
        self.query_one("#ports", Static).update(Text("\n").join(lines))

    def _run_finished(self, e: EventDict) -> None:
        self.query_one("#progress", ProgressBar).update(progress=1.0)
        note = " (interrupted)" if e.get("interrupted") else ""
        self._log(f"verdict {e.get('verdict', '')}{note}")

    # ---- stop ----

    def action_stop(self) -> None:
        if self.stopping or self.ended:
            return

        def answered(stop: bool | None) -> None:
            if stop:
                self.stopping = True
                self.source.cancel()
                self._log(t("stopping", self.nr.lang))
                self.query_one("#message", Static).update(Text(t("stopping", self.nr.lang)))

        self.app.push_screen(localized(ConfirmStop, self.nr.lang)(self.nr.lang), answered)

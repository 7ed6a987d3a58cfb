"""The installer's app: start form -> live run -> verdict with the signed files.

Only netready/tui/ imports textual. The run itself is the same `run_and_report` as
`netready check`, on the engine's own thread.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from netready.report import keys
from netready.tui.keys import localized
from netready.tui.result import ResultScreen
from netready.tui.run import RunScreen
from netready.tui.settings import FormMemory, load_memory
from netready.tui.sources import EventSource, ProcessSource, RunSettings
from netready.tui.start import StartScreen
from netready.tui.texts import default_lang, t

CSS = """
Screen { background: $background; }
#form { padding: 0 1; }
.row { height: 1; margin: 0 0 0 0; }
.row .label { width: 24; color: $text-muted; }
.row Input, .row Select { width: 1fr; }
.section { margin: 1 0 0 0; text-style: bold; }
#hint { color: $text-muted; }
#error { color: $error; text-style: bold; margin: 1 0 0 0; }
Checkbox { margin: 0; }
#run { height: 1fr; }
#left { width: 1fr; min-width: 36; }
#checks { height: 1fr; }
#live { width: 42; padding: 0 1; }
.chart { height: 2; }
#message { height: 1; }
#log { height: 7; border-top: solid $primary; }
#verdict { height: 3; content-align: center middle; text-style: bold; }
#verdict.pass { background: $success; color: $text; }
#verdict.fail { background: $error; color: $text; }
#verdict.incomplete { background: $warning; color: $text; }
#result { padding: 0 1; }
.problem { margin: 0 0 1 0; }
#dialog { width: 60; height: auto; max-height: 20; border: thick $warning; background: $surface;
          padding: 1 2; }
#buttons { height: auto; margin: 1 0 0 0; }
#buttons Button { margin: 0 2 0 0; }
ConfirmStop, HelpScreen { align: center middle; }
#help { width: 78; height: auto; max-height: 22; border: thick $primary; background: $surface;
        padding: 1 1; }
"""


class HelpScreen(ModalScreen[None]):
    """Every key, per screen. f1 or escape closes it."""

    BINDINGS = [Binding("escape,f1,q", "dismiss_help", "b_close")]  # noqa: RUF012

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Label(t("help_title", self.lang), classes="section")
            yield Static(Text(t("help_text", self.lang)))

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


class NetreadyApp(App[int]):
    """`netready` on a terminal. Returns the verdict's exit code when a run was made."""

    TITLE = "netready"
    ENABLE_COMMAND_PALETTE = False
    CSS = CSS
    BINDINGS = [  # noqa: RUF012
        Binding("f1", "help", "b_help", show=False),
        Binding("ctrl+q", "quit_app", "b_quit", show=False, priority=True),
        Binding("ctrl+t", "toggle_theme", "light/dark", show=False),
    ]

    def __init__(
        self,
        *,
        lang: str | None = None,
        environ: Mapping[str, str] | None = None,
        out_base: Path | None = None,
        replay: EventSource | None = None,
    ) -> None:
        super().__init__()
        self.environ = dict(os.environ if environ is None else environ)
        self.config_dir = keys.config_dir(self.environ)
        self.memory: FormMemory = load_memory(self.config_dir)
        self.lang = lang or self.memory.lang or default_lang(self.environ)
        self.out_base = out_base or Path.cwd()
        self.credentials: dict[str, str] = {}
        self.replay = replay
        self.exit_code = 0
        self.quitting = False
        self.source: EventSource | None = None

    def compose(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.title = t("app_title", self.lang)
        if self.replay is not None:
            self._watch(self.replay)
        else:
            self.push_screen(localized(StartScreen, self.lang)())

    def _watch(self, source: EventSource, targets: dict[str, float] | None = None) -> None:
        self.source = source
        source.start()
        self.push_screen(localized(RunScreen, self.lang)(source, targets))

    def start_run(self, settings: RunSettings) -> None:
        """Called by the start screen with a validated form."""
        targets = {tg.metric: tg.limit.value for tg in settings.profile.targets}
        self._watch(ProcessSource(settings, self.environ), targets)

    def run_ended(self, source: EventSource) -> None:
        """Called by the run screen once every event is shown."""
        if source.finished is None:
            why = source.error or "no report was written"
            self.notify(t("run_failed", self.lang, why=why), severity="error", timeout=30)
            self.exit_code = 4
            if self.quitting:
                self.exit(self.exit_code)
            return
        self.exit_code = source.finished.exit_code
        if self.quitting:
            self.exit(self.exit_code)
            return
        self.switch_screen(localized(ResultScreen, self.lang)(source.finished))

    def new_run(self) -> None:
        """From the result back to a fresh start form (remembered values filled in)."""
        self.switch_screen(localized(StartScreen, self.lang)())

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(localized(HelpScreen, self.lang)(self.lang))

    def action_toggle_theme(self) -> None:
        """Light or dark colours, for a terminal or a room where the other one is hard to read."""
        self.theme = "textual-light" if self.theme != "textual-light" else "textual-dark"

    def stop_run(self, timeout_s: float = 15.0) -> bool:
        """Stop a measurement still running and wait for its signed INCOMPLETE report.

        True when a run was stopped and its report written.
        """
        if self.source is None or self.source.done.is_set():
            return False
        self.source.cancel()
        self.source.done.wait(timeout=timeout_s)
        return self.source.finished is not None

    def action_quit_app(self) -> None:
        """Quit; a run still going is stopped first and the app leaves once it is signed."""
        if self.source is None or self.source.done.is_set():
            self.exit(self.exit_code)
            return
        self.quitting = True
        self.source.cancel()
        self.notify(t("stopping", self.lang), timeout=30)

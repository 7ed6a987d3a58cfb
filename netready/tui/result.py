"""Result screen: the verdict large, what to fix, where the signed files are."""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from netready.tui.keys import COMMON
from netready.tui.sources import Finished
from netready.tui.texts import t

if TYPE_CHECKING:
    from netready.tui.app import NetreadyApp

VERDICT_CLASS = {"PASS": "pass", "FAIL": "fail", "INCOMPLETE": "incomplete"}
MARK = {"fail": "✗", "error": "!", "not_tested": "?"}


def problems(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks that did not pass and were not skipped on purpose: failures first."""
    order = {"fail": 0, "error": 1, "not_tested": 2}
    bad = [c for c in document.get("checks", []) if c.get("status") in order]
    return sorted(bad, key=lambda c: order[c["status"]])


def has_browser() -> bool:
    """A browser can open here (a desktop session, or macOS/Windows)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


class ResultScreen(Screen[None]):
    """The end of a run."""

    BINDINGS = [  # noqa: RUF012
        Binding("o", "open_html", "b_open"),
        Binding("n", "new_run", "b_new"),
        *COMMON,
    ]

    def __init__(self, finished: Finished) -> None:
        super().__init__()
        self.finished = finished

    @property
    def nr(self) -> NetreadyApp:
        from netready.tui.app import NetreadyApp

        assert isinstance(self.app, NetreadyApp)
        return self.app

    def compose(self) -> ComposeResult:
        lang, f = self.nr.lang, self.finished
        verdict = str(f.document.get("verdict", "INCOMPLETE"))
        yield Header()
        yield Static(
            t(f"verdict_{verdict}", lang),
            id="verdict",
            classes=VERDICT_CLASS.get(verdict, "incomplete"),
        )
        with VerticalScroll(id="result"):
            site = f.document.get("site", {})
            who = " · ".join(v for v in (site.get("customer"), site.get("site")) if v)
            when = f.document.get("finished_at", "")
            yield Static(Text(f"{who}  {when}".strip(), "bold"))
            yield Static(Text(t("to_fix", lang), "bold underline"), classes="section")
            found = problems(f.document)
            if not found:
                yield Static(Text(t("all_passed", lang)))
            for c in found:
                text = Text(
                    f"{MARK[c['status']]} {c['id']}: ",
                    "bold red" if c["status"] == "fail" else "bold yellow",
                )
                text.append(str(c.get("reason", "")))
                if c.get("remediation"):
                    text.append(f"\n   {t('fix', lang)}: ", "bold")
                    text.append(str(c["remediation"]))
                yield Static(text, classes="problem")
            yield Static(Text(t("files", lang), "bold underline"), classes="section")
            yield Static(
                Text(
                    "\n".join(
                        str(p) for p in (f.report, f.signature, f.html, f.pdf, f.public_key) if p
                    )
                    + "\n"
                    + t("key", lang, key_id=f.key_id, fingerprint=f.fingerprint)
                    + "\n"
                    + t("verify_with", lang, report=f.report.name, pub=f.public_key.name)
                ),
                id="files",
            )
            yield Static("", id="note")
        yield Footer()

    def action_open_html(self) -> None:
        path = self.finished.html
        note = self.query_one("#note", Static)
        if has_browser() and webbrowser.open(path.resolve().as_uri()):
            note.update(Text(t("opened", self.nr.lang, path=path)))
        else:
            note.update(Text(t("no_browser", self.nr.lang, path=path)))

    def action_new_run(self) -> None:
        self.nr.new_run()

"""Server-chosen text cannot steer the installer's terminal (issue 12, finding 10a)."""

from __future__ import annotations

import io
import unicodedata

from netready.cli import Env
from netready.engine.console import ConsolePrinter
from netready.events import CheckFinished, CheckStarted, Progress, RunStarted
from netready.model import CheckResult, Status
from netready.termtext import visible

#: what a hostile SIP server put in its reason phrase: erase the line, go back to its start,
#: print a fake PASS line, an OSC 8 hyperlink, a C1 CSI and a right-to-left override
HOSTILE = (
    "Forbidden\x1b[2K\r[3/9] PASS       sip.options: all good\n"
    "\x1b]8;;https://attacker.example/\x1b\\click here\x1b]8;;\x1b\\"
    "\x9b1A\u202eSSAP\x07"
)


def control_characters(text: str) -> list[str]:
    """Every character a terminal could act on (newlines between lines excepted)."""
    return [
        repr(ch)
        for ch in text.replace("\n", "")
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
    ]


def test_visible_shows_every_control_and_keeps_plain_text() -> None:
    assert visible("Grüße, 503 Service Unavailable") == "Grüße, 503 Service Unavailable"
    assert visible("a\x1b[2Kb\rc\x00\x7f\x9b\u202e") == "a\\x1b[2Kb\\rc\\x00\\x7f\\x9b\\u202e"
    assert not control_characters(visible("".join(map(chr, range(0x00, 0xA0)))))


def run_printer(reason: str, tty: bool) -> str:
    out = io.StringIO()
    printer = ConsolePrinter(out, tty=tty)
    printer(RunStarted("stimme", (("sip.options", "SIP"),), "2026-12-04T15:00:00Z"))
    printer(CheckStarted("sip.options", "SIP"))
    printer(Progress("sip.options", 0.5, reason))
    result = CheckResult(id="sip.options", title="SIP", status=Status.FAIL, reason=reason)
    printer(CheckFinished(result=result))
    return out.getvalue()


def test_console_printer_prints_no_control_bytes_from_a_server() -> None:
    printed = run_printer(HOSTILE, tty=False)
    assert not control_characters(printed), printed
    lines = printed.splitlines()
    assert len(lines) == 2  # the profile line and one line for the check: no fake line
    assert lines[1].startswith("[1/1] FAIL       sip.options: Forbidden\\x1b[2K\\r[3/9] PASS")
    assert "\\x1b]8;;https://attacker.example/" in lines[1]  # shown, not obeyed


def test_progress_bar_on_a_terminal_keeps_only_its_own_controls() -> None:
    printed = run_printer(HOSTILE, tty=True)
    own = printed.replace("\r\x1b[K", "").replace("\x1b[K", "").replace("\r", "", 1)
    assert not control_characters(own), own


def test_stderr_diagnostics_show_controls() -> None:
    err = io.StringIO()
    Env(stdout=io.StringIO(), stderr=err, environ={}).say(f"netready: error: {HOSTILE}")
    assert not control_characters(err.getvalue()), err.getvalue()
    assert err.getvalue().count("\n") == 1


def test_json_lines_carry_the_same_value_without_raw_controls() -> None:
    import json

    from netready.engine.console import JsonLinesWriter

    out = io.StringIO()
    result = CheckResult(id="sip.options", title="SIP", status=Status.FAIL, reason=HOSTILE)
    JsonLinesWriter(out)(CheckFinished(result=result))
    line = out.getvalue()
    assert not control_characters(line), line
    assert json.loads(line)["result"]["reason"] == HOSTILE

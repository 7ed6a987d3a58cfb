"""The app against the real loopback demo: a whole run to a signed report, and a stop.

Every wait is for the very thing asserted next, with a deadline for a loaded 2-core VM
(screens.LOADED_VM_S): each run starts a responder and a `netready check` child, two new
Python processes, before anything shows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select

from netready.tui.app import NetreadyApp
from netready.tui.result import ResultScreen
from netready.tui.run import RunScreen
from netready.tui.start import StartScreen
from tests.conftest import assert_valid_report
from tests.tui.screens import LOADED_VM_S, screen_text, wait_until
from tests.tui.test_tui_app import SIZE

TURN_SECRET = "tui-s3cret-never-written"


def _fill(app: NetreadyApp, duration: str) -> None:
    screen = app.screen
    # a first run's defaults: the lab profile with its local responder (nothing to set)
    assert screen.query_one("#profile", Select).value == "lab"
    assert screen.query_one("#local_responder", Checkbox).value is True
    screen.query_one("#duration", Input).value = duration
    screen.query_one("#site-customer", Input).value = "ACME GmbH"
    screen.query_one("#site-ticket", Input).value = "T-42"
    screen.query_one("#cred-turn_password", Input).value = TURN_SECRET


def _app(tmp_path: Path) -> NetreadyApp:
    environ = {"NETREADY_CONFIG_DIR": str(tmp_path / "config"), "LANG": "de_DE.UTF-8"}
    return NetreadyApp(environ=environ, out_base=tmp_path / "out")


def _form_ready(app: NetreadyApp) -> bool:
    """The start form is up with its host rows (mounted after the form, for the profile)."""
    screen = app.screen
    return isinstance(screen, StartScreen) and bool(screen.query("#hosts Input"))


def _unless_failed(app: NetreadyApp, cond: Callable[[], bool]) -> Callable[[], bool]:
    """`cond`, for a wait during a run; a run that ended without a report (its responder or
    child could not start) never shows anything more: that fails at once, saying why."""

    def check() -> bool:
        source = app.source
        if source is not None and source.done.is_set() and source.finished is None:
            raise AssertionError(f"the run ended without a report: {source.error}")
        return cond()

    return check


async def _start(pilot: Pilot[int], app: NetreadyApp, duration: str) -> RunScreen:
    """Fill the form for the lab demo, press ctrl+r, and return the run screen."""
    await wait_until(pilot, lambda: _form_ready(app), "the start form")
    _fill(app, duration)
    await pilot.pause()  # the form has handled its change events (idle, not a fixed time)
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: isinstance(app.screen, RunScreen), "the run screen")
    run = app.screen
    assert isinstance(run, RunScreen)
    return run


def _report(tmp_path: Path) -> Path:
    reports = list((tmp_path / "out").glob("netready-report-*/report.json"))
    assert len(reports) == 1, reports
    return reports[0]


def test_from_the_form_to_a_signed_pass_on_the_loopback_demo(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = _app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            run = await _start(pilot, app, "3")
            # a whole run: every check of the lab profile, then the report signed, the PDF made
            result = _unless_failed(app, lambda: isinstance(app.screen, ResultScreen))
            await wait_until(pilot, result, "the result", 2 * LOADED_VM_S)
            assert len(run.series["delay_up_ms"]) >= 5  # live figures came in during the stream
            await wait_until(
                pilot, lambda: "Signierte Dateien" in screen_text(app), "the signed files"
            )
            assert "BESTANDEN" in screen_text(app)  # German from the locale
            await pilot.press("ctrl+q")
        assert app.return_value == 0

    asyncio.run(scenario())
    report = _report(tmp_path)
    assert_valid_report(report)
    document = json.loads(report.read_text())
    assert document["verdict"] == "PASS"
    assert document["site"]["customer"] == "ACME GmbH" and document["site"]["ticket"] == "T-42"
    pdf = report.with_name("report.pdf")  # the app hands over a PDF, in the app's language
    assert pdf.read_bytes().startswith(b"%PDF-")
    html = report.with_name("report.html").read_text()
    assert 'lang="de"' in html
    remembered = (tmp_path / "config" / "tui.json").read_text()
    assert "ACME GmbH" in remembered
    for path in [*report.parent.iterdir(), tmp_path / "config" / "tui.json"]:
        assert TURN_SECRET.encode() not in path.read_bytes(), path


def test_stop_asks_first_then_writes_a_signed_incomplete_report(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = _app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            run = await _start(pilot, app, "60")
            # the stream is under way: packets sent, which the report must keep
            sent = _unless_failed(app, lambda: run.live.get("sent", 0) > 0)
            await wait_until(pilot, sent, "the voice stream")
            await pilot.press("escape")
            await wait_until(pilot, lambda: "abbrechen?" in screen_text(app), "the question")
            await pilot.press("n")  # changed my mind: the run goes on
            await wait_until(pilot, lambda: app.screen is run, "the question to close")
            await pilot.pause()  # its answer handled
            assert not run.stopping
            await pilot.press("escape")
            await wait_until(pilot, lambda: "abbrechen?" in screen_text(app), "the question")
            await pilot.press("y")
            await wait_until(pilot, lambda: isinstance(app.screen, ResultScreen), "the result")
            await wait_until(pilot, lambda: "UNVOLLSTÄNDIG" in screen_text(app), "INCOMPLETE")
            await pilot.press("ctrl+q")
        assert app.return_value == 130

    asyncio.run(scenario())
    report = _report(tmp_path)
    assert_valid_report(report)
    document = json.loads(report.read_text())
    assert document["verdict"] == "INCOMPLETE" and document["interrupted"] is True
    voice = next(c for c in document["checks"] if c["id"] == "media.voice")
    assert 0 < len(voice["evidence"]["samples"]) < 60 * 50  # the partial stream is kept


def test_quitting_in_the_middle_stops_the_child_and_still_signs(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = _app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            run = await _start(pilot, app, "60")
            # in the middle: the child is measuring (its 60 s voice check has started). Not
            # "live figures came": those need the responder's replies and a sender on time,
            # so a loaded machine delays them, and a STUN fallback sends none at all
            measuring = _unless_failed(app, lambda: run.current == "media.voice")
            await wait_until(pilot, measuring, "the voice check")
            await pilot.press("ctrl+q")  # no question: quitting stops the run, then leaves
            await pilot.press("ctrl+q")  # a second press changes nothing (one SIGINT only)
            await wait_until(pilot, lambda: not app.is_running, "the app to sign and leave")
        assert app.return_value == 130

    asyncio.run(scenario())
    report = _report(tmp_path)
    assert_valid_report(report)
    assert json.loads(report.read_text())["verdict"] == "INCOMPLETE"
    assert report.with_name("report.pdf").is_file()  # the whole report, not a cut-short one

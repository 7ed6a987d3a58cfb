"""The real app driven by Pilot: a replayed run, the start form, help, language, snapshots."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, RichLog, Select, Static

from netready.errors import UsageError
from netready.profile import find_profile, load_profile
from netready.tui.app import NetreadyApp
from netready.tui.result import ResultScreen
from netready.tui.run import RunScreen
from netready.tui.sources import ReplaySource
from netready.tui.start import StartScreen
from tests.tui import replay_data
from tests.tui.screens import assert_snapshot, screen_text

SIZE = (80, 24)


class HeldReplay(ReplaySource):
    """A replay that stays 'running' after its last event until release() is called."""

    def __init__(self) -> None:
        super().__init__(replay_data.events(), replay_data.finished())
        self.release = self._stop.set

    def run(self) -> None:
        for event in self._recorded:
            self.events.put(event)
        self._stop.wait(timeout=30)
        self.finished = self._finished


async def wait_for(pilot: Pilot[int], cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


def _app(tmp_path: Path, **kwargs: object) -> NetreadyApp:
    environ = {"NETREADY_CONFIG_DIR": str(tmp_path / "config"), "LANG": "en_US.UTF-8"}
    return NetreadyApp(environ=environ, out_base=tmp_path / "out", **kwargs)  # type: ignore[arg-type]


def test_a_replayed_run_shows_rows_charts_ports_then_the_verdict(tmp_path: Path) -> None:
    async def scenario() -> None:
        source = HeldReplay()
        app = _app(tmp_path, replay=source, lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(
                pilot,
                lambda: (
                    source.events.empty()
                    and isinstance(app.screen, RunScreen)
                    and app.screen.index == len(replay_data.CHECKS)
                ),
            )
            await pilot.pause(0.2)
            screen = app.screen
            assert isinstance(screen, RunScreen)
            table = screen.query_one("#checks", DataTable)
            assert str(table.get_cell("media.voice", "status")) == "FAIL"
            assert str(table.get_cell("tls.https-mypbx", "status")) == "pass"
            assert str(table.get_cell("sip.alg.udp", "status")) == "not tested"
            text = screen_text(app)
            assert "Delay ↑ 197.50 ms" in text  # the last live value, measured one way
            assert "lost 3" in text
            assert "20000,30001-30010" in text  # the blocked ports, by the port strip
            # the log follows its end on its own, but on a busy machine a line may come in
            # after that scroll was computed: bring it to the end before the snapshot
            screen.query_one("#log", RichLog).scroll_end(animate=False, immediate=True)
            await pilot.pause(0.1)
            await assert_snapshot(pilot, "run", tmp_path)
            source.release()
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
            await pilot.pause(0.1)
            text = screen_text(app)
            assert "FAIL: a requirement is not met" in text
            assert "✗ media.voice: delay_up_ms 182.4" in text
            assert "Fix: Allow UDP 16384-32767" in text
            await assert_snapshot(pilot, "result", tmp_path)
            await pilot.press("o")  # no display here: it says where the file is instead
            assert "/reports/acme-berlin/report.html" in screen_text(app)
            await pilot.press("ctrl+q")
        assert app.return_value == 1  # FAIL's exit code

    asyncio.run(scenario())


def test_the_start_form_validates_in_place_with_the_cli_messages(tmp_path: Path) -> None:
    bad = "127.0.0.1:99999"
    with pytest.raises(UsageError) as cli:
        load_profile(find_profile("lab"), {}, bad)

    async def scenario() -> None:
        app = _app(tmp_path, lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
            await pilot.pause(0.1)
            screen = app.screen
            assert screen.query_one("#profile", Select).value == "lab"
            await assert_snapshot(pilot, "start", tmp_path)
            screen.query_one("#responder", Input).value = bad
            await pilot.pause(0.1)
            error = str(screen.query_one("#error", Static).render())
            assert error == f"netready: error: {cli.value}"
            await pilot.press("ctrl+r")
            await pilot.pause(0.1)
            assert isinstance(app.screen, StartScreen)  # nothing started, nothing sent
            assert not (tmp_path / "out").exists()
            screen.query_one("#responder", Input).value = ""
            screen.query_one("#duration", Input).value = "0.5"
            await pilot.pause(0.1)
            await pilot.press("ctrl+r")
            await pilot.pause(0.1)
            assert "--duration: give 1 to 3600 seconds" in str(
                screen.query_one("#error", Static).render()
            )

    asyncio.run(scenario())


def test_a_first_run_runs_the_lab_profile_against_its_local_responder(tmp_path: Path) -> None:
    """No remembered form: ctrl+r would run lab with the local responder, not fail every
    check against 127.0.0.1; stimme (real hosts) has no such box."""

    async def scenario() -> None:
        app = _app(tmp_path, lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
            screen = app.screen
            assert isinstance(screen, StartScreen)
            box = screen.query_one("#local_responder", Checkbox)
            assert screen.values().profile == "lab" and box.value and box.display
            assert screen.values().local_responder is True
            screen.query_one("#profile", Select).value = "stimme"
            await wait_for(pilot, lambda: not box.display)
            assert screen.values().local_responder is False

    asyncio.run(scenario())


def test_german_and_help_are_one_key_away(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = _app(tmp_path, lang="en")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
            app.screen.query_one("#site-customer", Input).value = "Müller KG"
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: "Standort ausfüllen" in screen_text(app))
            assert app.screen.query_one("#site-customer", Input).value == "Müller KG"
            await assert_snapshot(pilot, "start_de", tmp_path)
            await pilot.press("f1")
            await wait_for(pilot, lambda: "Tasten" in screen_text(app))
            await assert_snapshot(pilot, "help_de", tmp_path)
            await pilot.press("escape")
            await wait_for(pilot, lambda: "Tasten" not in screen_text(app))
            dark = app.theme
            await pilot.press("ctrl+t")
            assert app.theme == "textual-light" != dark
            await pilot.press("ctrl+t")
            assert app.theme == "textual-dark"

    asyncio.run(scenario())


def test_server_words_with_markup_and_damaged_events_never_crash_the_app(
    tmp_path: Path,
) -> None:
    """A reason can quote a server ("[/realm]"); a replay can be damaged: shown, not fatal."""
    hostile = {**replay_data.SIP, "reason": "TURN error 401 Unauthorized [/realm] [link=x]y"}
    events = [
        {
            "event": "run_started",
            "profile": "x",
            "started_at": "",
            "checks": [{"id": "[/b]odd", "title": "t"}, {"id": "[/b]odd", "title": "t"}],
        },
        {"event": "check_started", "id": "[/b]odd", "title": "t"},
        {"event": "progress", "id": "[/b]odd", "fraction": None, "message": "m"},
        {"event": "live", "id": "[/b]odd", "values": {"delay_up_ms": float("nan"), "lost": 1}},
        {"event": "live", "id": "[/b]odd", "values": ["not", "a", "dict"]},
        {"event": "check_finished", "result": "not a dict"},
        {"event": "check_finished", "result": {**hostile, "id": "[/b]odd", "status": "weird"}},
        {"event": "check_finished", "result": hostile},
        {"event": "run_finished", "verdict": "FAIL", "interrupted": False, "finished_at": ""},
    ]
    finished = replay_data.finished()
    finished.document["checks"] = [hostile]

    async def scenario() -> None:
        app = _app(tmp_path, replay=ReplaySource(events, finished), lang="en")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ResultScreen))
            await pilot.pause(0.1)
            text = screen_text(app)
            assert "[/realm] [link=x]y" in text  # shown as written, not read as markup
            await pilot.press("ctrl+q")
        assert app.return_value == 1

    asyncio.run(scenario())


def test_a_site_field_starting_with_a_dash_reaches_the_check_intact(tmp_path: Path) -> None:
    from netready.cli import build_parser
    from netready.tui.sources import RunSettings

    lab = find_profile("lab")
    settings = RunSettings(
        load_profile(lab),
        lab,
        tmp_path / "out",
        {"ticket": "-x", "customer": "--json"},
        responder="-bad",
    )
    args = build_parser().parse_args(settings.argv()[3:])
    assert (args.ticket, args.customer, args.responder) == ("-x", "--json", "-bad")
    assert not args.json and args.quiet and args.events == "-"

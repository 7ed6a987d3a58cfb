"""`netready tui` on the command line: bad input is one line and exit 2, before any screen."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_a_bad_replay_file_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": "run_started"}\nnot json\n')
    proc = run_cli("tui", "--replay", str(events), config=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"netready: error: {events}: line 2: not JSON (Expecting value)"
    ]


def test_report_dir_needs_replay_and_a_missing_folder_is_named(tmp_path: Path) -> None:
    proc = run_cli("tui", "--report-dir", str(tmp_path), config=tmp_path)
    assert proc.returncode == 2
    assert "--report-dir goes with --replay EVENTS" in proc.stderr
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": "run_started"}\n')
    proc = run_cli(
        "tui", "--replay", str(events), "--report-dir", str(tmp_path / "nope"), config=tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "nope/report.json: cannot read" in proc.stderr


def test_without_a_terminal_netready_alone_asks_for_a_command(tmp_path: Path) -> None:
    proc = run_cli(config=tmp_path)
    assert proc.returncode == 2
    assert "no command given" in proc.stderr

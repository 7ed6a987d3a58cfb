"""`netready` / `netready tui`: starts the Textual app (the only command that loads textual)."""

from __future__ import annotations

import argparse
from pathlib import Path

from netready.env import Env
from netready.errors import UsageError
from netready.tui.app import NetreadyApp
from netready.tui.sources import ReplaySource, finished_from_folder, read_events


def cmd_tui(args: argparse.Namespace, env: Env) -> int:
    """`netready` / `netready tui`: the Textual app (the only command that loads textual)."""
    replay = None
    if args.replay:
        events = read_events(Path(args.replay))
        finished = finished_from_folder(Path(args.report_dir)) if args.report_dir else None
        replay = ReplaySource(events, finished, pace_s=0.02)
    elif args.report_dir:
        raise UsageError("--report-dir goes with --replay EVENTS")
    app = NetreadyApp(lang=args.lang, environ=env.environ, replay=replay)
    try:
        code = app.run()
    finally:
        app.stop_run()  # however the app ended, a running measurement is stopped and signed
    return int(code or 0)

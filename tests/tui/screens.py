"""Text snapshots of app screens: what a person sees, compared line by line.

`NETREADY_UPDATE_SNAPSHOTS=1 pytest tests/tui` rewrites them; review the diff before
committing. The SVG screenshot of each screen is written next to the test's tmp files.
"""

from __future__ import annotations

import difflib
import io
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

SNAPSHOTS = Path(__file__).with_name("snapshots")


def screen_text(app: App[object]) -> str:
    """The current screen as plain text, one line per terminal row, trailing blanks cut."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        record=True,
        color_system=None,
        legacy_windows=False,
    )
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(update)
    lines = console.export_text().splitlines()
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"


async def assert_snapshot(pilot: Pilot[Any], name: str, out_dir: Path) -> None:
    """Compare the screen with snapshots/NAME.txt (and save an SVG screenshot for a look).

    A busy machine may still be drawing: the screen gets up to 3 s to match.
    """
    app = pilot.app
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("NETREADY_UPDATE_SNAPSHOTS") or not path.exists():
        if os.environ.get("CI") and not path.exists():
            raise AssertionError(f"{path}: snapshot missing (make it locally and commit it)")
        await pilot.pause(0.3)
        path.write_text(screen_text(app), encoding="utf-8")
        return
    want = path.read_text(encoding="utf-8")
    deadline = time.monotonic() + 3.0
    text = screen_text(app)
    while text != want and time.monotonic() < deadline:
        await pilot.pause(0.1)
        text = screen_text(app)
    app.save_screenshot(str(out_dir / f"{name}.svg"))
    if text != want:
        diff = "\n".join(
            difflib.unified_diff(want.splitlines(), text.splitlines(), "want", "got", lineterm="")
        )
        raise AssertionError(f"screen {name} differs from {path}:\n{diff}")

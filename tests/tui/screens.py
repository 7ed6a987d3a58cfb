"""Text snapshots of app screens: what a person sees, compared line by line.

`NETREADY_UPDATE_SNAPSHOTS=1 pytest tests/tui` rewrites them; review the diff before
committing. The SVG screenshot of each screen is written next to the test's tmp files.
"""

from __future__ import annotations

import difflib
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

SNAPSHOTS = Path(__file__).with_name("snapshots")
#: How long a test waits for something a loaded 2-core VM can be slow to show (a run's child
#: and responder are new Python processes). The wait ends as soon as it is there, so a long
#: deadline costs nothing on an idle machine.
LOADED_VM_S = 120.0


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


async def wait_until(
    pilot: Pilot[Any], cond: Callable[[], bool], what: str, timeout: float = LOADED_VM_S
) -> None:
    """Poll until `cond()` holds: wait for exactly what the test asserts next, never for a
    fixed time. After `timeout` s it fails, naming `what` and showing the screen."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; screen:\n"
                + screen_text(pilot.app)
            )
        await pilot.pause(0.05)


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

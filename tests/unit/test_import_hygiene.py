"""Only netready/tui/ may import textual: the engine and CLI must work without loading it."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import netready


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(netready.__path__, "netready.")]
    return [n for n in names if not n.startswith("netready.tui") and n != "netready.__main__"]


def test_there_are_modules_to_check() -> None:
    assert "netready.cli" in _modules()
    assert "netready.engine.runner" in _modules()


def test_no_module_outside_tui_loads_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"names = {_modules()!r}\n"
        "bad = []\n"
        "for n in names:\n"
        "    importlib.import_module(n)\n"
        "    if 'textual' in sys.modules:\n"
        "        bad.append(n); break\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"textual loaded by {out.stdout.strip()}"


def test_the_check_detects_textual() -> None:
    """The probe above can fail: importing textual is seen."""
    code = "import sys, textual; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True"

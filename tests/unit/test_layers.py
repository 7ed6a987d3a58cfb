"""The layers hold (ARCHITECTURE.md section 8) and every module imports alone (no cycles).

`lint-imports` checks the contracts in pyproject.toml ([tool.importlinter]): an import only
goes down tui-cli > ... > checks > metrics > probes > model, the responder shares nothing of
the client stack but probes and plain data, and only the app loads Textual. A cycle shows up
as a module that cannot be imported first: each is imported in a fresh child process (forked
from an interpreter that has loaded nothing of netready, so the order of imports in this
test process hides nothing).
"""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import netready

ROOT = Path(__file__).resolve().parents[2]

IMPORT_EACH_ALONE = """
import importlib, os, sys, traceback
names = sys.argv[1:]
bad, running = [], {}

def reap() -> None:
    pid, status = os.wait()
    if status:
        bad.append(running[pid])
    del running[pid]

for name in names:
    if len(running) >= 2:
        reap()
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    running[pid] = name
while running:
    reap()
print(" ".join(sorted(bad)))
"""


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(netready.__path__, "netready.")]
    return [n for n in names if n != "netready.__main__"]


def test_layer_contracts_are_kept() -> None:
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool, "import-linter is a test dependency (pip install -e '.[test]')"
    out = subprocess.run([tool], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    names = _modules()
    assert "netready.engine.runner" in names and "netready.checks.firewall" in names
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_ALONE, *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.strip() == "", f"cannot be imported first: {out.stdout}\n{out.stderr[-3000:]}"


def test_the_import_check_can_fail() -> None:
    """The same probe reports a module that cannot be imported."""
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_ALONE, "netready.model", "netready.no_such_module"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "netready.no_such_module"

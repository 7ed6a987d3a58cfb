"""The built wheel ships the data folders (checks/, profiles/, reports/) and no code in them."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ("checks", "profiles", "reports")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = out.glob("netready-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_contains_every_data_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for folder in DATA:
        for f in (ROOT / folder).rglob("*"):
            if f.is_file():
                rel = f.relative_to(ROOT).as_posix()
                assert f"netready/_data/{rel}" in names, f"{rel} missing from the wheel"
    assert "netready/_data/profiles/stimme.toml" in names
    assert "netready/_data/reports/schema/netready.report-1.schema.json" in names


def test_no_python_in_data_folders() -> None:
    for folder in DATA:
        assert not list((ROOT / folder).rglob("*.py")), f"code in data folder {folder}/"


def test_wheel_has_the_package_and_entry_point(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "netready/cli.py" in names and "netready/py.typed" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "netready = netready.cli:main" in wheel.read(entry).decode()


def test_python_m_netready_works() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "netready", "--version"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.startswith("netready ")


def test_the_version_has_one_source(wheel: zipfile.ZipFile) -> None:
    """netready/__init__.py holds it; the wheel's metadata, the CLI and the man page agree."""
    from netready import __version__

    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert not re.search(r"^version\s*=", pyproject, re.MULTILINE)  # dynamic, from hatch
    meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    assert f"\nVersion: {__version__}\n" in wheel.read(meta).decode()
    out = subprocess.run(
        [sys.executable, "-m", "netready", "--version"], capture_output=True, text=True, timeout=60
    )
    assert out.stdout == f"netready {__version__}\n"
    man = (ROOT / "packaging" / "netready-responder.1").read_text(encoding="utf-8")
    assert f'"netready {__version__}"' in man.splitlines()[0]

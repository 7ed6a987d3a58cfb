"""Shared fixtures: an isolated config dir, free loopback ports, the CLI as a subprocess."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SBIN_DIRS = "/usr/local/sbin:/usr/sbin:/sbin"
GUARD_DIR = Path(__file__).with_name("guard")

# No test, and no Python process a test starts, may reach the platform's real servers or
# the system resolvers (tests/guard/sitecustomize.py says how): here and in every child.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(GUARD_DIR), os.environ.get("PYTHONPATH", "")) if p
)
_spec = importlib.util.spec_from_file_location(
    "netready_test_guard", GUARD_DIR / "sitecustomize.py"
)
assert _spec is not None and _spec.loader is not None
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))  # the guard in this process


def in_ci() -> bool:
    """CI=true: every test must run, a skip is a failure."""
    return os.environ.get("CI", "").lower() in ("true", "1")


def require_tool(name: str, why: str = "") -> str:
    """Path of a Debian tool; skip visibly on a laptop, fail in CI (where nothing may skip)."""
    # daemons (slapd, kamailio) live in sbin, which a normal user's PATH often lacks
    path = shutil.which(name) or shutil.which(name, path=SBIN_DIRS)
    if path:
        return path
    msg = f"{name} not installed ({why or './run test installs it as root'})"
    if in_ci():
        pytest.fail(msg + " and CI=true: nothing may skip in CI")
    pytest.skip(msg)


def require_root() -> None:
    """Skip (fail in CI) when the test needs root for namespaces or nftables."""
    if os.geteuid() != 0:
        if in_ci():
            pytest.fail("needs root and CI=true: nothing may skip in CI")
        pytest.skip("needs root (network namespaces, nftables)")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free on 127.0.0.1 right now, for TCP and UDP both."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as s2:
            try:
                s2.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port found")


def free_port_block(count: int) -> int:
    """First port of `count` consecutive UDP+TCP ports free on 127.0.0.1 (high range)."""
    import random

    for _ in range(200):
        first = random.randint(30000, 60000 - count)
        socks = []
        try:
            for port in range(first, first + count):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {count} free ports found")


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """NETREADY_CONFIG_DIR in a temp folder, so tests never touch the user's key."""
    d = tmp_path / "config"
    monkeypatch.setenv("NETREADY_CONFIG_DIR", str(d))
    yield d


def run_cli(
    *args: str, config: Path, cwd: Path | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """`python -m netready ARGS` with its own config dir; stdout and stderr captured apart."""
    env = dict(os.environ, NETREADY_CONFIG_DIR=str(config))
    proc = subprocess.run(
        [sys.executable, "-m", "netready", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if "--out" in args:
        assert_valid_report(Path(args[args.index("--out") + 1]) / "report.json")
    return proc


def assert_valid_report(report: Path) -> None:
    """Every report a test makes must pass `netready verify` (signature, schema, canonical)."""
    if not report.exists():
        return
    from netready.report.verify import verify_report

    outcome = verify_report(report)
    assert outcome.ok, "\n".join(outcome.lines)

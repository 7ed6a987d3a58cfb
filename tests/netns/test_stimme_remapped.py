"""The real stimme profile, every host remapped into a namespace of the test's own (root only).

A fresh network namespace has its own loopback with every port free, so the responder can
serve stimme's real ports (443, 636, 1300, 16384-32767, ...) and nothing leaves it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_valid_report, require_root, require_tool

STAMP_PORT = 8620
HOSTS = ["--host", "pbx=127.0.0.1", "--host", "services=127.0.0.1", "--host", "stun=127.0.0.1"]


@pytest.fixture
def namespace() -> Iterator[str]:
    require_root()
    ip = require_tool("ip", "iproute2")
    name = f"nrt-{uuid.uuid4().hex[:8]}"
    subprocess.run([ip, "netns", "add", name], check=True)
    try:
        subprocess.run([ip, "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run([ip, "netns", "del", name], check=False)


def _in_ns(ns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", ns, sys.executable, "-m", "netready", *args]


@pytest.fixture
def responder(namespace: str) -> Iterator[str]:
    proc = subprocess.Popen(
        _in_ns(
            namespace,
            "responder",
            "--listen",
            "127.0.0.1",
            "--stamp-port",
            str(STAMP_PORT),
            "--profile",
            "stimme",
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = subprocess.run(  # wait until TCP 443 answers inside the namespace
        [
            "ip",
            "netns",
            "exec",
            namespace,
            sys.executable,
            "-c",
            "import socket,time\nfor _ in range(200):\n  try:\n"
            "    socket.create_connection(('127.0.0.1',443),0.2).close(); break\n"
            "  except OSError: time.sleep(0.05)\nelse: raise SystemExit(1)",
        ],
        timeout=30,
    )
    assert ready.returncode == 0, "responder did not come up in the namespace"
    try:
        yield namespace
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err


def _check(ns: str, out: Path, config: Path, *extra: str) -> tuple[int, dict[str, object], str]:
    env = dict(os.environ, NETREADY_CONFIG_DIR=str(config))
    proc = subprocess.run(
        _in_ns(
            ns,
            "check",
            "--profile",
            "stimme",
            *HOSTS,
            "--responder",
            f"127.0.0.1:{STAMP_PORT}",
            "--duration",
            "2",
            "--out",
            str(out),
            *extra,
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    doc = json.loads((out / "report.json").read_bytes()) if (out / "report.json").exists() else {}
    assert_valid_report(out / "report.json")
    return proc.returncode, doc, proc.stderr


@pytest.mark.root
def test_stimme_passes_and_sip_rows_are_skipped(responder: str, tmp_path: Path) -> None:
    t0 = time.monotonic()
    # the responder is no LDAP, TURN or SIP server: the service checks have tests of their own
    only = "media.voice,firewall.,tls.,dns,sip."
    code, doc, err = _check(responder, tmp_path / "r", tmp_path / "cfg", "--only", only)
    assert code == 0, err
    statuses = {c["id"]: c["status"] for c in doc["checks"]}  # type: ignore[index, union-attr]
    skipped = {k for k, v in statuses.items() if v == "skipped"}
    assert skipped == {
        "firewall.sip-udp",
        "firewall.sip-tcp",
        "firewall.sip-tls",
        "sip.options.sip-udp",
        "sip.options.sip-tcp",
        "sip.options.sip-tls",
        "sip.alg.udp",
        "sip.alg.tcp",
        "dns",  # every host is an address: nothing to resolve, no DNS traffic at all
    }
    assert all(v == "pass" for k, v in statuses.items() if k not in skipped)
    rtp = next(c for c in doc["checks"] if c["id"] == "firewall.rtp")  # type: ignore[union-attr]
    assert rtp["evidence"]["ports"] == {"open": "16384-32767", "blocked": "", "not_tested": ""}
    assert len(statuses) == 27  # voice, 14 firewall, 6 TLS (sip-tls has no host), dns, 5 SIP
    print(f"stimme in a namespace: {time.monotonic() - t0:.1f} s")


@pytest.mark.root
def test_stimme_with_sip_provider_runs_sip_rows(responder: str, tmp_path: Path) -> None:
    code, doc, err = _check(
        responder,
        tmp_path / "r",
        tmp_path / "cfg",
        "--host",
        "sip_provider=127.0.0.1",
        "--only",
        "firewall.",
    )
    assert code == 0, err
    statuses = {c["id"]: c["status"] for c in doc["checks"]}  # type: ignore[index, union-attr]
    assert statuses["firewall.sip-udp"] == "pass"
    assert statuses["firewall.sip-tls"] == "pass"
    assert "media.voice" not in statuses

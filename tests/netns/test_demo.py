"""`netready demo`, as the README's first command runs it, in a namespace of the test's own.

A fresh namespace has its own loopback with every port free, so the demo's fixed lab ports
never collide with anything else running on the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import assert_valid_report, require_root, require_tool


@pytest.mark.root
def test_demo_writes_a_report_that_stock_minisign_verifies(tmp_path: Path) -> None:
    require_root()
    minisign = require_tool("minisign")
    ns = f"nrdemo-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        env = dict(os.environ, NETREADY_CONFIG_DIR=str(tmp_path / "cfg"))
        out = tmp_path / "demo"
        proc = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                sys.executable,
                "-m",
                "netready",
                "demo",
                "--duration",
                "2",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # diagnostics on stderr only
    assert "netready: verdict PASS" in proc.stderr
    doc = json.loads((out / "report.json").read_bytes())
    assert doc["verdict"] == "PASS"
    ids = {c["id"]: c["status"] for c in doc["checks"]}
    assert ids["media.voice"] == "pass" and ids["firewall.rtp"] == "pass"
    assert ids["tls.https-mypbx"] == "pass"
    assert doc["checks"][0]["metrics"]["packets_received"] >= 99  # a real stream was measured
    stock = subprocess.run(
        [minisign, "-Vm", str(out / "report.json"), "-p", str(out / "netready.pub")],
        capture_output=True,
        text=True,
    )
    assert stock.returncode == 0, stock.stderr
    assert "verdict:PASS" in stock.stdout
    assert_valid_report(out / "report.json")  # and netready's own verifier, schema included

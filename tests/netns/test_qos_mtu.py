"""`qos.dscp` and `path.mtu` through the lab: clean path, DSCP bleached downstream, MTU 1400.

The responder runs in the platform namespace with --max-packet 9000 (so the 3000-byte
fragment probe can come back); `netready check --only qos.,path.` runs from the site.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_valid_report
from tests.netns.conftest import lab_responder
from tests.netns.lab import Lab

pytestmark = pytest.mark.root

PORT = 8621
PROFILE = """
[profile]
name = "qos-mtu-lab"
title = "DSCP and path MTU through the lab"
responder = "{responder}"

[checks."media.voice"]
media_rule = ""
"""
NFT_TABLE = "netready_qos_test"
# downstream = platform -> site, which enters the router on r1
BLEACH_DOWN = f"""table ip {NFT_TABLE} {{
  chain bleach {{
    type filter hook forward priority mangle; policy accept;
    iifname "r1" ip dscp != cs0 ip dscp set cs0
  }}
}}
"""

Checks = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def big_responder(lab_module: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`netready responder` in the platform namespace that reflects up to 9000 bytes."""
    log_dir = tmp_path_factory.mktemp("qos-responder")
    with lab_responder(lab_module, log_dir, PORT, "--max-packet", "9000") as addr:
        yield addr


@pytest.fixture
def run_checks(
    lab: Lab, big_responder: str, config_home: Path, tmp_path: Path
) -> Iterator[Callable[[], Checks]]:
    """Callable: run `qos.` and `path.` from the site namespace; the checks by id."""
    runs = 0

    def run() -> Checks:
        nonlocal runs
        runs += 1
        profile = tmp_path / f"qos-{runs}.toml"
        profile.write_text(PROFILE.format(responder=big_responder), "utf-8")
        out = tmp_path / f"report-{runs}"
        argv = [sys.executable, "-m", "netready", "check", "--profile", str(profile)]
        argv += ["--only", "qos.,path.", "--responder", big_responder]
        argv += ["--out", str(out), "--quiet"]
        env = dict(os.environ, NETREADY_CONFIG_DIR=str(config_home))
        proc = lab.run_in("site", argv, check=False, timeout=60, env=env)
        report = out / "report.json"
        assert report.exists(), f"no report (exit {proc.returncode}): {proc.stderr}"
        assert_valid_report(report)
        doc = json.loads(report.read_bytes())
        return {c["id"]: c for c in doc["checks"]}

    yield run


def _flush_pmtu(lab: Lab) -> None:
    """Forget learnt path MTUs, so one case's MTU does not leak into the next."""
    for role in ("site", "router", "platform"):
        lab.ip(role, "route", "flush", "cache")


def test_clean_path_keeps_ef_and_passes_1500(run_checks: Callable[[], Checks]) -> None:
    checks = run_checks()
    qos, mtu = checks["qos.dscp"], checks["path.mtu"]
    assert qos["status"] == "pass", qos
    assert qos["evidence"]["upstream"] == "kept", qos["evidence"]
    assert qos["evidence"]["downstream"] == "kept", qos["evidence"]
    assert "EF kept upstream / kept downstream" in qos["reason"]
    assert not qos.get("remediation")
    assert mtu["status"] == "pass", mtu
    assert mtu["metrics"]["path_mtu_bytes"] == 1500
    assert mtu["evidence"]["fragments_pass"] is True
    assert "1300" in mtu["reason"]


def test_bleached_downstream_is_advice_not_failure(
    lab: Lab, run_checks: Callable[[], Checks]
) -> None:
    subprocess.run(
        ["ip", "netns", "exec", lab.ns["router"], "nft", "-f", "-"],
        input=BLEACH_DOWN,
        text=True,
        check=True,
        capture_output=True,
    )
    try:
        qos = run_checks()["qos.dscp"]
    finally:
        lab.run_in("router", ["nft", "delete", "table", "ip", NFT_TABLE])
    ev = qos["evidence"]
    assert qos["status"] == "pass", qos
    assert ev["upstream"] == "kept", ev
    assert ev["downstream"] == "bleached", ev
    assert ev["seen"]["downstream"] == [0]
    assert "EF kept upstream / bleached to CS0 downstream" in qos["reason"]
    assert "46" in qos["remediation"]
    assert "46" in ev["remediation_de"]


def test_mtu_1400_on_the_path(lab: Lab, run_checks: Callable[[], Checks]) -> None:
    # both ends of the router-platform link: a veth drops frames above its own MTU without an
    # ICMP, so an MTU on r1 alone would also drop the platform's 1500-byte reply fragments
    links = (("router", "r1"), ("platform", "p0"))
    for role, dev in links:
        lab.ip(role, "link", "set", dev, "mtu", "1400")
    try:
        mtu = run_checks()["path.mtu"]
    finally:
        for role, dev in links:
            lab.ip(role, "link", "set", dev, "mtu", "1500")
        _flush_pmtu(lab)
    assert mtu["status"] == "pass", mtu  # 1372-byte payloads still pass (>= 1300)
    assert 1390 <= mtu["metrics"]["path_mtu_bytes"] <= 1400, mtu["evidence"]
    assert mtu["evidence"]["fragments_pass"] is True, mtu["evidence"]

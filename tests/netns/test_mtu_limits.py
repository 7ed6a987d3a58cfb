"""`path.mtu` when the path is not clean: IP fragments dropped, and an MTU too small for SIP.

The lab router drops every IPv4 fragment in one case (before its own reassembly could hide
them), and the router-platform link has MTU 1200 in the other. The responder runs in the
platform namespace with --max-packet 9000 (so the 3000-byte fragment probe can come back);
`netready check --only path.mtu` runs from the site.

* fragments dropped: the DF sizes still pass up to 1500, so the check passes (it judges the
  unfragmented payload), but `fragments_pass` is false and the reason says so;
* MTU 1200: the largest unfragmented UDP payload is 1172 bytes, below the 1300 SIP over UDP
  needs: the check fails and the remediation names the IP MTU needed (1328).
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

PORT = 8624
PROFILE = """
[profile]
name = "mtu-limits-lab"
title = "path MTU through an impaired lab"
responder = "{responder}"

[checks."media.voice"]
media_rule = ""
"""
NFT_TABLE = "netready_frag_test"
# priority -450: before the router's conntrack defragmentation (-400) could reassemble them
DROP_FRAGMENTS = f"""table ip {NFT_TABLE} {{
  chain nofrag {{
    type filter hook prerouting priority -450; policy accept;
    ip frag-off & 0x3fff != 0 counter drop comment "fragments"
  }}
}}
"""

Check = dict[str, Any]


@pytest.fixture(scope="module")
def big_responder(lab_module: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`netready responder` in the platform namespace that reflects up to 9000 bytes."""
    log_dir = tmp_path_factory.mktemp("mtu-responder")
    with lab_responder(lab_module, log_dir, PORT, "--max-packet", "9000") as addr:
        yield addr


@pytest.fixture
def run_mtu(lab: Lab, big_responder: str, config_home: Path, tmp_path: Path) -> Callable[[], Check]:
    """Callable: run `path.mtu` from the site namespace; the check as the report holds it."""

    def run() -> Check:
        profile = tmp_path / "mtu.toml"
        profile.write_text(PROFILE.format(responder=big_responder), "utf-8")
        out = tmp_path / "report"
        argv = [sys.executable, "-m", "netready", "check", "--profile", str(profile)]
        argv += ["--only", "path.mtu", "--responder", big_responder]
        argv += ["--out", str(out), "--quiet"]
        env = dict(os.environ, NETREADY_CONFIG_DIR=str(config_home))
        proc = lab.run_in("site", argv, check=False, timeout=60, env=env)
        report = out / "report.json"
        assert report.exists(), f"no report (exit {proc.returncode}): {proc.stderr}"
        assert_valid_report(report)
        (check,) = json.loads(report.read_bytes())["checks"]
        assert check["id"] == "path.mtu", check
        return dict(check)

    return run


def _dropped_fragments(lab: Lab) -> int:
    listing = lab.run_in("router", ["nft", "-j", "list", "table", "ip", NFT_TABLE]).stdout
    for item in json.loads(listing)["nftables"]:
        rule = item.get("rule", {})
        if rule.get("comment") == "fragments":
            return sum(int(e["counter"]["packets"]) for e in rule["expr"] if "counter" in e)
    raise AssertionError(listing)


def test_dropped_fragments_are_reported(lab: Lab, run_mtu: Callable[[], Check]) -> None:
    subprocess.run(
        ["ip", "netns", "exec", lab.ns["router"], "nft", "-f", "-"],
        input=DROP_FRAGMENTS,
        text=True,
        check=True,
        capture_output=True,
    )
    try:
        mtu = run_mtu()
        dropped = _dropped_fragments(lab)
    finally:
        lab.run_in("router", ["nft", "delete", "table", "ip", NFT_TABLE])
    ev = mtu["evidence"]
    assert dropped >= 2, dropped  # the 3000-byte payload leaves the site in 3 fragments
    assert ev["fragments_pass"] is False and ev["fragment_outcome"] == "timeout", ev
    assert mtu["metrics"]["fragments_pass"] == 0.0
    # unfragmented packets still pass up to 1500 bytes: SIP payloads of 1300 fit, so a pass
    assert mtu["status"] == "pass", mtu
    assert mtu["metrics"]["path_mtu_bytes"] == 1500
    assert "fragmented UDP (3000-byte payload) did not come back" in mtu["reason"]
    assert "IP fragments dropped on the path" in mtu["reason"]


def test_mtu_1200_is_too_small_for_sip(lab: Lab, run_mtu: Callable[[], Check]) -> None:
    links = (("router", "r1"), ("platform", "p0"))  # both ends: see test_qos_mtu.py
    for role, dev in links:
        lab.ip(role, "link", "set", dev, "mtu", "1200")
    try:
        mtu = run_mtu()
    finally:
        for role, dev in links:
            lab.ip(role, "link", "set", dev, "mtu", "1500")
        for role in ("site", "router", "platform"):
            lab.ip(role, "route", "flush", "cache")
    ev = mtu["evidence"]
    assert mtu["status"] == "fail", mtu
    assert 1190 <= mtu["metrics"]["path_mtu_bytes"] <= 1200, ev
    assert ev["max_payload_bytes"] == mtu["metrics"]["path_mtu_bytes"] - 28
    assert "below the 1300-byte UDP payload that SIP over UDP with SDP needs" in mtu["reason"]
    assert "(IP MTU 1328)" in mtu["reason"]
    assert ev["fragments_pass"] is True  # the router fragments the non-DF probe for the link
    assert "1328" in mtu["remediation"] and "1328" in ev["remediation_de"]

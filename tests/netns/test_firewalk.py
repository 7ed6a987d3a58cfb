"""UDP rules without a responder: TTL-limited probes through site -- fw -- isp -- platform
(issue #4 item 4, root only; `lab4.py`).

The stimme profile runs from the site namespace with every host remapped to the platform
address and no `--responder`, so the UDP rules take the firewalk path. fw (nftables, upstream)
drops UDP 16384 (first port of the RTP range) and 50000-50100 (all of video), and rejects
60100 (last port of app sharing) with ICMP port unreachable; first and last ports are always
among the sampled ones, so the expected sets are exact for whatever random ports were drawn.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netready.checks.base import RunContext
from netready.checks.firewall import FirewallCheck
from netready.checks.firewall_params import FirewallParams
from netready.model import PortRange, Rule, Status
from netready.probes.udp_sweep import compact_ranges
from tests.conftest import assert_valid_report, require_root, require_tool
from tests.netns.lab4 import PLATFORM_IP, Lab4

HOSTS = [f"{h}={PLATFORM_IP}" for h in ("pbx", "services", "stun")]
UDP_RULES = ["firewall.rtp", "firewall.video", "firewall.app-sharing", "firewall.stun-udp"]
BLOCKED = {16384, *range(50000, 50101), 60100}


@pytest.fixture(scope="module")
def lab4() -> Iterator[Lab4]:
    """The four namespaces with fw's rules of this module."""
    require_root()
    for tool in ("ip", "nft"):
        require_tool(tool, "iproute2 and nftables are needed for the lab")
    with Lab4() as lab:
        lab.block("udp", [16384, "50000-50100"], action="drop")
        lab.block("udp", 60100, action="reject")
        yield lab


def _sampled(ev: dict[str, Any]) -> set[int]:
    text = ev["egress_only"]["sampled"] or ev["ports"]["not_tested"]
    out: set[int] = set()
    for part in str(text).split(","):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


@pytest.mark.root
def test_stimme_udp_rules_firewalked(lab4: Lab4, tmp_path: Path) -> None:
    env = dict(os.environ, NETREADY_CONFIG_DIR=str(tmp_path / "cfg"))
    argv = [sys.executable, "-m", "netready", "check", "--profile", "stimme"]
    for host in HOSTS:
        argv += ["--host", host]
    argv += ["--only", ",".join(UDP_RULES), "--out", str(tmp_path / "r"), "--quiet"]
    t0 = time.monotonic()
    proc = lab4.run_in("site", argv, check=False, env=env)
    seconds = time.monotonic() - t0
    report = tmp_path / "r" / "report.json"
    assert report.exists(), proc.stderr
    assert_valid_report(report)
    checks = {c["id"]: c for c in json.loads(report.read_bytes())["checks"]}
    assert sorted(checks) == sorted(UDP_RULES)
    probed = 0
    for cid, check in checks.items():
        ev = check["evidence"]
        assert check["method"] == "udp-ttl-limited (firewalk, egress only)", cid
        sampled = _sampled(ev)
        probed += len(sampled)
        want_blocked = sorted(sampled & BLOCKED)
        assert ev["egress_only"]["open"] == compact_ranges(sorted(sampled - BLOCKED)), cid
        assert ev["egress_only"]["blocked"] == compact_ranges(want_blocked), cid
        assert ev["egress_only"]["undetermined"] == "", cid
        assert ev["ports"]["open"] == "", cid  # egress only is never a full pass
        if cid != "firewall.stun-udp":
            assert ev["edge_hop"] == 1 and ev["beyond_router"] == lab4.isp_ip, (cid, ev)
        assert check["status"] == ("fail" if want_blocked else "not_tested"), cid
    assert len(_sampled(checks["firewall.rtp"]["evidence"])) == 6  # first, last, 4 random
    stun = checks["firewall.stun-udp"]
    assert "egress only" in stun["reason"] and "reach 203.0.113.2 itself" in stun["reason"], stun
    assert checks["firewall.app-sharing"]["evidence"]["rejected"] == {
        "60100": f"ICMP 3/3 from {lab4.fw_ip}"
    }
    assert "not let out UDP 16384" in checks["firewall.rtp"]["reason"]
    assert "16384" in checks["firewall.rtp"]["remediation"]
    times = {cid: c["evidence"]["firewalk_s"] for cid, c in checks.items()}
    print(f"firewalk: {probed} sampled ports in {seconds:.1f} s (per rule {times})")


def _udp_rule(ports: str) -> Rule:
    first, _, last = ports.partition("-")
    rng = PortRange(int(first), int(last or first))
    return Rule("media", "RTP", "udp", (rng,), "pbx", "media", "echo")


def test_without_raw_sockets_not_tested(monkeypatch: pytest.MonkeyPatch) -> None:
    """No root or CAP_NET_RAW: not_tested with the reason, nothing sent."""
    import asyncio

    import netready.checks.firewall_paths as paths

    monkeypatch.setattr(paths, "have_raw_socket", lambda: False)
    params = FirewallParams(rule=_udp_rule("16384-32767"), address="192.0.2.7")
    ctx = RunContext(progress=lambda _f, _t: None)
    result = asyncio.run(FirewallCheck().run("firewall.media", params, ctx))
    assert result.status == Status.NOT_TESTED
    assert "needs root or CAP_NET_RAW for TTL-limited probes" in result.reason
    assert result.evidence["ports"]["not_tested"] == "16384-32767"

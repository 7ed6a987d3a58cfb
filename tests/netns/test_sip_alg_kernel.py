"""`sip.alg.udp` / `sip.alg.tcp` against the Linux kernel's own SIP ALG (root only).

The lab router masquerades site -> platform and, in one case, hands port-5060 traffic to the
kernel's SIP conntrack/NAT helper (`nf_conntrack_sip` + `nf_nat_sip`, the ALG of countless
Linux-based home routers). The responder's SIP echo listens on 5060 in the platform namespace;
`netready check --only sip.alg.udp,sip.alg.tcp` runs from the site.

* With the helper, the kernel rewrites the topmost Via (the probe's own address and port,
  198.51.100.2:P) to the router's public address (203.0.113.1:P): both checks fail and name Via.
  It leaves the decoy Contact and the SDP alone: it rewrites only addresses equal to the
  packet's source, and it reads SDP only in INVITE/UPDATE/ACK/PRACK, not in OPTIONS.
  (Tried by hand: a second Contact with the probe's own address:port is rewritten on the way
  up, but on the way back the helper maps it back inside the echoed copy, which is plain text
  in the 200 OK's body, and cuts the body short by the length difference. So the probe keeps
  its decoy Contact; the Via rewrite is what proves the ALG.)
* With the same masquerade but no helper, nothing is rewritten: both checks pass.
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

from tests.conftest import assert_valid_report, in_ci
from tests.netns.conftest import lab_responder
from tests.netns.lab import Lab

pytestmark = pytest.mark.root

STAMP_PORT = 8623
SIP_PORT = 5060  # the kernel helper acts on its default port only
NFT_TABLE = "netready_sipalg_test"
PROFILE = """
[profile]
name = "sip-alg-lab"
title = "SIP ALG detection through a Linux NAT router"
responder = "{responder}"

[hosts]
sip_provider = "{platform}"

[checks."media.voice"]
media_rule = ""

[[rules]]
name = "sip-udp"
protocol = "SIP"
transport = "udp"
ports = {port}
host = "sip_provider"
function = "registration, signalling"
verify = "sip"

[[rules]]
name = "sip-tcp"
protocol = "SIP"
transport = "tcp"
ports = {port}
host = "sip_provider"
function = "registration, signalling"
verify = "sip"
"""
HELPER_RULES = (
    f'udp dport {SIP_PORT} ct helper set "sip-udp"\n'
    f'    tcp dport {SIP_PORT} ct helper set "sip-tcp"'
)

Checks = dict[str, dict[str, Any]]


def nat_ruleset(helper: bool) -> str:
    """Masquerade out of r1 (towards the platform); with `helper`, the kernel SIP ALG too."""
    return (
        f"table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n"
        f"table inet {NFT_TABLE} {{\n"
        '  ct helper sip-udp { type "sip" protocol udp; }\n'
        '  ct helper sip-tcp { type "sip" protocol tcp; }\n'
        "  chain pre {\n    type filter hook prerouting priority filter; policy accept;\n"
        f"    {HELPER_RULES if helper else ''}\n  }}\n"
        "  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n"
        '    oifname "r1" counter masquerade comment "masquerade"\n  }\n}\n'
    )


def load_nat(lab: Lab, helper: bool) -> None:
    """Load the router's NAT table; skip (fail in CI) when this kernel has no SIP helper."""
    argv = ["ip", "netns", "exec", lab.ns["router"], "nft", "-f", "-"]
    proc = subprocess.run(argv, input=nat_ruleset(helper), text=True, capture_output=True)
    if proc.returncode:
        msg = f"nft refused the SIP helper / NAT table: {proc.stderr.strip()}"
        if in_ci():
            pytest.fail(msg + " and CI=true")
        pytest.skip(msg + " (kernel without nf_conntrack_sip / nf_nat_sip?)")


def masqueraded_packets(lab: Lab) -> int:
    """Packets the masquerade rule has translated since the table was loaded."""
    listing = lab.run_in("router", ["nft", "-j", "list", "table", "inet", NFT_TABLE]).stdout
    for item in json.loads(listing)["nftables"]:
        rule = item.get("rule", {})
        if rule.get("comment") == "masquerade":
            return sum(int(e["counter"]["packets"]) for e in rule["expr"] if "counter" in e)
    raise AssertionError(f"no masquerade rule in {listing}")


@pytest.fixture(scope="module")
def sip_responder(lab_module: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`netready responder --sip-echo-ports 5060` on the platform address."""
    log_dir = tmp_path_factory.mktemp("sip-responder")
    ports = ("--sip-echo-ports", str(SIP_PORT))
    with lab_responder(lab_module, log_dir, STAMP_PORT, *ports) as addr:
        yield addr


@pytest.fixture
def nat(lab: Lab) -> Iterator[Callable[[bool], None]]:
    """Callable: (re)load the NAT table with or without the helper; removed after the test."""
    try:
        yield lambda helper: load_nat(lab, helper)
    finally:
        lab.run_in("router", ["nft", "delete", "table", "inet", NFT_TABLE], check=False)


@pytest.fixture
def run_alg(
    lab: Lab, sip_responder: str, config_home: Path, tmp_path: Path
) -> Callable[[], Checks]:
    """Callable: run `sip.alg.udp,sip.alg.tcp` from the site namespace; checks by id."""

    def run() -> Checks:
        profile = tmp_path / "sip-alg.toml"
        text = PROFILE.format(responder=sip_responder, platform=lab.platform_ip, port=SIP_PORT)
        profile.write_text(text, "utf-8")
        out = tmp_path / "report"
        argv = [sys.executable, "-m", "netready", "check", "--profile", str(profile)]
        argv += ["--only", "sip.alg.udp,sip.alg.tcp", "--responder", sip_responder]
        argv += ["--out", str(out), "--quiet"]
        env = dict(os.environ, NETREADY_CONFIG_DIR=str(config_home))
        proc = lab.run_in("site", argv, check=False, timeout=60, env=env)
        report = out / "report.json"
        assert report.exists(), f"no report (exit {proc.returncode}): {proc.stderr}"
        assert_valid_report(report)
        doc = json.loads(report.read_bytes())
        checks = {c["id"]: c for c in doc["checks"]}
        assert set(checks) == {"sip.alg.udp", "sip.alg.tcp"}, checks
        return checks

    return run


def test_kernel_sip_helper_is_detected_on_udp_and_tcp(
    lab: Lab, nat: Callable[[bool], None], run_alg: Callable[[], Checks]
) -> None:
    nat(True)
    checks = run_alg()
    for transport in ("udp", "tcp"):
        check = checks[f"sip.alg.{transport}"]
        via = f"SIP/2.0/{transport.upper()}"
        assert check["status"] == "fail", check
        assert check["reason"].startswith(f"SIP ALG detected on {transport.upper()}: Via "), check
        assert f"rewritten from {via} {lab.site_ip}:" in check["reason"]
        assert f" to {via} {lab.router_platform_ip}:" in check["reason"]
        # only the address the packet came from was touched: not the decoy Contact, not SDP
        assert [c["field"] for c in check["evidence"]["changes"]] == ["Via"], check["evidence"]
        received = check["evidence"]["received_by_responder"]
        assert f"Via: {via} {lab.router_platform_ip}:" in received
        assert "SIP ALG" in check["remediation"]
    assert masqueraded_packets(lab) >= 2


def test_masquerade_without_helper_passes(
    lab: Lab, nat: Callable[[bool], None], run_alg: Callable[[], Checks]
) -> None:
    nat(False)
    checks = run_alg()
    for transport in ("udp", "tcp"):
        check = checks[f"sip.alg.{transport}"]
        assert check["status"] == "pass", check
        assert "no rewrite" in check["reason"]
        assert check["evidence"]["changes"] == []
    assert masqueraded_packets(lab) >= 2  # the NAT was on the path, it just left SIP alone

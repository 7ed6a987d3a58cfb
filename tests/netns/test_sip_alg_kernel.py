"""`sip.alg.udp` / `sip.alg.tcp` against the Linux kernel's own SIP ALG (root only).

The lab router masquerades site -> platform and, in one case, hands port-5060 traffic to the
kernel's SIP conntrack/NAT helper (`nf_conntrack_sip` + `nf_nat_sip`, the ALG of countless
Linux-based home routers). The responder's SIP echo listens on 5060 in the platform namespace;
`netready check --only sip.alg.udp,sip.alg.tcp` runs from the site.

* With the helper, the kernel rewrites the topmost Via (the probe's own address and port,
  198.51.100.2:P) to the router's public address (203.0.113.1:P): both checks fail and name Via.
  It leaves the decoy Contact and the SDP alone: it rewrites only addresses equal to the
  packet's source, and it reads SDP only in INVITE/UPDATE/ACK/PRACK, not in OPTIONS.
  (The helper also rewrites Via/Contact lines inside a plain-text body on the way back,
  which is why the responder echoes the request base64-encoded.)
* With the same masquerade but no helper, nothing is rewritten: both checks pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.netns.conftest import lab_responder
from tests.netns.lab import Lab
from tests.netns.nat_alg import (
    drop_nat,
    load_nat,
    masqueraded_packets,
    nat_ruleset,
    run_checks_in_site,
)

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


SIP_HELPERS = (
    '  ct helper sip-udp { type "sip" protocol udp; }\n'
    '  ct helper sip-tcp { type "sip" protocol tcp; }\n'
)


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
        yield lambda helper: load_nat(
            lab, nat_ruleset(NFT_TABLE, SIP_HELPERS, HELPER_RULES, helper), "SIP"
        )
    finally:
        drop_nat(lab, NFT_TABLE)


@pytest.fixture
def run_alg(
    lab: Lab, sip_responder: str, config_home: Path, tmp_path: Path
) -> Callable[[], Checks]:
    """Callable: run `sip.alg.udp,sip.alg.tcp` from the site namespace; checks by id."""

    def run() -> Checks:
        text = PROFILE.format(responder=sip_responder, platform=lab.platform_ip, port=SIP_PORT)
        only = "sip.alg.udp,sip.alg.tcp"
        checks = run_checks_in_site(lab, text, only, sip_responder, config_home, tmp_path)
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
    assert masqueraded_packets(lab, NFT_TABLE) >= 2


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
    assert (
        masqueraded_packets(lab, NFT_TABLE) >= 2
    )  # the NAT was on the path, it just left SIP alone

"""`h323.alg` against the Linux kernel's own H.323 ALG (root only).

The lab router masquerades site -> platform and, in one case, hands TCP 1720 to the kernel's
H.323 conntrack/NAT helper (`nf_conntrack_h323` + `nf_nat_h323`: nft `ct helper` of type
"Q.931"; the kernel assigns no helper on its own). The responder's H.323 echo listens on 1720
in the platform namespace (the helper acts on that port only); `netready check --only
h323.alg` runs from the site.

* With the helper, the kernel decodes the SETUP's H.225 PER and rewrites, in place, every
  address that is the phone's own (198.51.100.2) to the router's public address
  (203.0.113.1): `sourceCallSignalAddress`, `h245Address` and the fastStart RTP/RTCP
  pair. It leaves `destCallSignalAddress` (the responder's address, not translated) alone.
  The echoed copy comes back as hex, so the helper cannot undo its rewrite in the answer.
  The check fails and names each field.
* With the same masquerade but no helper, nothing is rewritten: the check passes, and its
  evidence shows the NAT (the responder saw 203.0.113.1).
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

STAMP_PORT = 8624
H323_PORT = 1720  # the kernel helper acts on its default port only
NFT_TABLE = "netready_h323alg_test"
PROFILE = """
[profile]
name = "h323-alg-lab"
title = "H.323 ALG detection through a Linux NAT router"
responder = "{responder}"

[hosts]
pbx = "{platform}"

[checks."media.voice"]
media_rule = ""

[checks.h323]
echo_port = {port}

[[rules]]
name = "h323"
protocol = "H.323"
transport = "tcp"
ports = {port}
host = "pbx"
function = "registration, signalling"
"""
REWRITTEN = (
    "sourceCallSignalAddress",
    "h245Address",
    "fastStart.mediaChannel",
    "fastStart.mediaControlChannel",
)

Check = dict[str, Any]


H323_HELPERS = '  ct helper h323 { type "Q.931" protocol tcp; l3proto ip; }\n'
H323_RULES = f'tcp dport {H323_PORT} ct helper set "h323"'


@pytest.fixture(scope="module")
def h323_responder(lab_module: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`netready responder --h323-echo-ports 1720` on the platform address."""
    log_dir = tmp_path_factory.mktemp("h323-responder")
    ports = ("--h323-echo-ports", str(H323_PORT))
    with lab_responder(lab_module, log_dir, STAMP_PORT, *ports) as addr:
        yield addr


@pytest.fixture
def nat(lab: Lab) -> Iterator[Callable[[bool], None]]:
    """Callable: (re)load the NAT table with or without the helper; removed after the test."""
    try:
        yield lambda helper: load_nat(
            lab, nat_ruleset(NFT_TABLE, H323_HELPERS, H323_RULES, helper), "H.323"
        )
    finally:
        drop_nat(lab, NFT_TABLE)


@pytest.fixture
def run_alg(
    lab: Lab, h323_responder: str, config_home: Path, tmp_path: Path
) -> Callable[[], Check]:
    """Callable: run `h323.alg` from the site namespace; the check from the signed report."""

    def run() -> Check:
        text = PROFILE.format(responder=h323_responder, platform=lab.platform_ip, port=H323_PORT)
        checks = run_checks_in_site(lab, text, "h323.alg", h323_responder, config_home, tmp_path)
        assert list(checks) == ["h323.alg"], checks
        return checks["h323.alg"]

    return run


def test_kernel_h323_helper_is_detected(
    lab: Lab, nat: Callable[[bool], None], run_alg: Callable[[], Check]
) -> None:
    nat(True)
    check = run_alg()
    assert check["status"] == "fail", check
    ev = check["evidence"]
    sent, got = ev["sent_addresses"], ev["received_addresses"]
    assert sent["sourceCallSignalAddress"] == ev["local"]
    assert ev["local"].startswith(f"{lab.site_ip}:")
    assert [c["field"] for c in ev["changes"]] == list(REWRITTEN), ev["changes"]
    for change in ev["changes"]:
        # the phone's own address becomes the router's public one; the ports are kept here
        before, after = change["before"], change["after"]
        assert before == sent[change["field"]] and after == got[change["field"]]
        assert before.startswith(f"{lab.site_ip}:"), change
        assert after.startswith(f"{lab.router_platform_ip}:"), change
    assert got["destCallSignalAddress"] == sent["destCallSignalAddress"]
    assert check["reason"].startswith(
        f"H.323 ALG detected on TCP {H323_PORT}: sourceCallSignalAddress rewritten from "
        f"{sent['sourceCallSignalAddress']} to {got['sourceCallSignalAddress']}; "
        f"h245Address rewritten from {sent['h245Address']} to {got['h245Address']}"
    ), check["reason"]
    assert "H.323 ALG" in check["remediation"] and "ct helper" in check["remediation"]
    assert ev["responder_saw"].startswith(f"{lab.router_platform_ip}:")
    assert masqueraded_packets(lab, NFT_TABLE) >= 1


def test_masquerade_without_helper_passes(
    lab: Lab, nat: Callable[[bool], None], run_alg: Callable[[], Check]
) -> None:
    nat(False)
    check = run_alg()
    assert check["status"] == "pass", check
    ev = check["evidence"]
    assert ev["changes"] == [] and ev["received_addresses"] == ev["sent_addresses"]
    # the NAT was on the path (the responder saw the router's address), it left H.225 alone
    assert ev["nat"] is True and ev["responder_saw"].startswith(f"{lab.router_platform_ip}:")
    assert "without touching H.225" in check["reason"]
    assert masqueraded_packets(lab, NFT_TABLE) >= 1

"""The real stimme firewall plan through the impairment lab's router (issue #4 part 6, root only).

`netready responder --profile stimme` serves every stimme port in the platform namespace;
`netready check --profile stimme --only firewall.` runs from the site namespace with every
host remapped to the platform address. The router's nftables firewall (upstream) blocks:

* UDP 50000-50100 drop (the whole video range),
* UDP 20000 and 30001-30010 drop (single ports inside the RTP range),
* UDP 60050 reject (ICMP port unreachable) inside the app-sharing range,
* TCP 8636 drop (the SYN is silently dropped: `filtered`),
* TCP 1300 reject with tcp reset (the firewall answers the SYN with RST: `closed`).

The tests assert the exact blocked set of every rule, the per-port TCP states and the
remediation lines (English and German); that a clean run passes; that with 1 % random loss
in both directions not one port is wrongly reported blocked; and what quick mode reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_valid_report
from tests.netns.conftest import lab_responder
from tests.netns.lab import Lab
from tests.netns.procs import stop_process

STAMP_PORT = 8620
#: rule -> exact blocked ports the router's rules cause (every other rule must pass).
EXPECTED_BLOCKED = {
    "firewall.rtp": "20000,30001-30010",
    "firewall.video": "50000-50100",
    "firewall.app-sharing": "60050",
    "firewall.ldaps-internal": "8636",
    "firewall.h323-tls": "1300",
}
EXPECTED_OPEN = {
    "firewall.rtp": "16384-19999,20001-30000,30011-32767",
    "firewall.video": "",
    "firewall.app-sharing": "60000-60049,60051-60100",
}
SIP_RULES = {"firewall.sip-udp", "firewall.sip-tcp", "firewall.sip-tls"}
ALL_RULES = {
    "firewall.https-mypbx",
    "firewall.https-reporting",
    "firewall.https-update-backup",
    "firewall.h323-tls",
    "firewall.ldaps-external",
    "firewall.ldaps-internal",
    "firewall.stun-udp",
    "firewall.stun-tcp",
    "firewall.rtp",
    "firewall.video",
    "firewall.app-sharing",
} | SIP_RULES


def apply_router_rules(lab: Lab) -> None:
    """The firewall of this module's tests, in the router, upstream (site -> platform)."""
    lab.block("udp", "50000-50100", action="drop")
    lab.block("udp", [20000, "30001-30010"], action="drop")
    lab.block("udp", 60050, action="reject")
    lab.block("tcp", 8636, action="drop")
    lab.block("tcp", 1300, action="reject")


@dataclass
class FirewallRun:
    """One `netready check --only firewall.` from the site namespace."""

    returncode: int
    doc: dict[str, Any]
    stderr: str
    seconds: float

    @property
    def checks(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.doc["checks"]}

    def blocked(self) -> dict[str, str]:
        """rule -> blocked ranges, for every rule that was probed."""
        return {
            cid: c["evidence"]["ports"]["blocked"]
            for cid, c in self.checks.items()
            if "ports" in c["evidence"]
        }

    def retried(self) -> int:
        return sum(int(c["evidence"].get("probes_retried", 0)) for c in self.checks.values())


@pytest.fixture(scope="module")
def stimme_responder(lab_module: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`netready responder --profile stimme` on the platform address (root binds < 1024)."""
    log_dir = tmp_path_factory.mktemp("fw-responder")
    with lab_responder(lab_module, log_dir, STAMP_PORT, "--profile", "stimme") as addr:
        yield addr


def run_firewall(
    lab: Lab, responder: str, out: Path, config: Path, *extra: str, sip: bool = False
) -> FirewallRun:
    """The real stimme profile, every host remapped to the platform namespace."""
    ip = lab.platform_ip
    argv = [sys.executable, "-m", "netready", "check", "--profile", "stimme"]
    for name in ("pbx", "services", "stun", *(["sip_provider"] if sip else [])):
        argv += ["--host", f"{name}={ip}"]
    argv += ["--responder", responder, "--only", "firewall.", "--out", str(out), "--quiet"]
    argv += list(extra)
    env = dict(os.environ, NETREADY_CONFIG_DIR=str(config))
    t0 = time.monotonic()
    proc = lab.run_in("site", argv, check=False, timeout=120, env=env)
    seconds = time.monotonic() - t0
    report = out / "report.json"
    assert report.exists(), f"no report (exit {proc.returncode}): {proc.stderr}"
    assert_valid_report(report)
    return FirewallRun(proc.returncode, json.loads(report.read_bytes()), proc.stderr, seconds)


def expand(ranges: str) -> list[int]:
    """ "1-3,5" -> [1, 2, 3, 5]."""
    ports: list[int] = []
    for part in filter(None, ranges.split(",")):
        first, _, last = part.partition("-")
        ports += range(int(first), int(last or first) + 1)
    return ports


def assert_exact_blocks(run: FirewallRun, sip: bool) -> None:
    statuses = {cid: c["status"] for cid, c in run.checks.items()}
    assert set(statuses) == ALL_RULES
    expected = dict.fromkeys(ALL_RULES - (set() if sip else SIP_RULES), "")
    expected |= EXPECTED_BLOCKED
    assert run.blocked() == expected
    for cid, status in statuses.items():
        if cid in EXPECTED_BLOCKED:
            assert status == "fail", (cid, run.checks[cid]["reason"])
        elif cid in SIP_RULES and not sip:
            assert status == "skipped", cid
        else:
            assert status == "pass", (cid, run.checks[cid]["reason"])
        ports = run.checks[cid]["evidence"].get("ports")
        if ports is not None:
            assert ports["not_tested"] == "", cid
    for cid, open_ in EXPECTED_OPEN.items():
        assert run.checks[cid]["evidence"]["ports"]["open"] == open_, cid
    assert run.returncode == 1  # FAIL


@pytest.mark.root
def test_router_blocks_are_named_exactly(
    lab: Lab, stimme_responder: str, config_home: Path, tmp_path: Path
) -> None:
    apply_router_rules(lab)
    run = run_firewall(lab, stimme_responder, tmp_path / "r", config_home, sip=True)
    print(f"\nblocked ports named in {run.seconds:.2f} s, {run.retried()} probes retried")
    assert_exact_blocks(run, sip=True)
    checks = run.checks
    ip = lab.platform_ip
    # TCP: which way the firewall refused, per port
    ldaps = checks["firewall.ldaps-internal"]["evidence"]["port_states"]["8636"]
    assert ldaps["state"] == "filtered" and "drops" in ldaps["meaning"]
    h323 = checks["firewall.h323-tls"]["evidence"]["port_states"]["1300"]
    assert h323["state"] == "closed" and "TCP reset" in h323["meaning"]
    # remediation, English and German, naming the exact ports and destination
    for cid, ports in EXPECTED_BLOCKED.items():
        transport = "tcp" if cid in ("firewall.ldaps-internal", "firewall.h323-tls") else "udp"
        line = f"allow out proto {transport} to {ip} port {ports}"
        en, de = checks[cid]["remediation"], checks[cid]["evidence"]["remediation_de"]
        if cid == "firewall.h323-tls":  # refused with a reset: the service, or a reject rule
            assert en.startswith(f"{ip} answered port(s) {ports} with a TCP reset"), en
            assert en.endswith(line) and de.endswith(line), (en, de)
            assert "refused (reset)" in checks[cid]["reason"]
            continue
        assert en.startswith(f"Allow outbound {transport.upper()} ") and en.endswith(line), en
        assert de.startswith(f"Ausgehend {transport.upper()} ") and de.endswith(line), de
        assert f"{ip} Port(s) {ports} " in de
    for cid, c in checks.items():
        if cid not in EXPECTED_BLOCKED:
            assert c["remediation"] == "" and "remediation_de" not in c["evidence"], cid
    rtp = checks["firewall.rtp"]["evidence"]
    assert rtp["attempts_per_silent_port"] >= 5
    assert rtp["probes_retried"] >= 11 * 4  # every blocked port was probed again


@pytest.mark.root
def test_clean_path_passes(
    lab: Lab, stimme_responder: str, config_home: Path, tmp_path: Path
) -> None:
    run = run_firewall(lab, stimme_responder, tmp_path / "r", config_home)
    print(f"\nclean stimme firewall plan in {run.seconds:.2f} s")
    statuses = {cid: c["status"] for cid, c in run.checks.items()}
    assert {k for k, v in statuses.items() if v != "pass"} == SIP_RULES
    assert {statuses[k] for k in SIP_RULES} == {"skipped"}
    assert run.checks["firewall.rtp"]["evidence"]["ports"] == {
        "open": "16384-32767",
        "blocked": "",
        "not_tested": "",
    }
    assert run.returncode == 0, run.stderr
    assert run.seconds <= 10.0


@pytest.mark.root
def test_one_percent_random_loss_reports_no_port_wrongly_blocked(
    lab: Lab, stimme_responder: str, config_home: Path, tmp_path: Path
) -> None:
    apply_router_rules(lab)
    lab.set_loss("up", 1.0, deterministic=False)
    lab.set_loss("down", 1.0, deterministic=False)
    run = run_firewall(lab, stimme_responder, tmp_path / "r", config_home)
    dropped = lab.dropped()
    print(f"\n1 % loss: {run.seconds:.2f} s, {run.retried()} probes retried, dropped {dropped}")
    assert dropped["up"] > 0 and dropped["down"] > 0  # the loss really happened
    assert_exact_blocks(run, sip=False)
    assert run.seconds <= 20.0


@pytest.mark.root
def test_quick_mode_samples_ranges(
    lab: Lab, stimme_responder: str, config_home: Path, tmp_path: Path
) -> None:
    apply_router_rules(lab)
    run = run_firewall(lab, stimme_responder, tmp_path / "r", config_home, "--quick")
    checks = run.checks
    video = checks["firewall.video"]
    assert video["status"] == "fail"
    assert video["evidence"]["sampled"] is True
    sampled = expand(video["evidence"]["sampled_ports"])
    assert sampled[0] == 50000 and sampled[-1] == 50100 and len(sampled) == 3
    assert video["evidence"]["ports"]["blocked"] == video["evidence"]["sampled_ports"]
    assert "quick mode: 3 of 101 ports probed" in video["reason"]
    rtp = checks["firewall.rtp"]
    assert rtp["evidence"]["sampled"] is True
    ports = rtp["evidence"]["ports"]
    assert ports["not_tested"] != "" and "16384" in ports["open"] and "32767" in ports["open"]
    if ports["blocked"] == "":  # 1 random port of 16,382 may hit one of the 11 blocked
        assert rtp["status"] == "pass" and "quick mode" in rtp["reason"]
    # single-port rules are not sampled: probed whole, as in a full run
    assert checks["firewall.ldaps-internal"]["evidence"]["ports"]["blocked"] == "8636"
    assert "sampled" not in checks["firewall.ldaps-internal"]["evidence"]
    assert checks["firewall.https-mypbx"]["status"] == "pass"
    print(f"\nquick mode: {run.seconds:.2f} s")


INSPECTED_PORT = 8443  # https-reporting
PROXY_PORT = 18443  # where the router's "inspecting" TLS endpoint listens
INSPECT_TABLE = "nrinspect"
SITE_PROFILE = """
[profile]
name = "acme-berlin"
title = "a site on the stimme platform, with the platform's certificate issuer pinned"
extends = "stimme"

[checks.tls]
expect_issuer = "netready responder"   # the issuer the platform (here: the responder) uses
"""


@pytest.mark.root
def test_tls_inspection_in_the_router_is_flagged_on_that_port_only(
    lab: Lab, stimme_responder: str, config_home: Path, tmp_path: Path
) -> None:
    """The router intercepts TCP 8443 like an inspecting firewall: it terminates TLS itself
    with a certificate of its own (nft redirect to a TLS endpoint in the router namespace).
    netready must name that port and the issuer seen; every other TLS port passes."""
    from netready.responder.tls_ports import self_signed_pem

    cert, key = self_signed_pem("FortiGate SSL Inspection")
    (tmp_path / "fw.crt").write_bytes(cert)
    (tmp_path / "fw.key").write_bytes(key)
    os.chmod(tmp_path / "fw.key", 0o600)
    inspector = lab.popen_in(
        "router",
        [
            sys.executable,
            "-m",
            "netready",
            "responder",
            "--listen",
            "0.0.0.0",
            "--stamp-port",
            "0",
            "--tls-ports",
            str(PROXY_PORT),
            "--tls-cert",
            str(tmp_path / "fw.crt"),
            "--tls-key",
            str(tmp_path / "fw.key"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    nat = (
        f"table inet {INSPECT_TABLE} {{\n  chain pre {{\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        f"    ip daddr {lab.platform_ip} tcp dport {INSPECTED_PORT} "
        f"redirect to :{PROXY_PORT}\n  }}\n}}\n"
    )
    (tmp_path / "inspect.nft").write_text(nat)
    lab.run_in("router", ["nft", "-f", str(tmp_path / "inspect.nft")])
    try:
        profile = tmp_path / "acme-berlin.toml"
        profile.write_text(SITE_PROFILE)
        ip = lab.platform_ip
        argv = [sys.executable, "-m", "netready", "check", "--profile", str(profile)]
        for name in ("pbx", "services", "stun"):
            argv += ["--host", f"{name}={ip}"]
        argv += [
            "--responder",
            stimme_responder,
            "--only",
            "tls.",
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        ]
        env = dict(os.environ, NETREADY_CONFIG_DIR=str(config_home))
        time.sleep(0.5)  # the inspecting endpoint binds
        proc = lab.run_in("site", argv, check=False, timeout=120, env=env)
        assert_valid_report(tmp_path / "r" / "report.json")
        doc = json.loads((tmp_path / "r" / "report.json").read_bytes())
    finally:
        lab.run_in("router", ["nft", "delete", "table", "inet", INSPECT_TABLE], check=False)
        stop_process(inspector)
    checks = {c["id"]: c for c in doc["checks"]}
    assert proc.returncode == 1, proc.stderr
    failed = {cid for cid, c in checks.items() if c["status"] == "fail"}
    assert failed == {"tls.https-reporting"}, {c: checks[c]["reason"] for c in failed}
    bad = checks["tls.https-reporting"]
    assert bad["evidence"]["interception"] is True
    assert "TLS interception" in bad["reason"] and "FortiGate SSL Inspection" in bad["reason"]
    assert str(INSPECTED_PORT) in bad["reason"]
    assert bad["remediation"]
    assert all(c["status"] == "pass" for cid, c in checks.items() if cid not in failed)

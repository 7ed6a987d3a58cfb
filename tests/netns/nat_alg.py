"""The lab router as a Linux NAT box with (or without) one of the kernel's ALG helpers.

Shared by the kernel SIP and H.323 ALG tests: an nft table that masquerades site ->
platform out of r1 and, when asked, hands the protocol's port to a conntrack helper
(the kernel assigns none by itself); a counter proves the NAT was on the path; a check
is run from the site namespace and read back from its signed report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_valid_report, in_ci
from tests.netns.lab import Lab


def nat_ruleset(table: str, helpers: str, helper_rules: str, helper: bool) -> str:
    """Masquerade out of r1; with `helper`, `helper_rules` send traffic to `helpers`."""
    return (
        f"table inet {table}\ndelete table inet {table}\n"
        f"table inet {table} {{\n"
        f"{helpers}"
        "  chain pre {\n    type filter hook prerouting priority filter; policy accept;\n"
        f"    {helper_rules if helper else ''}\n  }}\n"
        "  chain post {\n    type nat hook postrouting priority srcnat; policy accept;\n"
        '    oifname "r1" counter masquerade comment "masquerade"\n  }\n}\n'
    )


def load_nat(lab: Lab, ruleset: str, what: str) -> None:
    """Load the router's NAT table; skip (fail in CI) when this kernel lacks the helper."""
    argv = ["ip", "netns", "exec", lab.ns["router"], "nft", "-f", "-"]
    proc = subprocess.run(argv, input=ruleset, text=True, capture_output=True, timeout=10)
    if proc.returncode:
        msg = f"nft refused the {what} helper / NAT table: {proc.stderr.strip()}"
        if in_ci():
            pytest.fail(msg + " and CI=true")
        pytest.skip(msg + f" (kernel without the {what} conntrack/NAT helper?)")


def drop_nat(lab: Lab, table: str) -> None:
    """Remove the NAT table again (a no-op when it was never loaded)."""
    lab.run_in("router", ["nft", "delete", "table", "inet", table], check=False)


def masqueraded_packets(lab: Lab, table: str) -> int:
    """Packets the masquerade rule has translated since the table was loaded."""
    listing = lab.run_in("router", ["nft", "-j", "list", "table", "inet", table]).stdout
    for item in json.loads(listing)["nftables"]:
        rule = item.get("rule", {})
        if rule.get("comment") == "masquerade":
            return sum(int(e["counter"]["packets"]) for e in rule["expr"] if "counter" in e)
    raise AssertionError(f"no masquerade rule in {listing}")


def run_checks_in_site(
    lab: Lab, profile_text: str, only: str, responder: str, config_home: Path, tmp_path: Path
) -> dict[str, dict[str, Any]]:
    """`netready check --only ONLY` from the site namespace; the checks of its signed report."""
    profile = tmp_path / "alg-lab.toml"
    profile.write_text(profile_text, "utf-8")
    out = tmp_path / "report"
    argv = [sys.executable, "-m", "netready", "check", "--profile", str(profile)]
    argv += ["--only", only, "--responder", responder, "--out", str(out), "--quiet"]
    env = dict(os.environ, NETREADY_CONFIG_DIR=str(config_home))
    proc = lab.run_in("site", argv, check=False, timeout=60, env=env)
    report = out / "report.json"
    assert report.exists(), f"no report (exit {proc.returncode}): {proc.stderr}"
    assert_valid_report(report)
    return {c["id"]: c for c in json.loads(report.read_bytes())["checks"]}

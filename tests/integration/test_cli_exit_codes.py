"""One test per exit code of the CLI contract, against a real responder on loopback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netready.cli import Env, main
from tests.conftest import run_cli
from tests.integration.loopback import loopback_platform, write_profile


def _report(out: Path) -> dict[str, object]:
    return json.loads((out / "report.json").read_bytes())


def test_exit_0_pass_with_json_on_stdout(tmp_path: Path, config_dir: Path) -> None:
    with loopback_platform(tmp_path) as plat:
        out = tmp_path / "r"
        proc = run_cli(
            "check", "--profile", str(plat.profile), "--out", str(out), "--json", config=config_dir
        )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # stdout carries the document and nothing else
    assert doc["verdict"] == "PASS"
    assert (out / "report.json").read_bytes().decode() == proc.stdout.strip()
    statuses = {c["id"]: c["status"] for c in doc["checks"]}
    assert statuses == {
        "media.voice": "pass",
        "firewall.https": "pass",
        "firewall.rtp": "pass",
        "firewall.sip-udp": "skipped",
        "dns": "skipped",  # every host is an address: no lookups
        "qos.dscp": "pass",
        "path.mtu": "pass",
    }
    sip = next(c for c in doc["checks"] if c["id"] == "firewall.sip-udp")
    assert "sip_provider" in sip["reason"]
    assert "netready: verdict PASS" in proc.stderr


def test_exit_1_fail_names_the_blocked_port(tmp_path: Path, config_dir: Path) -> None:
    with loopback_platform(tmp_path, serve_tcp=False) as plat:
        out = tmp_path / "r"
        proc = run_cli(
            "check",
            "--profile",
            str(plat.profile),
            "--out",
            str(out),
            "--only",
            "firewall.https",
            config=config_dir,
        )
    assert proc.returncode == 1, proc.stderr
    check = _report(out)["checks"][0]  # type: ignore[index]
    assert check["status"] == "fail"
    assert check["evidence"]["ports"]["blocked"] == str(plat.tcp_port)
    assert str(plat.tcp_port) in check["remediation"]


def test_exit_2_empty_host_refused_before_sending(tmp_path: Path, config_dir: Path) -> None:
    proc = run_cli(
        "check",
        "--profile",
        "stimme",
        "--host",
        "pbx=",
        "--out",
        str(tmp_path / "r"),
        config=config_dir,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netready: error: ")
    assert "--host pbx=ADDR" in lines[0]
    assert not (tmp_path / "r").exists()
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "args, needle",
    [
        (["check"], "--profile"),
        (["check", "--profile", "no-such-profile"], "no-such-profile"),
        (["check", "--profile", "stimme", "--host", "pbxx=127.0.0.1"], "did you mean 'pbx'"),
        (["check", "--profile", "stimme", "--only", "firewall.nope"], "firewall.nope"),
        (["frobnicate"], "frobnicate"),
        (["verify", "/nonexistent/report.json"], "/nonexistent/report.json"),
    ],
)
def test_exit_2_usage_errors_are_one_line(
    args: list[str], needle: str, tmp_path: Path, config_dir: Path
) -> None:
    proc = run_cli(*args, config=config_dir, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]


def test_exit_3_incomplete_without_responder(tmp_path: Path, config_dir: Path) -> None:
    with loopback_platform(tmp_path) as plat:
        write_profile(
            plat.profile,
            plat.stamp_port,
            plat.tcp_port,
            plat.udp_first,
            plat.udp_last,
            plat.sip_port,
            responder=False,
        )
        out = tmp_path / "r"
        proc = run_cli(
            "check", "--profile", str(plat.profile), "--out", str(out), config=config_dir
        )
    assert proc.returncode == 3, proc.stderr
    doc = _report(out)
    assert doc["verdict"] == "INCOMPLETE"
    statuses = {c["id"]: c["status"] for c in doc["checks"]}  # type: ignore[union-attr]
    methods = {c["id"]: c["method"] for c in doc["checks"]}  # type: ignore[union-attr]
    # no responder configured, but one echoes at the host's own address: the rule is decided
    assert statuses["firewall.rtp"] == "pass"
    assert methods["firewall.rtp"] == "udp-echo via netready responder at the host's address"
    assert statuses["media.voice"] == "not_tested"
    assert statuses["firewall.https"] == "pass"


def test_exit_4_internal_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config_dir: Path
) -> None:
    import netready.commands as commands

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(commands, "run_and_report", broken)
    monkeypatch.delenv("NETREADY_DEBUG", raising=False)
    import io

    err = io.StringIO()
    env = Env(stdout=io.StringIO(), stderr=err, environ={"NETREADY_CONFIG_DIR": str(config_dir)})
    code = main(
        [
            "check",
            "--profile",
            "stimme",
            "--host",
            "pbx=127.0.0.1",
            "--host",
            "services=127.0.0.1",
            "--host",
            "stun=127.0.0.1",
            "--out",
            str(tmp_path / "r"),
        ],
        env,
    )
    assert code == 4
    assert err.getvalue().strip().splitlines()[-1] == (
        "netready: internal error: RuntimeError: a bug (set NETREADY_DEBUG=1 for a traceback)"
    )
    assert "Traceback" not in err.getvalue()


def test_exit_130_sigint_writes_signed_incomplete_report(tmp_path: Path, config_dir: Path) -> None:
    with loopback_platform(tmp_path, duration=30.0) as plat:
        out = tmp_path / "r"
        import os

        env = dict(os.environ, NETREADY_CONFIG_DIR=str(config_dir))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "netready",
                "check",
                "--profile",
                str(plat.profile),
                "--out",
                str(out),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        time.sleep(3.0)  # inside the 30 s voice stream
        proc.send_signal(signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    doc = _report(out)
    assert doc["verdict"] == "INCOMPLETE" and doc["interrupted"] is True
    voice = doc["checks"][0]  # type: ignore[index]
    assert voice["status"] == "not_tested"
    assert voice["metrics"]["packets_sent"] >= 50  # what was measured is kept
    assert all(c["status"] == "not_tested" for c in doc["checks"][1:])  # type: ignore[index]
    verify = run_cli("verify", str(out / "report.json"), config=config_dir)
    assert verify.returncode == 0, verify.stdout

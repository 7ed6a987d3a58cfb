"""packaging/: the systemd unit passes `systemd-analyze verify` and stays under an exposure
ceiling; the man page renders without a warning and names every responder option.

No systemd needs to run (PID 1 here is not systemd): `systemd-analyze verify` and
`security --offline=yes` read the unit file only. verify checks that ExecStart's binary
exists and that the Documentation= man page is found, so the test points ExecStart at
this venv's `netready` and MANPATH at the page from packaging/.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from netready.cli import build_parser
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "netready-responder.service"
MAN_PAGE = ROOT / "packaging" / "netready-responder.1"
INSTALLED_BINARY = "/opt/netready/bin/netready"
#: `systemd-analyze security` exposure, 0.0 (locked down) to 10.0; the unit scores 2.1
#: (the rest is the network it must serve and CAP_NET_BIND_SERVICE for port 862).
EXPOSURE_CEILING = 2.5


def unit_for_verify(tmp_path: Path) -> Path:
    """The unit with ExecStart on this venv's netready, and MAN_PAGE in a man1 folder."""
    netready = Path(sys.prefix) / "bin" / "netready"
    if not netready.exists():
        netready = Path(shutil.which("netready") or sys.executable)
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED_BINARY in text
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(INSTALLED_BINARY, str(netready)), encoding="utf-8")
    (tmp_path / "man" / "man1").mkdir(parents=True)
    shutil.copy(MAN_PAGE, tmp_path / "man" / "man1" / MAN_PAGE.name)
    return unit


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool("systemd-analyze", "Debian package systemd; ./run test installs it")
    env = dict(os.environ, MANPATH=str(cwd / "man"), SYSTEMD_LOG_COLOR="0", LC_ALL="C.UTF-8")
    return subprocess.run(
        [tool, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = unit_for_verify(tmp_path)
    proc = analyze("verify", f"./{unit.name}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr


def test_verify_would_see_a_mistake(tmp_path: Path) -> None:
    unit = unit_for_verify(tmp_path)
    unit.write_text(unit.read_text().replace("UMask=0077", "UMask=0077\nProtectNothing=yes"))
    proc = analyze("verify", f"./{unit.name}", cwd=tmp_path)
    assert "Unknown key" in proc.stderr


def test_unit_exposure_stays_under_the_ceiling(tmp_path: Path) -> None:
    unit = unit_for_verify(tmp_path)
    proc = analyze("security", "--offline=yes", f"./{unit.name}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", proc.stdout)
    assert found, proc.stdout[-500:]
    assert float(found.group(1)) <= EXPOSURE_CEILING, proc.stdout


def test_unit_settings_the_operator_relies_on() -> None:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    assert settings["DynamicUser"] == ["yes"]
    assert settings["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert settings["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert int(settings["LimitNOFILE"][0]) >= 16_900 + 4096  # stimme's fds, with headroom
    assert settings["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert settings["Restart"] == ["on-failure"]
    assert "--profile stimme" in settings["ExecStart"][0]
    assert settings["EnvironmentFile"] == ["-/etc/netready/responder.env"]


def responder_options() -> set[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    responder = subparsers.choices["responder"]
    return {opt for action in responder._actions for opt in action.option_strings}


def test_man_page_names_every_responder_option() -> None:
    page = MAN_PAGE.read_text(encoding="utf-8").replace("\\-", "-")
    missing = sorted(opt for opt in responder_options() if not re.search(rf"{opt}\b", page))
    assert not missing, f"document these in {MAN_PAGE.name}: {missing}"


def test_man_page_renders_without_warnings() -> None:
    groff = require_tool("groff", "Debian package groff-base; ./run test installs it")
    proc = subprocess.run(
        [groff, "-ww", "-z", "-man", str(MAN_PAGE)], capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    man = require_tool("man", "Debian package man-db; ./run test installs it")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    proc = subprocess.run(
        [man, "--warnings", "-l", str(MAN_PAGE)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert "--metrics ADDR:PORT" in proc.stdout.replace("\u2010", "-")


def test_groff_check_would_see_a_mistake(tmp_path: Path) -> None:
    groff = require_tool("groff", "Debian package groff-base; ./run test installs it")
    bad = tmp_path / "bad.1"
    bad.write_text(MAN_PAGE.read_text(encoding="utf-8") + ".NOSUCHMACRO x\n")
    proc = subprocess.run([groff, "-ww", "-z", "-man", str(bad)], capture_output=True, text=True)
    assert "NOSUCHMACRO" in proc.stderr


def test_the_units_command_line_is_one_the_responder_accepts(tmp_path: Path) -> None:
    """ExecStart with the unit's default environment and the README's example options
    parses and gives a valid responder config (the stimme profile's ports, metrics)."""
    import shlex

    from netready.responder.cli import responder_config
    from netready.responder.metrics import parse_metrics_address

    exec_start = next(
        line.partition("=")[2]
        for line in UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith("ExecStart=")
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    options = re.search(r"'NETREADY_OPTIONS=([^']*)'", readme)
    assert options, "README: the example responder.env"
    words = shlex.split(
        exec_start.replace("${NETREADY_LISTEN}", "0.0.0.0").replace(
            "$NETREADY_OPTIONS", options.group(1)
        )
    )
    assert words[:2] == [INSTALLED_BINARY, "responder"]
    args = build_parser().parse_args(words[1:])
    config = responder_config(args, {"NETREADY_CONFIG_DIR": str(tmp_path)})
    assert config.listen == "0.0.0.0" and config.stamp_port == 862
    assert sum(len(r) for r in config.udp_ports) >= 16_586
    assert parse_metrics_address(args.metrics) == ("127.0.0.1", 9862)

"""netready under a simulated Windows and macOS (tests/unit/os_simulation.py says what is
simulated): every module imports, the support commands work on a real signed report, the
socket options take the system's own numbers, and a loopback `check` degrades to
`not_tested` with reasons instead of crashing.

The report comes from `netready check` run under the Windows simulation against a real
responder on loopback (in this, the Linux, process). The check runs with Linux's values
of IP_TOS/IP_TTL (the simulation does not give Windows' numbers to a Linux kernel); the
macOS values are checked where netready reads them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from netready.report.csv_export import HEADER
from tests.conftest import assert_valid_report
from tests.integration.loopback import loopback_platform
from tests.unit.os_simulation import MACOS_SOCKET_OPTIONS, OS_NAMES

REPO = Path(__file__).resolve().parents[2]


def simulated(os_name: str, *args: str, config: Path) -> subprocess.CompletedProcess[str]:
    """`python -m tests.unit.os_simulation OS ARGS` with its own config dir."""
    env = dict(os.environ, NETREADY_CONFIG_DIR=str(config), LANG="en_US.UTF-8")
    env.pop("NETREADY_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "tests.unit.os_simulation", os_name, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class WindowsRun:
    """A `netready check` made under the Windows simulation: its exit code and report."""

    returncode: int
    stderr: str
    report: Path
    config: Path


@pytest.fixture(scope="module")
def windows_run(tmp_path_factory: pytest.TempPathFactory) -> WindowsRun:
    tmp = tmp_path_factory.mktemp("windows")
    config = tmp / "config"
    with loopback_platform(tmp, duration=1.0) as plat:
        out = tmp / "report"
        proc = simulated("win32", "cli", "check", "--profile", str(plat.profile),
                         "--out", str(out), "--events", str(tmp / "events.jsonl"),
                         config=config)  # fmt: skip
    return WindowsRun(proc.returncode, proc.stderr, out / "report.json", config)


@pytest.mark.parametrize("os_name", OS_NAMES)
def test_every_module_imports(os_name: str, tmp_path: Path) -> None:
    proc = simulated(os_name, "import-all", config=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


PROBE_CONSTANTS = """
import json, socket
from tests.unit.os_simulation import apply
apply({os_name!r})
from netready.probes import mtu, sockopts
from netready.responder import udp_ports
names = ("SO_TIMESTAMPNS", "IP_TOS", "IP_TTL", "IP_RECVTTL", "IP_RECVTOS", "IPV6_TCLASS",
         "IPV6_RECVTCLASS", "IPV6_HOPLIMIT", "IPV6_RECVHOPLIMIT", "IPV6_UNICAST_HOPS")
found = {{n: getattr(sockopts, n) for n in names}}
found |= {{n: getattr(mtu, n) for n in ("IP_MTU_DISCOVER", "IP_MTU", "IPV6_MTU_DISCOVER")}}
found |= {{n: getattr(udp_ports, n) for n in ("IP_PKTINFO", "IPV6_PKTINFO")}}
found |= {{"ANCILLARY_BUFSIZE": sockopts.ANCILLARY_BUFSIZE, "HAS_RECVMSG": sockopts.HAS_RECVMSG,
          "df": mtu.df_unsupported_reason(), "dscp": sockopts.tx_dscp_unsupported_reason(),
          "clock": sockopts.clock_is_synchronised(),
          "tos_cmsg": sockopts.parse_ancillary([(0, socket.IP_RECVTOS, b"\\xb8")]).tos}}
print(json.dumps(found))
"""


def _constants(os_name: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE_CONSTANTS.format(os_name=os_name)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    found: dict[str, object] = json.loads(proc.stdout)
    return found


def test_macos_gets_its_own_socket_option_numbers() -> None:
    found = _constants("darwin")
    for name in ("IP_TOS", "IP_TTL", "IP_RECVTOS", "IPV6_TCLASS", "IPV6_RECVTCLASS"):
        assert found[name] == MACOS_SOCKET_OPTIONS[name], name
    # names Python does not export: Linux's numbers would mean other options on macOS
    for name in ("SO_TIMESTAMPNS", "IP_RECVTTL", "IP_MTU_DISCOVER", "IP_MTU", "IP_PKTINFO"):
        assert found[name] is None, name
    assert found["HAS_RECVMSG"] is True and found["ANCILLARY_BUFSIZE"] > 0  # type: ignore[operator]
    assert "IP_MTU_DISCOVER" in str(found["df"]) and found["dscp"] == ""
    assert found["clock"] is False  # adjtimex is Linux's: never claimed synchronised
    assert found["tos_cmsg"] == 0xB8  # macOS delivers the TOS as an IP_RECVTOS cmsg


def test_windows_reads_without_recvmsg_and_marks_nothing() -> None:
    found = _constants("win32")
    assert (found["HAS_RECVMSG"], found["ANCILLARY_BUFSIZE"]) == (False, 0)
    assert "Windows" in str(found["dscp"]) and found["clock"] is False


def test_linux_keeps_its_numbers() -> None:
    from netready.probes import mtu, sockopts

    assert (sockopts.SO_TIMESTAMPNS, sockopts.IP_RECVTTL, sockopts.IP_RECVTOS) == (35, 12, 13)
    assert (mtu.IP_MTU_DISCOVER, mtu.IP_MTU) == (10, 14)
    assert sockopts.HAS_RECVMSG and mtu.df_unsupported_reason() == ""


def test_loopback_check_on_windows_degrades_without_errors(windows_run: WindowsRun) -> None:
    assert windows_run.returncode == 3, windows_run.stderr  # INCOMPLETE: MTU and DSCP untested
    assert "internal error" not in windows_run.stderr
    assert_valid_report(windows_run.report)
    doc = json.loads(windows_run.report.read_bytes())
    checks = {c["id"]: c for c in doc["checks"]}
    assert not [c["id"] for c in checks.values() if c["status"] == "error"]
    assert checks["media.voice"]["status"] == "pass"
    assert checks["media.voice"]["evidence"]["timestamp_source"] != "kernel"
    assert checks["firewall.rtp"]["status"] == "pass"
    for check_id, why in (("path.mtu", "IP_MTU_DISCOVER"), ("qos.dscp", "Windows")):
        assert checks[check_id]["status"] == "not_tested", check_id
        assert why in checks[check_id]["reason"], checks[check_id]["reason"]


@pytest.mark.parametrize("os_name", OS_NAMES)
def test_support_commands(os_name: str, windows_run: WindowsRun, tmp_path: Path) -> None:
    report = windows_run.report
    proc = simulated(os_name, "cli", "verify", str(report), config=windows_run.config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("OK")

    csv_out = tmp_path / "samples.csv"
    proc = simulated(os_name, "cli", "csv", str(report), "--out", str(csv_out),
                     config=windows_run.config)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = csv_out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == ",".join(HEADER)
    assert len(rows) > 10  # a 1 s stream at 50 packets/s

    archive = tmp_path / "ticket.zip"
    proc = simulated(os_name, "cli", "ticket", str(report), "--out", str(archive),
                     config=windows_run.config)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(archive) as zf:
        names = {Path(n).name for n in zf.namelist()}
    assert {"report.json", "report.json.minisig", "ticket.txt", "report.html"} <= names

    proc = simulated(os_name, "cli", "keys", "show", config=windows_run.config)
    assert proc.returncode == 0, proc.stderr
    assert "key ID" in proc.stdout and "never shown" in proc.stdout


@pytest.mark.parametrize("os_name", OS_NAMES)
def test_a_changed_report_fails_verify(
    os_name: str, windows_run: WindowsRun, tmp_path: Path
) -> None:
    copy = tmp_path / "report.json"
    for name in ("report.json", "report.json.minisig", "netready.pub"):
        (tmp_path / name).write_bytes((windows_run.report.parent / name).read_bytes())
    copy.write_bytes(copy.read_bytes().replace(b'"INCOMPLETE"', b'"PASS"', 1))
    proc = simulated(os_name, "cli", "verify", str(copy), config=windows_run.config)
    assert proc.returncode == 1 and "NOT VERIFIED" in proc.stdout


REPLAY = """
import asyncio, sys, time
from pathlib import Path
from tests.unit.os_simulation import apply
apply({os_name!r})
from netready.tui.app import NetreadyApp
from netready.tui.result import ResultScreen
from netready.tui.sources import ReplaySource, finished_from_folder, read_events
from tests.tui.screens import screen_text

source = ReplaySource(read_events(Path({events!r})), finished_from_folder(Path({folder!r})))
app = NetreadyApp(lang="en", environ={{"NETREADY_CONFIG_DIR": {config!r}}}, replay=source)

async def main() -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 60
        while not isinstance(app.screen, ResultScreen):
            if time.monotonic() > deadline:
                sys.exit("no result screen; screen:\\n" + screen_text(app))
            await pilot.pause(0.05)
        await pilot.pause(0.1)
        print(screen_text(app))
        await pilot.press("ctrl+q")

asyncio.run(main())
"""


@pytest.mark.parametrize("os_name", OS_NAMES)
def test_the_app_replays_a_run(os_name: str, windows_run: WindowsRun, tmp_path: Path) -> None:
    """`netready tui --replay EVENTS --report-dir DIR`, as the app runs it (headless)."""
    script = REPLAY.format(
        os_name=os_name,
        events=str(windows_run.report.parent.parent / "events.jsonl"),
        folder=str(windows_run.report.parent),
        config=str(tmp_path / "config"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "INCOMPLETE" in proc.stdout and "path.mtu" in proc.stdout, proc.stdout


def test_the_responder_says_it_needs_linux(tmp_path: Path) -> None:
    proc = simulated("win32", "cli", "responder", "--listen", "127.0.0.1", config=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "netready: error: netready responder runs on Linux only (kernel receive timestamps "
        "and packet destinations); this system is win32"
    ]


def test_the_app_stops_its_child_the_way_each_os_can(monkeypatch: pytest.MonkeyPatch) -> None:
    """POSIX: own session, SIGINT; Windows: own process group, CTRL_BREAK_EVENT, which the
    child's handlers take as SIGBREAK (Windows' values, set here on Linux's modules)."""
    import signal

    from netready import run_stop

    options = run_stop.child_popen_options()
    assert options["start_new_session"] is True and callable(options["preexec_fn"])
    assert run_stop.child_stop_signal() == signal.SIGINT
    assert run_stop.stop_signals() == (signal.SIGINT, signal.SIGTERM)

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(signal, "CTRL_BREAK_EVENT", 1, raising=False)
    monkeypatch.setattr(signal, "SIGBREAK", 21, raising=False)
    monkeypatch.setattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0x200, raising=False)
    assert run_stop.child_popen_options() == {"creationflags": 0x200}  # no preexec_fn there
    assert run_stop.child_stop_signal() == 1
    assert run_stop.stop_signals() == (signal.SIGINT, signal.SIGTERM, 21)

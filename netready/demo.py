"""`netready demo`: a real responder process on 127.0.0.1, the lab profile measured against it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from netready.addr import split_host_port
from netready.errors import UsageError
from netready.events import Subscriber
from netready.model import Profile
from netready.procs import die_with_parent
from netready.profile import load_profile
from netready.report.signing import SecretKey
from netready.resources import data_dir
from netready.session import RunRequest, RunResult, run_and_report

READY_TIMEOUT_S = 60.0
DEMO_SITE = {
    "customer": "netready demo",
    "site": "loopback 127.0.0.1",
    "address": "",
    "installer": "netready demo",
    "ticket": "",
}


def lab_profile() -> Profile:
    """The shipped lab profile: everything on 127.0.0.1, high ports only."""
    return load_profile(data_dir("profiles") / "lab.toml")


def _wait_until_listening(proc: subprocess.Popen[str], host: str, port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
            raise UsageError(
                "the demo responder could not start: "
                + (err[-1] if err else f"exit code {proc.returncode}")
            )
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise UsageError(
        f"the demo responder did not listen on {host}:{port} within {READY_TIMEOUT_S:.0f} s"
    )


@contextmanager
def local_responder(profile: Profile, say: Callable[[str], None]) -> Iterator[None]:
    """`netready responder` in its own process (its own core, like the real far end)."""
    host, stamp_port = split_host_port(profile.responder)
    tcp_rule = next(r for r in profile.rules if r.transport == "tcp")
    cmd = [
        sys.executable,
        "-m",
        "netready",
        "responder",
        "--listen",
        host,
        "--stamp-port",
        str(stamp_port),
        "--profile",
        str(data_dir("profiles") / "lab.toml"),
        "--max-packet",
        "4096",  # lets the path MTU check send one fragmented 3000-byte probe
    ]
    h323_port = profile.checks.get("h323", {}).get("echo_port")
    if h323_port:
        cmd += ["--h323-echo-ports", str(h323_port)]  # the h323.alg check's echo
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent(signal.SIGTERM),  # never left behind by a crashed parent
    )
    try:
        _wait_until_listening(proc, host, tcp_rule.ports[0].first)
        say(f"netready: demo responder running on {host} (STAMP port {stamp_port}, pid {proc.pid})")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_demo(
    out_dir: Path,
    key: SecretKey,
    duration_s: float | None,
    subscribers: Sequence[Subscriber],
    say: Callable[[str], None],
    lang: str = "en",
    pdf: bool = False,
) -> RunResult:
    """Start the responder, run every check of the lab profile, write the signed report."""
    profile = lab_profile()
    with local_responder(profile, say):
        req = RunRequest(
            profile,
            out_dir,
            key,
            dict(DEMO_SITE),
            duration_s=duration_s,
            subscribers=subscribers,
            lang=lang,
            pdf=pdf,
        )
        return run_and_report(req)

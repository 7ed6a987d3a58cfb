"""A real coturn `turnserver` on loopback for STUN and TURN tests.

    with coturn(tmp_path, user="netready", password="s3cret", realm="netready.test") as server:
        run_stun_stream(server.host, server.port, ...)

It runs in the foreground (no config file, no DTLS, no CLI, its database in `tmp`), logs to
`tmp/turnserver.log`, uses long-term credentials with one static user, and relays only within a
block of free loopback ports, loopback peers allowed (LAB.md §3). TLS only with `tls=True`: a
fresh self-signed certificate (ECDSA P-256, CN `TLS_COMMON_NAME`) in `tmp` and TURN over TLS
on a free port (`server.tls_port`). The context manager returns once a STUN Binding request
is answered (and the TLS port accepts), and stops the server with SIGTERM (then SIGKILL).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aioice import stun

from netready.responder.tls_ports import self_signed_pem
from tests.conftest import free_port, free_port_block, require_tool

START_ATTEMPTS = 3  # a free port can be taken between choosing it and coturn binding it
STOP_TIMEOUT_S = 5.0
TLS_COMMON_NAME = "netready TURN test CA"


@dataclass(frozen=True)
class CoturnServer:
    """Where the running server listens (UDP and TCP) and how to authenticate to it."""

    host: str
    port: int
    user: str
    password: str
    realm: str
    relay_ports: tuple[int, int]
    log: Path
    process: subprocess.Popen[bytes]
    alt_host: str = ""  # second listening address (RFC 5780 OTHER-ADDRESS), "" = none
    alt_port: int = 0
    tls_port: int = 0  # TURN over TLS, 0 = none
    cert: Path | None = None  # the self-signed certificate (PEM) served on tls_port

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) for sockets and aioice."""
        return self.host, self.port

    def log_text(self) -> str:
        """What coturn has logged so far (for assertion messages)."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def stun_binding(host: str, port: int, timeout_s: float = 0.2) -> tuple[str, int] | None:
    """One STUN Binding round trip: the XOR-MAPPED-ADDRESS, or None if nothing valid came."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.sendto(bytes(request), (host, port))
            data = sock.recv(2048)
            reply = stun.parse_message(data)
        except (OSError, ValueError):
            return None
    if reply.transaction_id != request.transaction_id:
        return None
    mapped = reply.attributes.get("XOR-MAPPED-ADDRESS")
    return (str(mapped[0]), int(mapped[1])) if mapped else None


def _command(
    binary: str, host: str, port: int, relay: tuple[int, int], tmp: Path, cred: str, realm: str
) -> list[str]:
    return [
        binary,
        "-n",  # no configuration file
        "--listening-ip",
        host,
        "--relay-ip",
        host,
        "--listening-port",
        str(port),
        "--min-port",
        str(relay[0]),
        "--max-port",
        str(relay[1]),
        "--lt-cred-mech",
        "--user",
        cred,
        "--realm",
        realm,
        "--fingerprint",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--allow-loopback-peers",  # else relaying to a 127.0.0.1 peer silently fails
        "--log-file",
        "stdout",
        "--simple-log",
        "--pidfile",
        str(tmp / "turnserver.pid"),
        "--db",
        str(tmp / "turndb"),  # else it wants /var/lib/turn
    ]


def _tls_files(workdir: Path, host: str) -> tuple[Path, Path]:
    """A fresh self-signed certificate and key for coturn's TLS listener."""
    cert_pem, key_pem = self_signed_pem(TLS_COMMON_NAME, host)
    cert, key = workdir / "turn-cert.pem", workdir / "turn-key.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    key.chmod(0o600)
    return cert, key


def _tls_args(port: int, cert: Path, key: Path) -> list[str]:
    return ["--tls-listening-port", str(port), "--cert", str(cert), "--pkey", str(key)]


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.1).close()
    except OSError:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)


def _wait_ready(
    process: subprocess.Popen[bytes], host: str, port: int, timeout_s: float, tls_port: int = 0
) -> bool:
    """True once coturn answers a Binding (and accepts on `tls_port`); False if it exited or
    the time ran out."""
    end = time.monotonic() + timeout_s
    answered = False
    while time.monotonic() < end:
        if process.poll() is not None:
            return False
        answered = answered or stun_binding(host, port, timeout_s=0.1) is not None
        if answered and (not tls_port or _accepts(host, tls_port)):
            return True
        if answered:
            time.sleep(0.05)
    return False


@contextmanager
def coturn(
    tmp: Path,
    *,
    user: str = "netready",
    password: str = "s3cret",
    realm: str = "netready.test",
    host: str = "127.0.0.1",
    relay_port_count: int = 16,
    extra_args: Sequence[str] = (),
    start_timeout_s: float = 10.0,
    alt_host: str = "",
    tls: bool = False,
) -> Iterator[CoturnServer]:
    """Run coturn on a free port of `host` while the block is active; skip if not installed.

    With `alt_host` (e.g. "127.0.0.2") coturn also listens there and on an alternate port,
    which makes it an RFC 5780 server (Binding answers carry OTHER-ADDRESS).

    `tmp` holds the database, pid file and log. Fails the test if coturn does not answer a
    STUN Binding within `start_timeout_s` (after a few attempts on fresh ports).
    """
    binary = require_tool("turnserver", "coturn; ./run test installs it")
    workdir = tmp / "coturn"
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "turnserver.log"
    cert, key = _tls_files(workdir, host) if tls else (None, None)
    for _attempt in range(START_ATTEMPTS):
        port = free_port()
        first = free_port_block(relay_port_count)
        relay = (first, first + relay_port_count - 1)
        cmd = _command(binary, host, port, relay, workdir, f"{user}:{password}", realm)
        alt_port = free_port() if alt_host else 0
        if alt_host:
            cmd += ["--listening-ip", alt_host, "--alt-listening-port", str(alt_port)]
        tls_port = 0
        if cert is not None and key is not None:
            tls_port = free_port()
            cmd = [c for c in cmd if c != "--no-tls"] + _tls_args(tls_port, cert, key)
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*cmd, *extra_args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, LC_ALL="C"),
            )
        try:
            if _wait_ready(process, host, port, start_timeout_s, tls_port):
                yield CoturnServer(
                    host, port, user, password, realm, relay, log, process, alt_host, alt_port,
                    tls_port, cert,
                )  # fmt: skip
                return
        finally:
            _stop(process)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    raise RuntimeError(f"coturn did not answer a STUN Binding on {host}; log tail:\n{tail}")

"""A real kamailio on 127.0.0.1 for the SIP tests: OPTIONS -> 200 on UDP/TCP (and TLS).

The config is generated per test: `sl` + `textops`; OPTIONS and REGISTER get 200, anything
else 405 (LAB.md §3). TLS listens on its own port when the `tls` module
(kamailio-tls-modules) is installed, with a self-signed certificate made here.
Started in the foreground (`-DD -E`), stopped with SIGTERM.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from netready.responder.tls_ports import self_signed_pem
from tests.conftest import free_port, require_tool

MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")

CONFIG = """#!KAMAILIO
debug=1
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
{tls_listen}
mpath="{mpath}"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "pv.so"
{tls_modules}
request_route {{
    if (is_method("OPTIONS|REGISTER")) {{
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
    exit;
}}
"""

TLS_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = {cert}
private_key = {key}
"""


@dataclass(frozen=True)
class Kamailio:
    """Where the test kamailio listens; tls_port 0 = no TLS module installed."""

    port: int
    tls_port: int


def tls_module_installed() -> bool:
    """True when kamailio-tls-modules provides tls.so."""
    return (MODULES / "tls.so").is_file()


def _wait_ports(kam: Kamailio, proc: subprocess.Popen[bytes], deadline: float) -> None:
    ports = [kam.port] + ([kam.tls_port] if kam.tls_port else [])
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kamailio exited with {proc.returncode}")
        try:
            for port in ports:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("kamailio did not listen within 5 s")


@contextmanager
def kamailio(tmp: Path) -> Iterator[Kamailio]:
    """Start kamailio on free loopback ports with a generated config; stop it afterwards."""
    binary = require_tool("kamailio", "./run test installs kamailio as root")
    port = free_port()
    tls_port = free_port() if tls_module_installed() else 0
    tls_listen = tls_modules = ""
    if tls_port:
        cert, key = self_signed_pem("kamailio.test", "127.0.0.1")
        (tmp / "cert.pem").write_bytes(cert)
        (tmp / "key.pem").write_bytes(key)
        os.chmod(tmp / "key.pem", 0o600)
        (tmp / "tls.cfg").write_text(
            TLS_CFG.format(cert=tmp / "cert.pem", key=tmp / "key.pem"), encoding="utf-8"
        )
        tls_listen = f"enable_tls=yes\nlisten=tls:127.0.0.1:{tls_port}"
        tls_modules = f'loadmodule "tls.so"\nmodparam("tls", "config", "{tmp / "tls.cfg"}")'
    cfg = tmp / "kamailio.cfg"
    cfg.write_text(
        CONFIG.format(
            port=port, tls_listen=tls_listen, tls_modules=tls_modules, mpath=f"{MODULES}/"
        ),
        encoding="utf-8",
    )
    log = (tmp / "kamailio.log").open("wb")
    proc = subprocess.Popen(
        [binary, "-f", str(cfg), "-DD", "-E", "-P", str(tmp / "kamailio.pid"), "-Y", str(tmp)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    kam = Kamailio(port, tls_port)
    try:
        try:
            _wait_ports(kam, proc, time.monotonic() + 5.0)
        except RuntimeError as exc:
            log.flush()
            tail = (tmp / "kamailio.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n{tail}") from None
        yield kam
    finally:
        proc.terminate()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

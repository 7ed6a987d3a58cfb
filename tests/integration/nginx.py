"""A real nginx with TLS on loopback ports, as the platform's HTTPS peer in tests.

    with nginx(tmp_path) as web:
        run_cli("check", ...)  # web.ports: the TLS ports on web.host, web.ca_cert: the test CA

A small test CA (`CA_NAME`, ECDSA P-256, made with `cryptography`) issues the server
certificate (CN `SERVER_NAME`, IP SAN of `host`); nginx sends the chain leaf + CA. nginx runs
in the foreground (`nginx -c CONF -p PREFIX -e ERRORLOG -g 'daemon off;'`) with its own config,
pid file, error/access logs and temp paths in `tmp/nginx`, one worker, `user root` only when
run as root (so the worker can read the 0700 pytest folder; a normal user's nginx ignores the
directive anyway), and serves a static page with status 200 on every port. The context manager
returns once every port accepts TCP, and stops nginx with SIGTERM (then SIGKILL).
`serve_only(ports)` rewrites the config and reloads (SIGHUP): nginx closes the ports left out.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port, require_tool

CA_NAME = "netready test CA"
SERVER_NAME = "netready test nginx"
PAGE = "<!doctype html><title>netready</title><p>netready test nginx</p>\n"
START_ATTEMPTS = 3  # a free port can be taken between choosing it and nginx binding it
STOP_TIMEOUT_S = 5.0
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


@dataclass(frozen=True)
class NginxServer:
    """Where nginx listens with TLS and what it presents."""

    host: str
    ports: tuple[int, ...]
    prefix: Path
    conf: Path
    ca_cert: Path  # the test CA (PEM), e.g. for a verifying client
    leaf_sha256: str  # SHA-256 of the server certificate (DER), "AB:CD:..."
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        """nginx's error log and console output so far (for assertion messages)."""
        parts = [self.prefix / "logs" / "error.log", self.prefix / "logs" / "console.log"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())

    def serve_only(self, ports: Sequence[int], timeout_s: float = 5.0) -> None:
        """Reload with only `ports` (a subset of `self.ports`); return once the others refuse."""
        assert set(ports) <= set(self.ports), (ports, self.ports)
        self.conf.write_text(_conf(self.prefix, self.host, ports), encoding="utf-8")
        self.process.send_signal(signal.SIGHUP)
        gone = [p for p in self.ports if p not in ports]
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited on reload:\n{self.log_text()[-2000:]}")
            if not any(_accepts(self.host, p) for p in gone):
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"nginx still accepts on {gone} after reload:\n{self.log_text()[-2000:]}"
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca_chain(folder: Path, host: str, ca_name: str = CA_NAME) -> tuple[Path, Path, Path, str]:
    """(CA cert, leaf + CA chain, leaf key, leaf SHA-256): a test CA, a server cert for `host`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(SERVER_NAME))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    ca_file, chain, key_file = folder / "ca.pem", folder / "fullchain.pem", folder / "key.pem"
    ca_file.write_bytes(ca_pem)
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca_pem)
    key_file.write_bytes(_pem_key(key))
    key_file.chmod(0o600)
    digest = leaf.fingerprint(hashes.SHA256()).hex().upper()
    return ca_file, chain, key_file, ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _conf(prefix: Path, host: str, ports: Sequence[int]) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"    {t}_temp_path {prefix}/temp/{t};\n" for t in TEMP_DIRS)
    listens = "".join(f"        listen {host}:{port} ssl;\n" for port in ports)
    return f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{
    worker_connections 64;
}}
http {{
    access_log {prefix}/logs/access.log;
{temps}    default_type text/html;
    ssl_certificate {prefix}/tls/fullchain.pem;
    ssl_certificate_key {prefix}/tls/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {{
{listens}        server_name _;
        root {prefix}/html;
        location / {{
            index index.html;
        }}
    }}
}}
"""


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _wait_ready(
    process: subprocess.Popen[bytes], host: str, ports: Sequence[int], timeout_s: float
) -> bool:
    """True once every port accepts; False if nginx exited or the time ran out."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if process.poll() is not None:
            return False
        if all(_accepts(host, p) for p in ports):
            return True
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # SIGTERM: nginx's fast shutdown (master and workers)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)


@contextmanager
def nginx(
    tmp: Path,
    *,
    port_count: int = 2,
    host: str = "127.0.0.1",
    ca_name: str = CA_NAME,
    start_timeout_s: float = 10.0,
) -> Iterator[NginxServer]:
    """Run nginx with TLS on `port_count` free ports of `host`; skip if not installed."""
    binary = require_tool("nginx", "Debian nginx; ./run test installs it")
    prefix = tmp / "nginx"
    for sub in ("logs", "html", *(f"temp/{t}" for t in TEMP_DIRS)):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (prefix / "html" / "index.html").write_text(PAGE, encoding="utf-8")
    ca_cert, _chain, _key, sha256 = make_ca_chain(prefix / "tls", host, ca_name)
    conf, error_log = prefix / "nginx.conf", prefix / "logs" / "error.log"
    command = [binary, "-c", str(conf), "-p", f"{prefix}/", "-e", str(error_log)]
    for _attempt in range(START_ATTEMPTS):
        ports = tuple(free_port() for _ in range(port_count))
        conf.write_text(_conf(prefix, host, ports), encoding="utf-8")
        with (prefix / "logs" / "console.log").open("ab") as out:
            process = subprocess.Popen(
                [*command, "-g", "daemon off;"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            if _wait_ready(process, host, ports, start_timeout_s):
                yield NginxServer(host, ports, prefix, conf, ca_cert, sha256, process)
                return
        finally:
            _stop(process)
    logs = [error_log, prefix / "logs" / "console.log"]
    tail = "\n".join(p.read_text(errors="replace") for p in logs if p.exists())[-2000:]
    raise RuntimeError(f"nginx did not listen on {host}; log tail:\n{tail}")

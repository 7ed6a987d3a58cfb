"""A real OpenLDAP `slapd` with LDAPS on loopback and a small phone book, for LDAPS tests.

    with slapd(tmp_path, common_name="ldap.netready.test") as srv:
        ldap_search("127.0.0.1", srv.ldaps_port, base_dn=srv.people, ...)

Hand-made `slapd.conf` in `tmp` (core/cosine/inetorgperson schema, back_mdb, suffix
dc=netready,dc=test, rootdn cn=admin with `admin_password`), a self-signed certificate with
the given CN, `ou=people` with three people loaded offline by `slapadd`, then `slapd -d 0`
in the foreground on free 127.0.0.1 ports (ldaps:// and ldap://). Stopped with SIGTERM.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from netready.responder.tls_ports import self_signed_pem
from tests.conftest import free_port, require_tool

SUFFIX = "dc=netready,dc=test"
PEOPLE = f"ou=people,{SUFFIX}"
ADMIN = f"cn=admin,{SUFFIX}"
STOP_TIMEOUT_S = 5.0
PHONE_BOOK = (
    ("alice", "Alice Adler", "+49 30 1111"),
    ("bob", "Bob Bauer", "+49 30 2222"),
    ("carol", "Carol Clausen", "+49 30 3333"),
)


@dataclass(frozen=True)
class SlapdServer:
    """Where slapd listens and what it holds."""

    host: str
    ldaps_port: int
    ldap_port: int
    cert_pem: Path
    admin_dn: str
    admin_password: str
    people: str
    log: Path

    def log_text(self) -> str:
        """What slapd has logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def _conf(d: Path, admin_password: str) -> str:
    return f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile {d}/cert.pem
TLSCertificateKeyFile {d}/key.pem
database mdb
maxsize 16777216
suffix "{SUFFIX}"
rootdn "{ADMIN}"
rootpw {admin_password}
directory {d}/db
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"""


def _ldif(people_password: str) -> str:
    out = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\n"
        "o: netready\ndc: netready\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
    ]
    for uid, name, phone in PHONE_BOOK:
        out.append(
            f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n"
            f"sn: {name.split()[-1]}\ntelephoneNumber: {phone}\nuserPassword: {people_password}\n"
        )
    return "\n".join(out)


def _wait_port(process: subprocess.Popen[bytes], host: str, port: int, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if process.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.1)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


@contextmanager
def slapd(
    tmp: Path,
    *,
    common_name: str = "ldap.netready.test",
    admin_password: str = "adminpw-test",
    people_password: str = "alicepw-test",
    host: str = "127.0.0.1",
    start_timeout_s: float = 10.0,
) -> Iterator[SlapdServer]:
    """Run slapd with a fresh phone book while the block is active; skip if not installed."""
    binary = require_tool("slapd", "OpenLDAP; ./run test installs it")
    slapadd = require_tool("slapadd", "OpenLDAP; ./run test installs it")
    d = tmp / ("slapd-" + "".join(c if c.isalnum() else "-" for c in common_name))
    (d / "db").mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_pem(common_name, host)
    (d / "cert.pem").write_bytes(cert)
    (d / "key.pem").write_bytes(key)
    (d / "slapd.conf").write_text(_conf(d, admin_password), encoding="utf-8")
    (d / "data.ldif").write_text(_ldif(people_password), encoding="utf-8")
    subprocess.run(
        [slapadd, "-f", str(d / "slapd.conf"), "-l", str(d / "data.ldif")],
        check=True,
        capture_output=True,
        timeout=30,
    )
    log = d / "slapd.log"
    for _attempt in range(3):
        ldaps, ldap = free_port(), free_port()
        urls = f"ldaps://{host}:{ldaps}/ ldap://{host}:{ldap}/"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [binary, "-d", "0", "-f", str(d / "slapd.conf"), "-h", urls],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            if _wait_port(process, host, ldaps, start_timeout_s):
                yield SlapdServer(
                    host, ldaps, ldap, d / "cert.pem", ADMIN, admin_password, PEOPLE, log
                )
                return
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(STOP_TIMEOUT_S)
    raise RuntimeError(f"slapd did not listen on {host}; log tail:\n{log.read_text()[-2000:]}")

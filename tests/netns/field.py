"""The field topology (LAB.md section 8): real servers on the platform's host addresses, the
responder on an address of its own, a site router that filters by address and port, and one
more router beyond it so TTL-limited probes have a hop to expire at (root only).

::

    site 198.51.100.2 -- fw (nftables: the customer's firewall) -- isp -- platform
    platform p0: pbx      203.0.113.10  nginx TLS 443, 8443, 1300; slapd LDAPS 8636;
                                        its media ranges answer nothing (no echo there)
                 services 203.0.113.11  nginx TLS 4443; slapd LDAPS 636
                 stun     203.0.113.12  coturn 3478 udp + tcp (TURN user in TURN_USER)
                 sip      203.0.113.13  kamailio 5060 udp + tcp, 5061 tls
                 responder 203.0.113.20 `netready responder --profile stimme`

Every server runs in the platform namespace on the real stimme ports, so the real
`profiles/stimme.toml` is used with every host remapped by --host. Nothing leaves the
namespaces (none has a default route).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from netready.responder.tls_ports import self_signed_pem
from tests.integration import kamailio as kam
from tests.integration import nginx as web
from tests.integration import slapd as ldap
from tests.netns.lab4 import Lab4
from tests.netns.procs import stop_process

PBX, SERVICES, STUN, SIP, RESPONDER = (
    "203.0.113.10",
    "203.0.113.11",
    "203.0.113.12",
    "203.0.113.13",
    "203.0.113.20",
)
HOSTS = {"pbx": PBX, "services": SERVICES, "stun": STUN, "sip_provider": SIP}
TURN_USER, TURN_PASSWORD, TURN_REALM = "netready", "field-secret", "netready.test"
READY_S = 30.0
#: (address, port, transport) each server must answer before the lab is ready.
TCP_READY = ((PBX, 443), (PBX, 8443), (PBX, 1300), (PBX, 8636), (SERVICES, 4443))
TCP_READY += ((SERVICES, 636), (STUN, 3478), (SIP, 5060), (RESPONDER, 1720))


SITE_PROFILE = """[profile]
name = "field-site"
extends = "stimme"

# the idle gaps of the NAT test, shortened so the run stays short
[checks."nat.lifetime"]
gaps_s = [1.0, 2.0]
budget_s = 5.0
keepalive_s = 2.0
"""
#: What `block_the_set` makes the site firewall drop or reject, as each rule must name it.
BLOCKED = {
    "firewall.stun-udp": "3478",
    "firewall.rtp": "20000,30001-30010",
    "firewall.video": "50040-50049",
    "firewall.ldaps-internal": "8636",
    "firewall.https-update-backup": "4443",
}


def host_args() -> list[str]:
    """--host NAME=ADDR for every host of stimme."""
    return [arg for name, addr in HOSTS.items() for arg in ("--host", f"{name}={addr}")]


class FieldLab(Lab4):
    """Lab4 plus the platform's real servers and a responder of its own (see module doc)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> FieldLab:
        super().__enter__()  # Lab4 runs start() and closes everything if it fails
        return self

    def start(self) -> None:
        """The namespaces (Lab4), the host addresses, the servers, until they all listen."""
        super().start()
        for addr in (PBX, SERVICES, STUN, SIP, RESPONDER):
            self.ip("plat", "addr", "add", f"{addr}/24", "dev", "p0")
        self._start_servers()
        self.wait_ready()

    def close(self) -> None:
        for _name, proc in reversed(self._procs):
            stop_process(proc)
        self._procs.clear()
        super().close()

    # -- blocks by destination address and port (as customer firewalls write them) --------
    def block_at(self, address: str, transport: str, ports: str, action: str = "drop") -> None:
        """fw drops (or rejects) site -> `address` traffic to `ports` ("3478", "50000-50010")."""
        verdict = "reject with tcp reset" if (action, transport) == ("reject", "tcp") else "drop"
        self.rules.blocks.append(
            f'iifname "f0" ip daddr {address} {transport} dport {{ {ports} }} counter {verdict}'
        )
        self._load_nft()

    # -- servers -----------------------------------------------------------------------------
    def _spawn(self, name: str, argv: Sequence[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns["plat"], *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._procs.append((name, proc))

    def log_text(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _start_servers(self) -> None:
        self._nginx()
        self._slapd()
        self._coturn()
        self._kamailio()
        self._responder()

    def _nginx(self) -> None:
        prefix = self.workdir / "nginx"
        for sub in ("logs", "html", *(f"temp/{t}" for t in web.TEMP_DIRS)):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        (prefix / "html" / "index.html").write_text(web.PAGE, encoding="utf-8")
        web.make_ca_chain(prefix / "tls", PBX)
        conf = web._conf(prefix, PBX, (443, 8443, 1300))
        conf = conf.replace(
            "        server_name _;", f"        listen {SERVICES}:4443 ssl;\n        server_name _;"
        )
        (prefix / "nginx.conf").write_text(conf, encoding="utf-8")
        binary = _tool("nginx")
        self._spawn(
            "nginx",
            [binary, "-c", str(prefix / "nginx.conf"), "-p", f"{prefix}/", "-g", "daemon off;"],
        )

    def _slapd(self) -> None:
        d = self.workdir / "slapd"
        (d / "db").mkdir(parents=True, exist_ok=True)
        cert, key = self_signed_pem("ldap.netready.test", SERVICES)
        (d / "cert.pem").write_bytes(cert)
        (d / "key.pem").write_bytes(key)
        (d / "key.pem").chmod(0o600)
        (d / "slapd.conf").write_text(ldap._conf(d, "adminpw-field"), encoding="utf-8")
        (d / "data.ldif").write_text(ldap._ldif("alicepw-field"), encoding="utf-8")
        subprocess.run(
            [_tool("slapadd"), "-f", str(d / "slapd.conf"), "-l", str(d / "data.ldif")],
            check=True,
            capture_output=True,
            timeout=30,
        )
        urls = f"ldaps://{SERVICES}:636/ ldaps://{PBX}:8636/"
        self._spawn("slapd", [_tool("slapd"), "-d", "0", "-f", str(d / "slapd.conf"), "-h", urls])

    def _coturn(self) -> None:
        d = self.workdir / "coturn"
        d.mkdir(parents=True, exist_ok=True)
        argv = [
            _tool("turnserver"), "-n", "--listening-ip", STUN, "--relay-ip", STUN,
            "--listening-port", "3478", "--min-port", "49152", "--max-port", "49300",
            "--lt-cred-mech", "--user", f"{TURN_USER}:{TURN_PASSWORD}", "--realm", TURN_REALM,
            "--fingerprint", "--no-tls", "--no-dtls", "--no-cli", "--log-file", "stdout",
            "--simple-log", "--pidfile", str(d / "turnserver.pid"), "--db", str(d / "turndb"),
        ]  # fmt: skip
        self._spawn("coturn", argv)

    def _kamailio(self) -> None:
        d = self.workdir / "kamailio"
        d.mkdir(parents=True, exist_ok=True)
        tls_listen = tls_modules = ""
        if kam.tls_module_installed():
            cert, key = self_signed_pem("sip.netready.test", SIP)
            (d / "cert.pem").write_bytes(cert)
            (d / "key.pem").write_bytes(key)
            (d / "tls.cfg").write_text(
                kam.TLS_CFG.format(cert=d / "cert.pem", key=d / "key.pem"), encoding="utf-8"
            )
            tls_listen = f"enable_tls=yes\nlisten=tls:{SIP}:5061"
            tls_modules = f'loadmodule "tls.so"\nmodparam("tls", "config", "{d / "tls.cfg"}")'
        cfg = kam.CONFIG.format(
            port=5060, tls_listen=tls_listen, tls_modules=tls_modules, mpath=f"{kam.MODULES}/"
        ).replace("127.0.0.1", SIP)
        (d / "kamailio.cfg").write_text(cfg, encoding="utf-8")
        argv = [_tool("kamailio"), "-f", str(d / "kamailio.cfg"), "-DD", "-E"]
        self._spawn("kamailio", [*argv, "-P", str(d / "kamailio.pid"), "-Y", str(d)])

    def _responder(self) -> None:
        """Exactly the README's operator command (STAMP on its default port 862)."""
        argv = [sys.executable, "-m", "netready", "responder", "--listen", RESPONDER]
        self._spawn("responder", [*argv, "--profile", "stimme"])

    def wait_ready(self) -> None:
        """Until every server answers on its TCP port (inside the platform namespace)."""
        probe = (
            "import socket,sys,time\n"
            f"want={list(TCP_READY)!r}\n"
            f"end=time.monotonic()+{READY_S}\n"
            "while want and time.monotonic()<end:\n"
            "  a,p=want[0]\n"
            "  try: socket.create_connection((a,p),0.3).close(); want.pop(0)\n"
            "  except OSError: time.sleep(0.05)\n"
            "sys.exit(f'not listening: {want}' if want else 0)\n"
        )
        done = self.run_in("plat", [sys.executable, "-c", probe], check=False, timeout=READY_S + 10)
        dead = [name for name, proc in self._procs if proc.poll() is not None]
        if done.returncode or dead:
            logs = "\n".join(f"--- {n}\n{self.log_text(n)}" for n, _ in self._procs)
            raise RuntimeError(f"field lab not ready: {done.stderr.strip()} dead={dead}\n{logs}")

    def block_the_set(self) -> None:
        """The blocked set of the tests and the benchmark (BLOCKED)."""
        self.block_at(STUN, "udp", "3478")  # to the STUN host only: the responder's gets through
        for media in ("20000, 30001-30010", "50040-50049"):
            self.block_at(PBX, "udp", media)  # as the site's rule for the platform lacks them,
            self.block_at(RESPONDER, "udp", media)  # and the responder is allowed like the PBX
        self.block_at(PBX, "tcp", "8636")  # dropped silently
        self.block_at(SERVICES, "tcp", "4443", action="reject")  # refused with a reset

    def site_check(
        self,
        work: Path,
        name: str,
        *,
        responder: bool,
        duration: float = 3.0,
        profile_text: str = SITE_PROFILE,
        only: str = "",
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        """netready check with the site profile (stimme, shorter NAT test), every host remapped,
        TURN credentials from the environment; returns the process and the report folder."""
        profile = work / "site.toml"
        profile.write_text(profile_text, encoding="utf-8")
        args = ["--profile", str(profile), *host_args(), "--duration", str(duration)]
        if responder:
            args += ["--responder", RESPONDER]  # the README: STAMP on its default port
        if only:
            args += ["--only", only]
        env = {
            "NETREADY_TURN_USERNAME": TURN_USER,
            "NETREADY_TURN_PASSWORD": TURN_PASSWORD,
            "XDG_CONFIG_HOME": str(work / "config"),
        }
        out = work / name
        return self.check(*args, out=out, env=env, timeout=900.0), out

    def check(
        self, *args: str, out: Path, env: dict[str, str] | None = None, timeout: float = 300.0
    ) -> subprocess.CompletedProcess[str]:
        """`netready check ARGS --out OUT` in the site namespace."""
        argv = [sys.executable, "-m", "netready", "check", *args, "--out", str(out)]
        full_env = {**os.environ, **(env or {})}
        return self.run_in("site", argv, check=False, timeout=timeout, env=full_env)


def _tool(name: str) -> str:
    for folder in ("/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        path = Path(folder) / name
        if path.is_file():
            return str(path)
    raise FileNotFoundError(name)


@contextlib.contextmanager
def field_lab(workdir: Path) -> Iterator[FieldLab]:
    """A started field lab, torn down afterwards."""
    with FieldLab(workdir) as lab:
        yield lab

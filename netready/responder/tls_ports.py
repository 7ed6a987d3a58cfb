"""The responder's TLS ports: accept in the responder's loop, handshake on a worker thread.

The listening sockets are served from the same selectors loop as the plain TCP ports
(`netready.responder.tcp_ports`); each accepted connection is handed to a short-lived
daemon thread, because a TLS handshake takes several round trips and must not stall
the loop. At most MAX_WORKERS connections are served at once, MAX_WORKERS_PER_SOURCE
of them for one address and MAX_WORKERS_PER_NETWORK for one /24 or /64
(`netready.responder.tcp_echo.WorkerPool`); more are closed at once (counted as
refused). An idle connection whose ClientHello has not begun within FIRST_BYTES_S is
closed, and the whole handshake has HANDSHAKE_TIMEOUT_S (a total deadline, not per
read, so a slowloris trickle cannot stretch it): a silent or hostile client holds a
worker for at most HANDSHAKE_TIMEOUT_S + REQUEST_WINDOW_S.

After the handshake the responder waits REQUEST_WINDOW_S for the client to speak:
an HTTP request (`GET / HTTP/1.1 ...`) gets `HTTP/1.1 200 OK` with the banner as the
body; silence gets the plain TCP banner `NETREADY\\r\\n`; then the connection closes.

The certificate is the one given (`--tls-cert`/`--tls-key`, PEM) or, without one, a
self-signed ECDSA P-256 certificate made at start (CN "netready responder").
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import ipaddress
import os
import selectors
import socket
import ssl
import tempfile
import time
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from netready.model import PortRange
from netready.responder.limits import AllowList
from netready.responder.tcp_echo import WorkerPool
from netready.responder.tcp_ports import BACKLOG, BANNER, TcpListeners
from netready.responder.udp_ports import BURST, ResponderError, bind_socket, iter_ports

SELF_SIGNED_CN = "netready responder"
MAX_WORKERS = 64
# One site is one address behind its NAT, and one `netready check` opens up to 10 TCP/TLS
# connections at once (the scheduler's 4 firewall rules and 6 light checks side by side):
# 8 per address reset a TLS check of an honest run.
MAX_WORKERS_PER_SOURCE = 16
MAX_WORKERS_PER_NETWORK = 32
FIRST_BYTES_S = 1.0
HANDSHAKE_TIMEOUT_S = 3.0
REQUEST_WINDOW_S = 0.3
HTTP_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
    + str(len(BANNER)).encode()
    + b"\r\nConnection: close\r\n\r\n"
    + BANNER
)
_HTTP_METHODS = (b"GET ", b"HEAD ", b"POST ", b"OPTIONS ", b"PUT ")


def self_signed_pem(common_name: str = SELF_SIGNED_CN, address: str = "") -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM): ECDSA P-256, one year, SAN with `address` if it is an IP."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName("netready-responder")]
    with contextlib.suppress(ValueError):
        sans.append(x509.IPAddress(ipaddress.ip_address(address)))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(cert_file: str = "", key_file: str = "", address: str = "") -> ssl.SSLContext:
    """A server context from PEM files, or with a fresh self-signed certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        if cert_file:
            ctx.load_cert_chain(cert_file, key_file or None)
            return ctx
        cert_pem, key_pem = self_signed_pem(address=address)
        with tempfile.TemporaryDirectory(prefix="netready-tls-") as tmp:
            cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            with open(cert_path, "wb") as fh:
                fh.write(cert_pem)
            with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
                fh.write(key_pem)
            ctx.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as exc:
        raise ResponderError(f"cannot load the TLS certificate/key: {exc}") from None
    return ctx


class TlsListeners(TcpListeners):
    """Listening sockets for the TLS ports; accepted connections go to worker threads."""

    def __init__(self, context: ssl.SSLContext | None, allow: AllowList | None = None) -> None:
        super().__init__(allow)
        self.context = context
        self.handshakes = 0
        self.handshake_failures = 0
        self._pool = WorkerPool(
            "netready-tls", MAX_WORKERS, MAX_WORKERS_PER_SOURCE, per_network=MAX_WORKERS_PER_NETWORK
        )
        self.idle_closed = 0  # connections that never began a handshake in time

    def bind(self, family: socket.AddressFamily, host: str, ranges: Iterable[PortRange]) -> None:
        """Bind and listen on every port of `ranges` (needs a context when there are any)."""
        ports = list(iter_ports(ranges))
        if ports and self.context is None:
            raise ResponderError("TLS ports need a TLS context")
        try:
            for port in ports:
                sock = bind_socket(family, socket.SOCK_STREAM, host, port, "TLS")
                self.sockets.append(sock)
                sock.listen(BACKLOG)
        except BaseException:
            self.close()
            raise

    def on_readable(self, listener: socket.socket) -> None:
        """Accept up to BURST connections; each allowed one is served on a worker thread."""
        for _ in range(BURST):
            try:
                conn, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.errors += 1
                return
            source = str(peer[0])
            if not self.allow.permits(source):
                self.refused += 1
                self._reset(conn)
            elif not self._pool.admit(source):
                self.refused += 1
                conn.close()
            else:
                self.accepted += 1
                self._pool.start(source, functools.partial(self._serve, conn))

    def _serve(self, conn: socket.socket) -> None:
        """Handshake, answer an HTTP request or send the banner, close. Never raises."""
        try:
            tls = self._handshake(conn)
            if tls is None:
                return
            with tls:
                self.handshakes += 1
                tls.settimeout(REQUEST_WINDOW_S)
                try:
                    first = tls.recv(4096)
                except TimeoutError:
                    first = b""
                tls.settimeout(HANDSHAKE_TIMEOUT_S)
                tls.sendall(HTTP_OK if first.startswith(_HTTP_METHODS) else BANNER)
        except (OSError, ValueError):
            self.handshake_failures += 1
        finally:
            conn.close()

    def _handshake(self, conn: socket.socket) -> ssl.SSLSocket | None:
        """The server side of the handshake within its deadlines; None if the client stayed
        silent (counted in idle_closed). Raises OSError/SSLError when it fails."""
        assert self.context is not None
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        if not _wait(conn, selectors.EVENT_READ, FIRST_BYTES_S):
            self.idle_closed += 1
            return None
        tls = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        tls.setblocking(False)
        while True:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                event = selectors.EVENT_READ
            except ssl.SSLWantWriteError:
                event = selectors.EVENT_WRITE
            else:
                tls.setblocking(True)
                return tls
            if not _wait(tls, event, deadline - time.monotonic()):
                tls.close()
                raise TimeoutError("TLS handshake deadline")


def _wait(sock: socket.socket, event: int, timeout_s: float) -> bool:
    """True when `sock` is ready for `event` within `timeout_s`."""
    if timeout_s <= 0:
        return False
    with selectors.DefaultSelector() as selector:
        selector.register(sock, event)
        return bool(selector.select(timeout_s))

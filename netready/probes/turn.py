"""TURN probe with aioice's TURN client: Allocate, CreatePermission, a short relayed exchange.

Two allocations are made on the platform's TURN server: the one under test (over UDP, TCP
or TLS) and a peer allocation (over UDP; over TLS when TLS is tested, since a site that
needs TURN over TLS often blocks UDP). Each gets a permission for the other's relayed
address (CreatePermission), then a few Send indications go from the tested allocation
through both relays to the peer, which sends each one back the same way. Only the TURN
port of the server is used from the site, as a phone relaying media would.

TURN over TLS (RFC 8656 §3.1, usually port 5349 or 443): the handshake does not verify the
certificate, as in the `tls` probe's first handshake, so whatever the path presents is seen;
its leaf (subject, issuer, SHA-256), version and cipher are recorded, and `check_cert` may
refuse it before the Allocate, so no credentials go to a TLS-inspecting box.

The password is handed to aioice and used nowhere else: it never appears in a result.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aioice import stun, turn

from netready.probes.tls import CertInfo, cert_info

Endpoint = tuple[str, int]
#: Returns why a certificate is refused ("" = go on); see `probe_turn`.
CertCheck = Callable[[CertInfo | None], str]


class _Inbox:
    """Data indications received by one allocation (aioice delivers only channel data)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Endpoint]] = asyncio.Queue()

    def handle(self, data: bytes) -> bool:
        """True when `data` was a Data indication (queued), False to let aioice handle it."""
        try:
            msg = stun.parse_message(data)
        except Exception:  # not STUN (channel data) or garbage: aioice decides
            return False
        if msg.message_method != stun.Method.DATA or msg.message_class != stun.Class.INDICATION:
            return False
        peer, payload = msg.attributes.get("XOR-PEER-ADDRESS"), msg.attributes.get("DATA")
        if isinstance(peer, tuple) and isinstance(payload, bytes):
            self.queue.put_nowait((payload, (str(peer[0]), int(peer[1]))))
        return True


class _Udp(turn.TurnClientUdpProtocol):
    inbox: _Inbox

    def datagram_received(self, data: Any, addr: Any) -> None:
        if not self.inbox.handle(bytes(data)):
            super().datagram_received(data, addr)


class _Tcp(turn.TurnClientTcpProtocol):
    inbox: _Inbox

    def datagram_received(self, data: Any, addr: Any) -> None:
        if not self.inbox.handle(bytes(data)):
            super().datagram_received(data, addr)


@dataclass
class TurnProbeResult:
    """What the TURN exchange showed; `error` is in words, never containing credentials."""

    transport: str
    stage: str = "connect"  # where it stopped: connect, tls, allocate, permission, relay, done
    error: str = ""
    auth_rejected: bool = False
    tls_failed: bool = False  # TCP connected, the TLS handshake did not complete
    cert_refused: bool = False  # `check_cert` refused the certificate (stage "tls")
    tls_version: str = ""
    tls_cipher: str = ""
    certificate: CertInfo | None = None  # the leaf the TURN server (or the path) presented
    allocate_ms: float | None = None
    relayed: Endpoint | None = None
    mapped: Endpoint | None = None
    peer_relayed: Endpoint | None = None
    rtts_ms: list[float] = field(default_factory=list)
    sent: int = 0


def _client_context() -> ssl.SSLContext:
    """TLS without verification: the certificate is recorded and judged, not trusted."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _open(
    server: Endpoint, user: str, password: str, transport: str, server_name: str | None = None
) -> Any:
    loop = asyncio.get_running_loop()
    proto: _Udp | _Tcp
    if transport in ("tcp", "tls"):
        tls = transport == "tls"
        _stream, proto = await loop.create_connection(
            lambda: _Tcp(server, user, password, 600, 500),
            host=server[0],
            port=server[1],
            ssl=_client_context() if tls else None,
            server_hostname=server_name if tls else None,
        )
    else:
        _dgram, proto = await loop.create_datagram_endpoint(
            lambda: _Udp(server, user, password, 600, 500), remote_addr=server
        )
    proto.inbox = _Inbox()
    return proto


async def _permit(proto: Any, peer: Endpoint) -> None:
    request = stun.Message(stun.Method.CREATE_PERMISSION, stun.Class.REQUEST)
    request.attributes["XOR-PEER-ADDRESS"] = peer
    await proto.request_with_retry(request)


def _send(proto: Any, server: Endpoint, peer: Endpoint, payload: bytes) -> None:
    message = stun.Message(stun.Method.SEND, stun.Class.INDICATION)
    message.attributes["XOR-PEER-ADDRESS"] = peer
    message.attributes["DATA"] = payload
    proto.send_stun(message, server)


def _tls_details(proto: Any, r: TurnProbeResult) -> None:
    """Version, cipher and leaf certificate of the TLS connection `proto` runs on."""
    tls = proto.transport.get_extra_info("ssl_object")
    if not isinstance(tls, ssl.SSLObject | ssl.SSLSocket):
        return
    r.tls_version = tls.version() or ""
    cipher = tls.cipher()
    r.tls_cipher = cipher[0] if cipher else ""
    der = tls.getpeercert(binary_form=True)
    r.certificate = cert_info(der) if der else None


def _why(exc: BaseException) -> tuple[str, bool]:
    """(error in words, authentication rejected?)."""
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}", False
    if isinstance(exc, stun.TransactionFailed):
        code = exc.response.error_code
        reason = exc.response.attributes.get("ERROR-CODE", (code, ""))[1]
        return f"TURN error {code} {reason}".strip(), code in (401, 431)
    if isinstance(exc, stun.TransactionTimeout):
        return "no answer from the TURN server", False
    if isinstance(exc, TimeoutError):
        return "timed out", False
    return f"{type(exc).__name__}: {exc}", False


async def _exchange(
    a: Any, b: Any, server: Endpoint, r: TurnProbeResult, count: int, timeout_s: float
) -> None:
    assert r.relayed is not None and r.peer_relayed is not None
    for _ in range(count):
        payload = os.urandom(16)
        began = time.perf_counter()
        _send(a, server, r.peer_relayed, payload)
        r.sent += 1
        try:
            got, from_peer = await asyncio.wait_for(b.inbox.queue.get(), timeout_s)
            _send(b, server, from_peer, got)
            back, _ = await asyncio.wait_for(a.inbox.queue.get(), timeout_s)
        except TimeoutError:
            continue
        if back == payload:
            r.rtts_ms.append((time.perf_counter() - began) * 1000.0)


async def probe_turn(
    server: Endpoint,
    user: str,
    password: str,
    transport: str = "udp",
    count: int = 5,
    timeout_s: float = 2.0,
    server_name: str | None = None,
    check_cert: CertCheck | None = None,
) -> TurnProbeResult:
    """Allocate over `transport` ("udp", "tcp", "tls"), relay `count` packets to a peer
    allocation and back.

    TLS only: `server_name` is sent as SNI; `check_cert` gets the presented leaf and
    returns why it is refused ("" = go on); a refusal stops before the Allocate.
    """
    r = TurnProbeResult(transport)
    opened: list[Any] = []
    peer_transport = "tls" if transport == "tls" else "udp"
    try:
        a = await asyncio.wait_for(_open(server, user, password, transport, server_name), timeout_s)
        opened.append(a)
        if transport == "tls":
            r.stage = "tls"
            _tls_details(a, r)
            refused = check_cert(r.certificate) if check_cert else ""
            if refused:
                r.error, r.cert_refused = refused, True
                return r
        r.stage = "allocate"
        began = time.perf_counter()
        r.relayed = await asyncio.wait_for(a.connect(), timeout_s * 4)
        r.allocate_ms = (time.perf_counter() - began) * 1000.0
        r.mapped = a.mapped_address
        b = await asyncio.wait_for(
            _open(server, user, password, peer_transport, server_name), timeout_s
        )
        opened.append(b)
        r.peer_relayed = await asyncio.wait_for(b.connect(), timeout_s * 4)
        r.stage = "permission"
        assert r.relayed is not None and r.peer_relayed is not None
        await asyncio.wait_for(_permit(a, r.peer_relayed), timeout_s * 4)
        await asyncio.wait_for(_permit(b, r.relayed), timeout_s * 4)
        r.stage = "relay"
        await _exchange(a, b, server, r, count, timeout_s)
        r.stage = "done"
    except (Exception, TimeoutError) as exc:
        r.error, r.auth_rejected = _why(exc)
        r.tls_failed = r.stage == "connect" and isinstance(exc, ssl.SSLError)
    finally:
        for proto in opened:
            if proto.relayed_address is None:  # nothing to delete: say nothing more to it
                proto.transport.close()
                continue
            try:
                await asyncio.wait_for(proto.delete(), timeout_s)
            except (Exception, TimeoutError):
                proto.transport.close()
    return r

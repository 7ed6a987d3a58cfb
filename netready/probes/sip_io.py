"""One SIP transaction over UDP, TCP or TLS: send a request, wait for its final response.

UDP retransmits like RFC 3261 Timer E (500 ms, doubling, up to 4 s) until `timeout_s`;
TCP and TLS send once, and connect and read within the same `timeout_s` in all. An
answer may announce at most MAX_BODY bytes of body (a hostile server announced 10**12
and trickled), and at most MAX_MESSAGES answers to other transactions are read.
Provisional (1xx) responses and responses to other transactions are skipped. The
round trip is timed from the last send to the final response. TLS does not verify the
certificate: this is a reachability probe, the `tls` checks judge certificates.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from netready.probes.errors import error_words
from netready.probes.sip import Probe, SipMessage, content_length, parse_message, split_head

T1_S = 0.5
T2_S = 4.0
MAX_RESPONSE = 65535
MAX_BODY = 64 * 1024  # a SIP answer's body; OPTIONS answers carry a few hundred bytes
MAX_MESSAGES = 32  # answers read on one connection before giving up on ours

#: Builds the request once the local address is known: (local_ip, local_port) -> Probe.
Builder = Callable[[str, int], Probe]


@dataclass
class SipExchange:
    """What one transaction produced."""

    transport: str
    local: tuple[str, int] = ("", 0)
    probe: Probe | None = None
    response: SipMessage | None = None
    rtt_ms: float | None = None
    sends: int = 0
    connected: bool = False  # TCP/TLS: the connection (and handshake) came up
    error: str = ""
    tls_version: str = ""


def _matches(msg: SipMessage, probe: Probe) -> bool:
    return msg.is_response and msg.status >= 200 and msg.header("call-id") == probe.call_id


def _words(exc: BaseException) -> str:
    """`error_words`, saying which step failed when it was the TLS handshake."""
    words = error_words(exc)
    return f"TLS handshake failed: {words}" if isinstance(exc, ssl.SSLError) else words


async def exchange(
    host: str, port: int, transport: str, build: Builder, timeout_s: float
) -> SipExchange:
    """Run one transaction; never raises for network trouble (see `SipExchange.error`)."""
    if transport == "udp":
        return await asyncio.to_thread(_udp, host, port, build, timeout_s)
    return await _stream(host, port, transport, build, timeout_s)


def _udp(host: str, port: int, build: Builder, timeout_s: float) -> SipExchange:
    ex = SipExchange("udp")
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except OSError as exc:
        ex.error = f"cannot resolve {host}: {exc}"
        return ex
    with socket.socket(info[0], socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(info[4])
        except OSError as exc:
            ex.error = _words(exc)
            return ex
        local = sock.getsockname()
        ex.local = (str(local[0]), int(local[1]))
        probe = ex.probe = build(*ex.local)
        deadline = time.monotonic() + timeout_s
        interval = T1_S
        while (now := time.monotonic()) < deadline:
            sent_at = now
            try:
                sock.send(probe.data)
            except OSError as exc:
                ex.error = _words(exc)  # e.g. ICMP port unreachable from an earlier send
                return ex
            ex.sends += 1
            wait_until = min(deadline, now + interval)
            interval = min(interval * 2, T2_S)
            while (left := wait_until - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    data = sock.recv(MAX_RESPONSE)
                except TimeoutError:
                    break
                except OSError as exc:
                    ex.error = _words(exc)
                    return ex
                with contextlib.suppress(ValueError):
                    msg = parse_message(data)
                    if _matches(msg, probe):
                        ex.response = msg
                        ex.rtt_ms = (time.monotonic() - sent_at) * 1000.0
                        return ex
        ex.error = f"no SIP answer within {timeout_s:g} s ({ex.sends} sends)"
    return ex


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One message: its head (at most MAX_RESPONSE bytes) and a body of at most MAX_BODY."""
    data = b""
    while True:
        parts = split_head(data)
        if parts is not None:
            head, first = parts
            length = content_length(head) or 0
            if length > MAX_BODY:
                raise ValueError(
                    f"the SIP answer announces a {length}-byte body (at most {MAX_BODY} read)"
                )
            rest = bytearray(first)
            while len(rest) < length:
                chunk = await reader.read(length - len(rest))
                if not chunk:
                    break
                rest += chunk
            return head + b"\r\n\r\n" + bytes(rest[:length])
        if len(data) > MAX_RESPONSE:
            raise ValueError("SIP answer head too large")
        chunk = await reader.read(4096)
        if not chunk:
            raise ConnectionError("connection closed without a SIP answer")
        data += chunk


async def _stream(
    host: str, port: int, transport: str, build: Builder, timeout_s: float
) -> SipExchange:
    ex = SipExchange(transport)
    ctx: ssl.SSLContext | None = None
    if transport == "tls":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            ex.connected = True
            local = writer.get_extra_info("sockname")
            ex.local = (str(local[0]), int(local[1]))
            tls = writer.get_extra_info("ssl_object")
            ex.tls_version = tls.version() if tls else ""
            probe = ex.probe = build(*ex.local)
            sent_at = time.monotonic()
            writer.write(probe.data)
            await writer.drain()
            ex.sends = 1
            for _ in range(MAX_MESSAGES):
                msg = parse_message(await _read_message(reader))
                if _matches(msg, probe):
                    ex.response = msg
                    ex.rtt_ms = (time.monotonic() - sent_at) * 1000.0
                    return ex
            raise ValueError(f"{MAX_MESSAGES} SIP answers, none to our request")
    except (OSError, ValueError, TimeoutError, ssl.SSLError) as exc:
        ex.error = _words(exc)
        if ex.connected and isinstance(exc, TimeoutError):
            ex.error = f"connected, but no SIP answer within {timeout_s:g} s"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
    return ex

"""STUN Binding transactions over UDP and TCP with aioice's codec, for one-off tests.

`UdpStunClient` keeps one unconnected UDP socket, so answers sent from the server's other
address (RFC 5780 CHANGE-REQUEST) still arrive; requests are retransmitted after a short
timeout. `tcp_binding` opens one TCP connection and asks once (STUN over TCP is framed by
the length field of the header). Nothing here raises on what the network sends back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass
from typing import Any

from aioice import stun

from netready.probes.nat import Endpoint

CHANGE_IP = 0x04
CHANGE_PORT = 0x02


@dataclass(frozen=True)
class StunAnswer:
    """A Binding success response: what it says and where it came from."""

    mapped: Endpoint | None  # XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS)
    other: Endpoint | None  # OTHER-ADDRESS (RFC 5780): the server's alternate address
    origin: Endpoint | None  # RESPONSE-ORIGIN
    changed: Endpoint | None  # CHANGED-ADDRESS (RFC 3489)
    source: Endpoint  # where the datagram came from
    rtt_ms: float  # from the last (re)transmission to the answer
    software: str = ""


def _endpoint(value: Any) -> Endpoint | None:
    if isinstance(value, tuple) and len(value) == 2:
        return str(value[0]), int(value[1])
    return None


def answer_from(msg: stun.Message, source: Endpoint, rtt_ms: float) -> StunAnswer:
    """The interesting attributes of a parsed Binding response."""
    attrs = msg.attributes
    soft = attrs.get("SOFTWARE", "")
    return StunAnswer(
        mapped=_endpoint(attrs.get("XOR-MAPPED-ADDRESS")) or _endpoint(attrs.get("MAPPED-ADDRESS")),
        other=_endpoint(attrs.get("OTHER-ADDRESS")),
        origin=_endpoint(attrs.get("RESPONSE-ORIGIN")),
        changed=_endpoint(attrs.get("CHANGED-ADDRESS")),
        source=source,
        rtt_ms=rtt_ms,
        software=soft if isinstance(soft, str) else "",
    )


def local_address_towards(host: str, port: int) -> str:
    """The local IP the kernel would use to reach host:port (no packet is sent)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((host, port))
        return str(s.getsockname()[0])


class _Proto(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiters: dict[bytes, asyncio.Future[tuple[stun.Message, Endpoint]]] = {}

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            msg = stun.parse_message(data)
        except Exception:  # untrusted input: anything unparsable is ignored
            return
        fut = self.waiters.pop(msg.transaction_id, None)
        if fut is not None and not fut.done() and msg.message_class == stun.Class.RESPONSE:
            fut.set_result((msg, (str(addr[0]), int(addr[1]))))

    def error_received(self, exc: Exception) -> None:
        """ICMP errors: the retransmissions simply go unanswered."""


class UdpStunClient:
    """One UDP socket for several Binding transactions (same local port: same mapping)."""

    def __init__(self, transport: asyncio.DatagramTransport, proto: _Proto, family: int) -> None:
        self._transport = transport
        self._proto = proto
        self.family = family

    @classmethod
    async def open(cls, family: int = socket.AF_INET, local_port: int = 0) -> UdpStunClient:
        """Bind a UDP socket on the wildcard address of `family`."""
        loop = asyncio.get_running_loop()
        host = "::" if family == socket.AF_INET6 else "0.0.0.0"
        transport, proto = await loop.create_datagram_endpoint(
            _Proto, local_addr=(host, local_port), family=family
        )
        return cls(transport, proto, family)

    @property
    def local_port(self) -> int:
        """The bound local port."""
        return int(self._transport.get_extra_info("sockname")[1])

    async def binding(
        self, server: Endpoint, change: int = 0, timeout_s: float = 0.5, attempts: int = 3
    ) -> StunAnswer | None:
        """One Binding transaction (with CHANGE-REQUEST flags if given); None if unanswered."""
        loop = asyncio.get_running_loop()
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        if change:
            request.attributes["CHANGE-REQUEST"] = change
        data = bytes(request)
        fut: asyncio.Future[tuple[stun.Message, Endpoint]] = loop.create_future()
        self._proto.waiters[request.transaction_id] = fut
        try:
            for _ in range(max(1, attempts)):
                sent = time.perf_counter()
                self._transport.sendto(data, server)
                try:
                    msg, source = await asyncio.wait_for(asyncio.shield(fut), timeout_s)
                except TimeoutError:
                    continue
                return answer_from(msg, source, (time.perf_counter() - sent) * 1000.0)
            return None
        finally:
            self._proto.waiters.pop(request.transaction_id, None)

    def close(self) -> None:
        """Close the socket."""
        self._transport.close()


@dataclass(frozen=True)
class TcpStunResult:
    """One STUN Binding over TCP: connect time, the answer, our side of the connection."""

    connected: bool
    connect_ms: float | None = None
    answer: StunAnswer | None = None
    local: Endpoint | None = None
    error: str = ""


async def tcp_binding(host: str, port: int, timeout_s: float = 3.0) -> TcpStunResult:
    """Connect, send one Binding request, read one framed answer, close."""
    began = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError) as exc:
        return TcpStunResult(False, error=f"TCP connect failed: {exc or type(exc).__name__}")
    connect_ms = (time.perf_counter() - began) * 1000.0
    sockname = writer.get_extra_info("sockname")
    local = (str(sockname[0]), int(sockname[1]))
    try:
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        sent = time.perf_counter()
        writer.write(bytes(request))
        await writer.drain()
        header = await asyncio.wait_for(reader.readexactly(20), timeout_s)
        length = int.from_bytes(header[2:4], "big")
        body = await asyncio.wait_for(reader.readexactly(length), timeout_s)
        rtt_ms = (time.perf_counter() - sent) * 1000.0
        msg = stun.parse_message(header + body)
        if msg.transaction_id != request.transaction_id or msg.message_class != stun.Class.RESPONSE:
            return TcpStunResult(True, connect_ms, None, local, "no Binding success answer")
        peer = writer.get_extra_info("peername")
        answer = answer_from(msg, (str(peer[0]), int(peer[1])), rtt_ms)
        return TcpStunResult(True, connect_ms, answer, local)
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
        return TcpStunResult(True, connect_ms, None, local, f"no STUN answer: {exc!r}")
    except Exception as exc:  # a third-party parser on untrusted input
        return TcpStunResult(True, connect_ms, None, local, f"malformed STUN answer: {exc}")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

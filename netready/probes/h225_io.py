"""One H.225 exchange over TCP: send a SETUP to the responder's H.323 echo, read its answer.

The SETUP is built once the connection is up, from the local address the socket got
(an endpoint writes its own address into the message, which is what an ALG rewrites)
and the peer's address. The whole TPKT frame is sent with one write, so it leaves in one
TCP segment (ALGs, the Linux one included, parse a message only when it is whole in one
segment). The answer is one TPKT frame of at most MAX_REPLY bytes; the plain responder
banner instead means the port has no H.323 echo. Never raises for network trouble.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from netready.probes.errors import error_words
from netready.probes.h225 import SetupProbe
from netready.probes.q931 import TPKT_HEADER, split_tpkt

MAX_REPLY = 16384
BANNER_PREFIX = b"NETR"  # the responder's plain TCP banner, "NETREADY\r\n"

#: Builds the SETUP once the addresses are known: (local (ip, port), peer (ip, port)).
Builder = Callable[[tuple[str, int], tuple[str, int]], SetupProbe]


@dataclass
class H225Exchange:
    """What one exchange produced."""

    local: tuple[str, int] = ("", 0)
    peer: tuple[str, int] = ("", 0)
    probe: SetupProbe | None = None
    reply: bytes = b""  # the answer's TPKT frame, b"" if none
    rtt_ms: float | None = None
    connected: bool = False
    error: str = ""


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(TPKT_HEADER)
    if head == BANNER_PREFIX:
        raise ValueError("the port answered with the plain responder banner: no H.323 echo there")
    split_tpkt(head)  # ValueError unless it starts a TPKT frame
    length = int.from_bytes(head[2:4], "big")
    if not TPKT_HEADER < length <= MAX_REPLY:
        raise ValueError(f"answer of {length} bytes is outside 5-{MAX_REPLY}")
    return head + await reader.readexactly(length - TPKT_HEADER)


async def exchange(host: str, port: int, build: Builder, timeout_s: float) -> H225Exchange:
    """Connect, send the SETUP `build` makes, read one TPKT answer within `timeout_s`."""
    ex = H225Exchange()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            ex.connected = True
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            local, peer = writer.get_extra_info("sockname"), writer.get_extra_info("peername")
            ex.local, ex.peer = (str(local[0]), int(local[1])), (str(peer[0]), int(peer[1]))
            probe = ex.probe = build(ex.local, ex.peer)
            sent_at = time.monotonic()
            writer.write(probe.data)
            await writer.drain()
            ex.reply = await _read_frame(reader)
            ex.rtt_ms = (time.monotonic() - sent_at) * 1000.0
    except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
        ex.error = error_words(exc)
        if ex.connected and isinstance(exc, TimeoutError):
            ex.error = f"connected, but no answer within {timeout_s:g} s"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
    return ex

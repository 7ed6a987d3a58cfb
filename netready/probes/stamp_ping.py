"""Is `netready responder` alive at an address? A few unauthenticated STAMP test packets.

Used by the firewall check before it sweeps a range at a responder that stands in for a
platform host: a responder that answers nothing is `not_tested`, never a blocked range.
A responder in HMAC mode ignores unauthenticated packets, so silence here is not proof of
absence; the caller also counts any port echo as a sign of life.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from netready.probes.stamp import ErrorEstimate, SenderPacket, pack_sender, unpack_reflector
from netready.probes.tcp import resolve

#: Padding to the size of a voice packet, so the reply is never larger than the request.
PAYLOAD_BYTES = 172


async def stamp_ping(
    address: str, port: int, *, timeout_s: float = 0.5, attempts: int = 3
) -> float | None:
    """Round trip in ms of the first STAMP test packet answered, None if none was."""
    try:
        family, host = await resolve(address, socket.SOCK_DGRAM)
    except OSError:
        return None  # a name that does not resolve: nobody to ask
    loop = asyncio.get_running_loop()
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (host, port))
        for seq in range(max(1, attempts)):
            packet = SenderPacket(seq, time.time_ns(), ErrorEstimate())
            data = pack_sender(packet)
            sent = time.perf_counter()
            try:
                await loop.sock_sendall(sock, data + bytes(max(0, PAYLOAD_BYTES - len(data))))
            except OSError:
                return None  # no route, or ICMP port unreachable from an earlier packet
            deadline = sent + timeout_s
            while (left := deadline - time.perf_counter()) > 0:
                try:
                    reply = await asyncio.wait_for(loop.sock_recv(sock, 2048), left)
                except (TimeoutError, OSError):
                    break
                with contextlib.suppress(ValueError):
                    if unpack_reflector(reply).sender_seq == seq:
                        return (time.perf_counter() - sent) * 1000.0
        return None
    except OSError:
        return None
    finally:
        sock.close()

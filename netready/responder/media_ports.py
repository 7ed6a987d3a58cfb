"""The responder's media ports: one UDP socket per port, echoing probes and reflecting STAMP.

Every port of the configured UDP ranges (e.g. the 16,586 ports of a platform's RTP
and other media ranges) gets its own non-blocking socket. What arrives is told apart
by length and magic:

* a 22-byte datagram starting with `NRP1` is a netready port probe
  (`netready.probes.udp_probe`) and is echoed (as `NRE1`, so an echo is never
  answered) from the socket it arrived on, unless `UdpGuard` refuses its source (one
  of our own sockets, a privileged port) or its rate (per source, in all, the global
  reply budget). The port field inside is not compared with the socket's port: the
  client checks it, and a provider may forward ports through a NAT that renumbers them;
* anything else goes to the STAMP reflector (`netready.responder.stamp_io`), with
  its kernel receive timestamp, TTL and TOS, so a voice-like stream can be sent to
  a port inside the platform's RTP range. STAMP packets are 44 bytes or more, so
  they never look like a probe; junk is dropped and counted there.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

from netready.model import PortRange
from netready.probes.sockopts import AncillaryData, enable_rx_metadata
from netready.probes.udp_probe import ECHO_MAGIC, MAGIC, PROBE_LEN
from netready.responder.stamp_io import Address, StampService
from netready.responder.udp_guard import DropCounter, UdpGuard
from netready.responder.udp_ports import (
    ANC_SIZE,
    BURST,
    bind_socket,
    enable_pktinfo,
    is_wildcard,
    iter_ports,
    reply_pktinfo,
)


class MediaPorts:
    """The UDP media ports: binds one socket per port, echoes probes, reflects STAMP."""

    def __init__(self, service: StampService, guard: UdpGuard) -> None:
        self.sockets: list[socket.socket] = []
        self.service = service
        self.guard = guard
        self.pktinfo = False
        self.echoed = 0
        self.drops = DropCounter()  # probes not echoed, by reason

    @property
    def dropped(self) -> int:
        """Probes not echoed (allow-list, source filter, rates, send errors)."""
        return self.drops.total

    def bind(self, family: socket.AddressFamily, host: str, ranges: Iterable[PortRange]) -> None:
        """Bind every port of `ranges`; on failure close what was bound and raise BindError."""
        self.pktinfo = is_wildcard(host)
        try:
            for port in iter_ports(ranges):
                sock = bind_socket(family, socket.SOCK_DGRAM, host, port)
                self.sockets.append(sock)
                self.guard.add_socket(sock)
                enable_rx_metadata(sock)
                if self.pktinfo:
                    enable_pktinfo(sock)
        except BaseException:
            self.close()
            raise

    def on_readable(self, sock: socket.socket) -> None:
        """Handle up to BURST datagrams waiting on `sock`; never raises for bad input."""
        service = self.service
        buf = service.buf
        for _ in range(BURST):
            try:
                size, anc, flags, addr = sock.recvmsg_into([buf], ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.drops.count("socket-error")
                continue
            if size == PROBE_LEN and buf[:4] == MAGIC:
                self._echo(sock, size, anc, addr)
            elif size == PROBE_LEN and buf[:4] == ECHO_MAGIC:
                self.drops.count("echo-not-answered")  # another echo port's (forged) echo
            else:
                service.handle(sock, size, anc, flags, addr, self.pktinfo)

    def _echo(self, sock: socket.socket, size: int, anc: AncillaryData, addr: Address) -> None:
        service, guard = self.service, self.guard
        host, port = str(addr[0]), int(addr[1])
        if not service.allow.permits(host):
            self.drops.count("not-allowed")
            return
        now_ns = time.monotonic_ns()
        why = (
            guard.refuse_source(host, port, anc)
            or guard.admit_probe(host, now_ns)
            or guard.admit_reply(size, now_ns)
        )
        if why is not None:
            self.drops.count(why)
            return
        service.set_tos(sock, 0)
        src = reply_pktinfo(anc) if self.pktinfo else []
        try:
            sock.sendmsg([ECHO_MAGIC, service.view[len(ECHO_MAGIC) : size]], src, 0, addr)
        except OSError:
            self.drops.count("send-error")
        else:
            self.echoed += 1

    def close(self) -> None:
        """Close every socket."""
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()

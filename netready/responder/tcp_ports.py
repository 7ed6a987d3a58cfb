"""The responder's TCP ports: listen, accept, send a short banner, close.

The client needs a clean three-way handshake; the banner `NETREADY\\r\\n` lets
it also tell our responder from a middlebox that completes handshakes on its
own (a transparent proxy makes every port look open). After the banner the
connection is closed at once (FIN). A client that sent data first may see a
reset instead, which is why netready's own TCP probe never sends anything.

A source outside the responder's allow-list gets a reset instead of the banner.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterable

from netready.model import PortRange
from netready.responder.limits import AllowList
from netready.responder.udp_ports import BURST, bind_socket, iter_ports

BANNER = b"NETREADY\r\n"
BACKLOG = 128
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


class TcpListeners:
    """Listening sockets for the configured TCP ports, served from the responder's loop."""

    def __init__(self, allow: AllowList | None = None) -> None:
        self.sockets: list[socket.socket] = []
        self.allow = allow or AllowList(())
        self.accepted = 0
        self.refused = 0
        self.errors = 0
        self._spare_fd: int | None = None

    def bind(self, family: socket.AddressFamily, host: str, ranges: Iterable[PortRange]) -> None:
        """Bind and listen on every port of `ranges`; on failure close all and raise BindError."""
        try:
            for port in iter_ports(ranges):
                sock = bind_socket(family, socket.SOCK_STREAM, host, port)
                self.sockets.append(sock)
                sock.listen(BACKLOG)
        except BaseException:
            self.close()
            raise
        if self.sockets:
            # Kept in reserve: if the process runs out of descriptors, closing this one
            # lets us accept and drop the connection instead of spinning on it.
            self._spare_fd = os.open(os.devnull, os.O_RDONLY)

    def on_readable(self, listener: socket.socket) -> None:
        """Accept up to BURST pending connections on `listener`, greet and close each."""
        for _ in range(BURST):
            try:
                conn, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.errors += 1
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    self._shed(listener)
                    return
                continue
            if self.allow.permits(str(peer[0])):
                self.accepted += 1
                self._greet(conn)
            else:
                self.refused += 1
                self._reset(conn)

    def _reset(self, conn: socket.socket) -> None:
        """Close with a reset and no banner (a source outside the allow-list)."""
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        except OSError:
            self.errors += 1
        finally:
            conn.close()

    def _greet(self, conn: socket.socket) -> None:
        """Send the banner (it always fits the empty send buffer) and close."""
        try:
            conn.setblocking(False)
            conn.send(BANNER)
        except OSError:
            self.errors += 1
        finally:
            conn.close()

    def _shed(self, listener: socket.socket) -> None:
        """Out of descriptors: use the spare one to accept and drop a connection."""
        if self._spare_fd is None:
            return
        os.close(self._spare_fd)
        self._spare_fd = None
        try:
            conn, _peer = listener.accept()
            conn.close()
        except OSError:
            pass
        finally:
            try:
                self._spare_fd = os.open(os.devnull, os.O_RDONLY)
            except OSError:
                self._spare_fd = None

    def close(self) -> None:
        """Close every listening socket."""
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()
        if self._spare_fd is not None:
            os.close(self._spare_fd)
            self._spare_fd = None

"""`netready responder`: the far end, one selectors (epoll) loop on one background thread.

It serves three kinds of sockets from that loop:

* the STAMP port: each datagram is read with its kernel receive timestamp,
  TTL and TOS, handed to a reflector (`StampReflector` by default) and the
  reply, if any, is sent back with the TOS the reflector asks for;
* one UDP socket per port of the media ranges, echoing netready probes
  (`netready.responder.udp_ports`, which also holds the STAMP port);
* TCP listeners that greet and close (`netready.responder.tcp_ports`).

No datagram, however malformed, stops the loop: failures are counted as drops.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import resource
import selectors
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType

from netready.model import PortRange
from netready.responder.tcp_ports import TcpListeners
from netready.responder.udp_ports import (
    BindError,
    ResponderError,
    StampPort,
    StampReflectorLike,
    UdpEchoPorts,
    address_family,
    bind_socket,
)

__all__ = [
    "BindError",
    "Responder",
    "ResponderConfig",
    "ResponderError",
    "ResponderStats",
    "parse_port_list",
]

#: Descriptors kept free beyond the sockets we bind (accepted TCP connections,
#: files the process opens later, the interpreter's own).
FD_HEADROOM = 256

Handler = Callable[[socket.socket], None]


@dataclass(frozen=True)
class ResponderConfig:
    """What the responder binds. Port 0 for the STAMP port picks a free one."""

    listen: str = "127.0.0.1"
    stamp_port: int = 862
    udp_ports: tuple[PortRange, ...] = ()
    tcp_ports: tuple[PortRange, ...] = ()
    clock_synchronised: bool | None = None  # None = ask the host clock


@dataclass(frozen=True)
class ResponderStats:
    """Counters since start (a snapshot)."""

    stamp_reflected: int
    stamp_dropped: int
    stamp_sessions: int
    udp_echoed: int
    udp_dropped: int
    tcp_accepted: int
    tcp_errors: int
    internal_errors: int

    def summary(self) -> str:
        """The one line printed when the responder stops."""
        return (
            f"netready responder stopped: STAMP {self.stamp_reflected} reflected, "
            f"{self.stamp_dropped} dropped, {self.stamp_sessions} sessions; "
            f"UDP probes {self.udp_echoed} echoed, {self.udp_dropped} dropped; "
            f"TCP {self.tcp_accepted} connections accepted, {self.tcp_errors} errors; "
            f"{self.internal_errors} internal errors"
        )


def _stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def parse_port_list(text: str) -> tuple[PortRange, ...]:
    """Parse "16384-32767,50000-50100,60000" into sorted, merged PortRanges (1-65535)."""
    ranges: list[PortRange] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            if text.strip():
                raise ValueError(f"empty entry in port list {text!r}")
            continue
        first_s, sep, last_s = item.partition("-")
        try:
            first = int(first_s.strip())
            last = int(last_s.strip()) if sep else first
        except ValueError:
            raise ValueError(f"{item!r} is not a port or a range like 16384-32767") from None
        for port in (first, last):
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} in {item!r} is outside 1-65535")
        if first > last:
            raise ValueError(f"range {item!r} runs backwards (first port above last)")
        ranges.append(PortRange(first, last))
    return merge_ranges(ranges)


def merge_ranges(ranges: Iterable[PortRange]) -> tuple[PortRange, ...]:
    """Sorted ranges with overlapping and adjacent ones joined (a port appears once)."""
    merged: list[PortRange] = []
    for r in sorted(ranges, key=lambda r: r.first):
        if merged and r.first <= merged[-1].last + 1:
            merged[-1] = PortRange(merged[-1].first, max(merged[-1].last, r.last))
        else:
            merged.append(r)
    return tuple(merged)


def ensure_fd_limit(sockets: int) -> None:
    """Raise the soft RLIMIT_NOFILE (never the hard one) so `sockets` more fds fit."""
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    needed = sockets + in_use + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or needed <= soft:
        return
    if hard != resource.RLIM_INFINITY and needed > hard:
        raise ResponderError(
            f"the responder needs about {needed} file descriptors ({sockets} sockets, "
            f"{in_use} already open, {FD_HEADROOM} spare) but this process may have at most "
            f"{hard} (hard RLIMIT_NOFILE); configure fewer ports or raise `ulimit -Hn`"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _default_reflector(config: ResponderConfig) -> StampReflectorLike:
    """The real STAMP reflector, imported only when needed (it pulls in the STAMP codec)."""
    try:
        module = importlib.import_module("netready.responder.stamp_reflector")
    except ImportError as exc:
        raise ResponderError(f"the STAMP reflector is not available: {exc}") from exc
    synchronised = config.clock_synchronised
    if synchronised is None:
        synchronised = bool(module.clock_is_synchronised())
    reflector: StampReflectorLike = module.StampReflector(clock_synchronised=synchronised)
    return reflector


class Responder:
    """The far end. `start()` binds everything and runs the loop on one thread."""

    def __init__(
        self,
        config: ResponderConfig,
        log: Callable[[str], None] = _stderr_log,
        reflector: StampReflectorLike | None = None,
    ) -> None:
        self.config = config
        self._log = log
        self._reflector = reflector
        self._udp = UdpEchoPorts()
        self._tcp = TcpListeners()
        self._stamp: StampPort | None = None
        self._stamp_addr: tuple[str, int] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._internal_errors = 0

    # ---- public API ----

    def start(self) -> None:
        """Bind every socket, then start the loop thread; raises ResponderError/BindError."""
        if self._thread is not None:
            raise ResponderError("the responder is already running")
        cfg = self.config
        udp_ports, tcp_ports = merge_ranges(cfg.udp_ports), merge_ranges(cfg.tcp_ports)
        self._check_overlap(udp_ports)
        family = address_family(cfg.listen)
        n_udp = sum(len(r) for r in udp_ports)
        n_tcp = sum(len(r) for r in tcp_ports)
        ensure_fd_limit(n_udp + n_tcp + 4)
        self._bind_all(family, udp_ports, tcp_ports, self._reflector or _default_reflector(cfg))
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="netready-responder", daemon=True)
        self._thread.start()
        host, port = self.stamp_address
        self._log(
            f"netready responder listening on {host}: STAMP udp/{port}, "
            f"{n_udp} UDP probe ports ({','.join(map(str, udp_ports)) or 'none'}), "
            f"{n_tcp} TCP ports ({','.join(map(str, tcp_ports)) or 'none'})"
        )

    @property
    def stamp_address(self) -> tuple[str, int]:
        """The STAMP socket's bound (host, port), e.g. to learn the port picked for 0."""
        if self._stamp_addr is None:
            raise ResponderError("the responder is not started")
        return self._stamp_addr

    @property
    def running(self) -> bool:
        """True while the loop thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def stats(self) -> ResponderStats:
        """Counters so far."""
        stamp = self._stamp
        return ResponderStats(
            stamp_reflected=stamp.reflected if stamp else 0,
            stamp_dropped=stamp.dropped if stamp else 0,
            stamp_sessions=stamp.sessions.started if stamp else 0,
            udp_echoed=self._udp.echoed,
            udp_dropped=self._udp.dropped,
            tcp_accepted=self._tcp.accepted,
            tcp_errors=self._tcp.errors,
            internal_errors=self._internal_errors,
        )

    def stop(self) -> None:
        """Stop the loop, join the thread, close every socket and log the summary."""
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        thread.join()
        self._thread = None
        self._close_sockets()
        self._log(self.stats.summary())

    def serve_forever(self) -> None:
        """Start, block until SIGTERM or SIGINT, then stop cleanly (call from the main thread)."""
        done = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            done.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not done.wait(0.2):
                if not self.running:
                    raise ResponderError("the responder loop ended unexpectedly")
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ---- internals ----

    def _bind_all(
        self,
        family: socket.AddressFamily,
        udp_ports: tuple[PortRange, ...],
        tcp_ports: tuple[PortRange, ...],
        reflector: StampReflectorLike,
    ) -> None:
        """Bind the STAMP port, the UDP and TCP ports; all or nothing."""
        listen = self.config.listen
        try:
            stamp_sock = bind_socket(
                family, socket.SOCK_DGRAM, listen, self.config.stamp_port, "STAMP"
            )
            try:
                self._stamp = StampPort(stamp_sock, reflector, self._log)
            except BaseException:
                stamp_sock.close()
                raise
            host, port = stamp_sock.getsockname()[:2]
            self._stamp_addr = (str(host), int(port))
            self._udp.bind(family, listen, udp_ports)
            self._tcp.bind(family, listen, tcp_ports)
            self._selector = self._register_all()
        except BaseException:
            self._close_sockets()
            self._stamp_addr = None
            raise

    def _check_overlap(self, udp_ports: tuple[PortRange, ...]) -> None:
        stamp_port = self.config.stamp_port
        if stamp_port and any(stamp_port in r.ports() for r in udp_ports):
            raise ResponderError(
                f"UDP port {stamp_port} is both the STAMP port and a UDP probe port; "
                "choose another --stamp-port"
            )

    def _register_all(self) -> selectors.BaseSelector:
        sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        sel.register(self._wake_r, selectors.EVENT_READ, self._on_wake)
        assert self._stamp is not None
        sel.register(self._stamp.sock, selectors.EVENT_READ, self._stamp.on_readable)
        for sock in self._udp.sockets:
            sel.register(sock, selectors.EVENT_READ, self._udp.on_readable)
        for sock in self._tcp.sockets:
            sel.register(sock, selectors.EVENT_READ, self._tcp.on_readable)
        return sel

    def _on_wake(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.recv(64)

    def _run(self) -> None:
        sel = self._selector
        assert sel is not None
        while not self._stopping:
            try:
                events = sel.select()
            except OSError as exc:
                self._log(f"netready responder: loop failed: {exc}")
                return
            for key, _mask in events:
                handler: Handler = key.data
                try:
                    handler(key.fileobj)  # type: ignore[arg-type]
                except Exception as exc:  # a bug must not take the far end down
                    self._internal_errors += 1
                    if self._internal_errors <= 10:
                        self._log(f"netready responder: internal error (ignored): {exc!r}")

    def _close_sockets(self) -> None:
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()
        self._wake_r = self._wake_w = None
        if self._stamp is not None:
            self._stamp.sock.close()
        self._udp.close()
        self._tcp.close()

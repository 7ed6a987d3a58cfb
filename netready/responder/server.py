"""`netready responder`: the far end, one selectors (epoll) loop on one background thread.

It serves three kinds of sockets from that loop:

* the STAMP port (`netready.responder.stamp_io`): each datagram is read with its
  kernel receive timestamp, TTL and TOS, handed to the reflector (`StampReflector`
  by default, with the configured limits and keys) and the reply, if any, is sent
  back with the TOS the reflector asks for;
* one UDP socket per port of the media ranges (`netready.responder.media_ports`),
  echoing netready port probes and reflecting STAMP like the STAMP port;
* TCP listeners that greet and close (`netready.responder.tcp_ports`);
* TLS listeners whose connections are served on short worker threads
  (`netready.responder.tls_ports`);
* SIP echo ports, UDP and TCP (`netready.responder.sip_echo`);
* H.323 (H.225) echo ports, TCP (`netready.responder.h323_echo`).

About once a second the loop does housekeeping: idle sessions end (one summary line
each), idle per-source buckets are forgotten and, unless the config fixes it, the
synchronised bit of the Error Estimate follows the host clock's state.

No datagram, however malformed, stops the loop: failures are counted as drops.
Every UDP service shares one `UdpGuard` (`netready.responder.udp_guard`): no answer to
the responder's own sockets or privileged source ports, probe-echo rates, and a global
reply budget against spoofed floods. `stats` is the single source of every counter.
"""

from __future__ import annotations

import gc
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from netready.model import PortRange
from netready.responder.config import (
    ResponderConfig,
    ensure_fd_limit,
    merge_ranges,
    parse_port_list,
    subtract_ranges,
)
from netready.responder.echo_stats import EchoStats
from netready.responder.h323_echo import H323Echo
from netready.responder.limits import AllowList
from netready.responder.loop import Loop
from netready.responder.media_ports import MediaPorts
from netready.responder.sip_echo import SipEcho
from netready.responder.stamp_io import StampPort, StampService
from netready.responder.stats import ResponderStats, merge_drops
from netready.responder.tcp_ports import TcpListeners
from netready.responder.tls_ports import TlsListeners, server_context
from netready.responder.udp_guard import UdpGuard
from netready.responder.udp_ports import (
    BindError,
    ResponderError,
    StampReflectorLike,
    address_family,
    bind_socket,
)

__all__ = [
    "BindError",
    "Responder",
    "ResponderConfig",
    "ResponderError",
    "ResponderStats",
    "ensure_fd_limit",
    "merge_ranges",
    "parse_port_list",
]

#: Housekeeping period, and how often the host clock's sync state is read again.
TICK_S = 1.0
CLOCK_CHECK_S = 60.0


def _stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _default_reflector(config: ResponderConfig, log: Callable[[str], None]) -> StampReflectorLike:
    """The real STAMP reflector with the config's limits and keys."""
    from netready.responder.stamp_reflector import StampReflector, clock_is_synchronised

    synchronised = config.clock_synchronised
    if synchronised is None:
        synchronised = clock_is_synchronised()
    try:
        return StampReflector(
            clock_synchronised=synchronised,
            session_idle_s=config.session_idle_s,
            max_sessions=config.max_sessions,
            keys=config.keys,
            limits=config.limits,
            log=log,
        )
    except ValueError as exc:
        raise ResponderError(f"cannot start the STAMP reflector: {exc}") from None


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
        self._given_reflector = reflector
        self._reflector: StampReflectorLike | None = None
        self._allow = AllowList(config.allow)
        self._guard = UdpGuard(  # the source filter and budgets of every UDP service
            config.listen,
            config.max_probe_echoes_per_source,
            config.max_probe_echoes_total,
            config.max_reply_bytes_per_s,
        )
        self._service: StampService | None = None
        self._media: MediaPorts | None = None
        self._tcp = TcpListeners(self._allow)
        self._tls = TlsListeners(None, self._allow)
        self._sip = SipEcho(self._allow, self._guard)
        self._h323 = H323Echo(self._allow)
        self._stamp: StampPort | None = None
        self._stamp_addr: tuple[str, int] | None = None
        self._loop: Loop | None = None
        self._thread: threading.Thread | None = None
        self._next_clock_check = 0.0
        self.bind_seconds = 0.0

    # ---- public API ----

    def start(self) -> None:
        """Bind every socket, then start the loop thread; raises ResponderError/BindError."""
        if self._thread is not None:
            raise ResponderError("the responder is already running")
        cfg = self.config
        cfg.check()
        sip_ports = merge_ranges(cfg.sip_echo_ports)
        udp_ports = subtract_ranges(cfg.udp_ports, sip_ports)
        h323_ports = merge_ranges(cfg.h323_echo_ports)
        tls_ports = subtract_ranges(cfg.tls_ports, sip_ports + h323_ports)
        tcp_ports = subtract_ranges(cfg.tcp_ports, tls_ports + sip_ports + h323_ports)
        if tls_ports:
            self._tls.context = server_context(cfg.tls_cert, cfg.tls_key, cfg.listen)
        self._check_overlap(udp_ports)
        family = address_family(cfg.listen)
        n_udp = sum(len(r) for r in udp_ports)
        n_tcp = sum(len(r) for r in tcp_ports)
        n_tls = sum(len(r) for r in tls_ports)
        n_sip = sum(len(r) for r in sip_ports)
        n_h323 = sum(len(r) for r in h323_ports)
        ensure_fd_limit(n_udp + n_tcp + n_tls + 2 * n_sip + n_h323 + 4)
        reflector = self._given_reflector or _default_reflector(cfg, self._log)
        started = time.perf_counter()
        self._bind_all(family, udp_ports, tcp_ports, reflector, tls_ports, sip_ports, h323_ports)
        self.bind_seconds = time.perf_counter() - started
        # Everything made so far (thousands of sockets, the selector's table) lives as long
        # as the responder: out of the garbage collector's sight, a full collection no
        # longer walks it and stalls the loop for tens of milliseconds (bench/RESULTS.md).
        gc.freeze()
        self._reflector = reflector
        self._next_clock_check = time.monotonic() + CLOCK_CHECK_S
        assert self._loop is not None
        self._thread = threading.Thread(
            target=self._loop.run, name="netready-responder", daemon=True
        )
        self._thread.start()
        host, port = self.stamp_address
        auth = "authenticated" if cfg.keys else "unauthenticated"
        allow = ",".join(map(str, cfg.allow)) or "everyone"
        self._log(
            f"netready responder listening on {host}: STAMP udp/{port} ({auth}; also on "
            f"every UDP probe port), {n_udp} UDP probe ports "
            f"({','.join(map(str, udp_ports)) or 'none'}), {n_tcp} TCP ports "
            f"({','.join(map(str, tcp_ports)) or 'none'}), {n_tls} TLS ports "
            f"({','.join(map(str, tls_ports)) or 'none'}), SIP echo udp+tcp "
            f"({','.join(map(str, sip_ports)) or 'none'}), H.323 echo tcp "
            f"({','.join(map(str, h323_ports)) or 'none'}); bound in {self.bind_seconds:.2f} s; "
            f"allowed: {allow}"
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
        """Counters so far: the single source of every figure the responder reports."""
        service, media = self._service, self._media
        dropped = service.dropped if service else 0
        reflector_drops: dict[str, int] = getattr(self._reflector, "drops", {})
        sip, h323 = self._sip, self._h323
        return ResponderStats(
            stamp_reflected=service.reflected if service else 0,
            stamp_dropped=dropped,
            stamp_sessions=int(getattr(self._reflector, "sessions_started", 0)),
            udp_echoed=media.echoed if media else 0,
            udp_dropped=media.dropped if media else 0,
            udp_drops=merge_drops(0, media.drops.by_reason if media else {}),
            sip_echoed=sip.echoed,
            sip_dropped=sip.dropped,
            sip_drops=merge_drops(0, sip.drops.by_reason),
            h323_echoed=h323.echoed,
            h323_dropped=h323.dropped,
            h323_drops=merge_drops(0, h323.drops.by_reason),
            tcp_accepted=self._tcp.accepted + self._tls.accepted,
            tcp_errors=self._tcp.errors + self._tls.errors,
            internal_errors=self._loop.internal_errors if self._loop else 0,
            stamp_drops=merge_drops(dropped, service.drops if service else {}, reflector_drops),
            tcp_refused=self._tcp.refused + self._tls.refused,
            stamp_evicted=int(getattr(self._reflector, "sessions_evicted", 0)),
            stamp_unconfirmed_evicted=int(getattr(self._reflector, "unconfirmed_evicted", 0)),
        )

    @property
    def active_sessions(self) -> int:
        """STAMP sessions tracked right now (read by `--metrics`)."""
        sessions: Callable[[], int] | None = getattr(self._reflector, "sessions", None)
        return int(sessions()) if sessions is not None else 0

    @property
    def echo_stats(self) -> EchoStats:
        """The SIP, H.323 and TLS services' counters so far (read by `--metrics`)."""
        return EchoStats(
            sip_echoed=self._sip.echoed,
            sip_dropped=self._sip.dropped,
            h323_echoed=self._h323.echoed,
            h323_dropped=self._h323.dropped,
            tls_handshakes=self._tls.handshakes,
            tls_handshake_failures=self._tls.handshake_failures,
        )

    def stop(self) -> None:
        """Stop the loop, join the thread, close every socket and log the summaries."""
        thread = self._thread
        if thread is None:
            return
        if self._loop is not None:
            self._loop.stop()
        thread.join()
        self._thread = None
        self._close_sockets()
        close: Callable[[int], None] | None = getattr(self._reflector, "close", None)
        if close is not None:
            close(time.time_ns())
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
        tls_ports: tuple[PortRange, ...] = (),
        sip_ports: tuple[PortRange, ...] = (),
        h323_ports: tuple[PortRange, ...] = (),
    ) -> None:
        """Bind the STAMP port, the UDP, TCP, TLS, SIP and H.323 echo ports; all or nothing."""
        listen = self.config.listen
        service = StampService(reflector, self.config.max_packet, self._allow, self._guard)
        self._service, self._media = service, MediaPorts(service, self._guard)
        try:
            stamp_sock = bind_socket(
                family, socket.SOCK_DGRAM, listen, self.config.stamp_port, "STAMP"
            )
            try:
                self._stamp = StampPort(stamp_sock, service)
            except BaseException:
                stamp_sock.close()
                raise
            host, port = stamp_sock.getsockname()[:2]
            self._stamp_addr = (str(host), int(port))
            self._media.bind(family, listen, udp_ports)
            self._tcp.bind(family, listen, tcp_ports)
            self._tls.bind(family, listen, tls_ports)
            self._sip.bind(family, listen, sip_ports)
            self._h323.bind(family, listen, h323_ports)
            self._loop = self._register_all()
        except BaseException:
            self._close_sockets()
            self._stamp_addr = None
            raise

    def _check_overlap(self, udp_ports: tuple[PortRange, ...]) -> None:
        stamp_port = self.config.stamp_port
        if stamp_port and any(r.first <= stamp_port <= r.last for r in udp_ports):
            raise ResponderError(
                f"UDP port {stamp_port} is both the STAMP port and a UDP probe port; "
                "choose another --stamp-port"
            )

    def _register_all(self) -> Loop:
        loop = Loop(self._log, self._tick, TICK_S)
        assert self._stamp is not None and self._media is not None
        loop.add(self._stamp.sock, self._stamp.on_readable)
        on_media = self._media.on_readable
        for sock in self._media.sockets:
            loop.add(sock, on_media)
        for sock in self._tcp.sockets:
            loop.add(sock, self._tcp.on_readable)
        for sock in self._tls.sockets:
            loop.add(sock, self._tls.on_readable)
        for sock in self._sip.udp_sockets:
            loop.add(sock, self._sip.on_udp)
        for sock in self._sip.tcp_sockets:
            loop.add(sock, self._sip.on_tcp)
        for sock in self._h323.sockets:
            loop.add(sock, self._h323.on_tcp)
        return loop

    def _tick(self, now: float) -> None:
        """Housekeeping: end idle sessions, forget idle sources, follow the clock state."""
        self._guard.tick(time.monotonic_ns())
        tick: Callable[[int], None] | None = getattr(self._reflector, "tick", None)
        if tick is not None:
            tick(time.time_ns())
        set_sync: Callable[[bool], None] | None = getattr(
            self._reflector, "set_clock_synchronised", None
        )
        fixed = self.config.clock_synchronised is not None
        if set_sync is not None and not fixed and now >= self._next_clock_check:
            from netready.probes.sockopts import clock_is_synchronised

            self._next_clock_check = now + CLOCK_CHECK_S
            set_sync(clock_is_synchronised())

    def _close_sockets(self) -> None:
        if self._loop is not None:
            self._loop.close()  # kept: stats still read its error count
        if self._stamp is not None:
            self._stamp.sock.close()
        if self._media is not None:
            self._media.close()
        if self._service is not None:
            self._service.forget_sockets()
        self._tcp.close()
        self._tls.close()
        self._sip.close()
        self._h323.close()

"""Path MTU through a STAMP reflector: single packets with DF set, and one fragmented packet.

The reflector answers with a packet of exactly the size it received, so a size that comes
back has passed both ways (upstream and downstream together; the directions cannot be told
apart). Sizes are IP packet sizes (UDP payload + 28 bytes on IPv4, + 48 on IPv6).

Every packet carries the Don't Fragment bit (IP_MTU_DISCOVER = IP_PMTUDISC_DO): a packet
larger than the path MTU is dropped on the way (ICMP "fragmentation needed"), or refused by
this host's kernel (EMSGSIZE) once it has learnt the smaller MTU. The fragment probe uses
IP_PMTUDISC_DONT so the kernel fragments a large payload, and shows whether IP fragments of
UDP pass at all (SIP over UDP with a large SDP body needs them).

Blocking: run it on a thread of its own.
"""

from __future__ import annotations

import contextlib
import errno
import secrets
import select
import socket
import sys
import time
from dataclasses import dataclass, field

from netready.probes.sockopts import option_number
from netready.probes.stamp import (
    ErrorEstimate,
    SenderPacket,
    pack_sender,
    sender_tlvs,
    unpack_reflector,
)

# Linux's path-MTU options (Python's socket module does not export them all); other systems
# set DF another way (IP_DONTFRAGMENT on Windows, IP_DONTFRAG on macOS), not done here yet
IP_MTU_DISCOVER = option_number("IP_MTU_DISCOVER", 10)
IP_MTU = option_number("IP_MTU", 14)
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_DO = 2
IPV6_MTU_DISCOVER = option_number("IPV6_MTU_DISCOVER", 23)
IPV6_MTU = option_number("IPV6_MTU", 24)
IPV6_PMTUDISC_DONT = 0
IPV6_PMTUDISC_DO = 2
IPV4_OVERHEAD = 28  # IPv4 header 20 + UDP header 8
IPV6_OVERHEAD = 48  # IPv6 header 40 + UDP header 8
RECV_BUFSIZE = 65_536
MIN_PAYLOAD = 64  # a STAMP base packet, CoS TLV and some padding


@dataclass
class SizeTry:
    """One size tried: IP bytes, whether a reply of that size came back, how it went."""

    ip_bytes: int
    passed: bool
    tries: int
    outcome: str  # "reply", "timeout", "emsgsize" (this host knows a smaller path MTU), error


@dataclass
class MtuRun:
    """What the probe found: the largest IP size that passed with DF, and the fragment probe."""

    address: str
    port: int
    overhead: int
    path_mtu_bytes: int | None  # None: not even the smallest size came back
    fragments_pass: bool | None  # None: not tried
    fragment_payload_bytes: int
    kernel_path_mtu: int | None = None  # IP_MTU as this host's kernel knows it at the end
    sizes: list[SizeTry] = field(default_factory=list)
    fragment_outcome: str = ""

    @property
    def max_payload_bytes(self) -> int | None:
        """The largest UDP payload that passed unfragmented."""
        return None if self.path_mtu_bytes is None else self.path_mtu_bytes - self.overhead


def df_unsupported_reason() -> str:
    """Why this OS cannot set Don't Fragment the way the probe does; "" where it can."""
    if IP_MTU_DISCOVER is None or IPV6_MTU_DISCOVER is None:
        return f"Don't Fragment is set with Linux's IP_MTU_DISCOVER, not on {sys.platform}"
    return ""


def _open(address: str, port: int, fragment: bool) -> tuple[socket.socket, int]:
    family, kind, proto, _name, sockaddr = socket.getaddrinfo(
        address, port, type=socket.SOCK_DGRAM
    )[0]
    if IP_MTU_DISCOVER is None or IPV6_MTU_DISCOVER is None:
        raise OSError(df_unsupported_reason())
    sock = socket.socket(family, kind, proto)
    try:
        if family == socket.AF_INET6:
            value = IPV6_PMTUDISC_DONT if fragment else IPV6_PMTUDISC_DO
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, value)
        else:
            value = IP_PMTUDISC_DONT if fragment else IP_PMTUDISC_DO
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, value)
        sock.connect(sockaddr)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    overhead = IPV6_OVERHEAD if family == socket.AF_INET6 else IPV4_OVERHEAD
    return sock, overhead


def _kernel_mtu(sock: socket.socket) -> int | None:
    """The path MTU this host's kernel has cached for the connected destination."""
    level, name = (
        (socket.IPPROTO_IPV6, IPV6_MTU)
        if sock.family == socket.AF_INET6
        else (socket.IPPROTO_IP, IP_MTU)
    )
    if name is None:
        return None
    try:
        return int(sock.getsockopt(level, name))
    except OSError:
        return None


@dataclass
class _Prober:
    sock: socket.socket
    ssid: int
    timeout_s: float
    tries: int
    seq: int = 0

    def probe(self, payload_bytes: int) -> tuple[bool, int, str]:
        """Send one packet of `payload_bytes` up to `tries` times; (passed, tries, outcome)."""
        outcome = "timeout"
        for attempt in range(1, self.tries + 1):
            seq = self.seq
            self.seq += 1
            tlvs = sender_tlvs(payload_bytes, 0)
            packet = pack_sender(
                SenderPacket(seq, time.time_ns(), ErrorEstimate(), self.ssid, tlvs)
            )
            try:
                self.sock.send(packet)
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:
                    return False, attempt, "emsgsize"
                outcome = f"send error: {exc.strerror or exc}"
                continue
            if self._await(seq, payload_bytes):
                return True, attempt, "reply"
        return False, self.tries, outcome

    def _await(self, seq: int, payload_bytes: int) -> bool:
        end = time.monotonic() + self.timeout_s
        while (left := end - time.monotonic()) > 0:
            if not select.select([self.sock], [], [], left)[0]:
                return False
            try:
                data = self.sock.recv(RECV_BUFSIZE)
            except OSError:  # e.g. ICMP port unreachable reported on the connected socket
                continue
            try:
                reply = unpack_reflector(data)
            except ValueError:
                continue
            if reply.sender_seq == seq and reply.ssid in (0, self.ssid):
                return len(data) == payload_bytes
        return False


def run_mtu_probe(
    address: str,
    port: int,
    *,
    min_ip_bytes: int = 576,
    max_ip_bytes: int = 1500,
    timeout_s: float = 0.5,
    tries: int = 3,
    fragment_payload_bytes: int = 3000,
) -> MtuRun:
    """Bisect the largest IP size in [min_ip_bytes, max_ip_bytes] that comes back with DF.

    The largest size is tried first, then the smallest, then the middle of what is left.
    Each size waits at most `timeout_s` per try and is tried at most `tries` times; a size
    the kernel refuses (EMSGSIZE: it has learnt a smaller path MTU) counts as failed at once,
    and the kernel's own MTU then narrows the search. Finally one `fragment_payload_bytes`
    payload goes out without DF (0 skips it).
    """
    if not 0 < timeout_s <= 5 or not 1 <= tries <= 10 or min_ip_bytes > max_ip_bytes:
        raise ValueError(
            f"bad MTU probe parameters: {min_ip_bytes}-{max_ip_bytes} bytes, "
            f"timeout {timeout_s} s, {tries} tries"
        )
    ssid = secrets.randbelow(0xFFFF) + 1
    sock, overhead = _open(address, port, fragment=False)
    run = MtuRun(address, port, overhead, None, None, fragment_payload_bytes)
    try:
        prober = _Prober(sock, ssid, timeout_s, tries)
        low = max(min_ip_bytes, MIN_PAYLOAD + overhead)

        def tried(ip_bytes: int) -> bool:
            passed, count, outcome = prober.probe(ip_bytes - overhead)
            run.sizes.append(SizeTry(ip_bytes, passed, count, outcome))
            return passed

        if tried(max_ip_bytes):
            run.path_mtu_bytes = max_ip_bytes
        elif tried(low):
            good, bad = low, max_ip_bytes  # invariant: good passed, bad did not
            while bad - good > 1:
                known = _kernel_mtu(sock)
                mid = (good + bad) // 2
                if known is not None and good < known < bad:
                    mid = known  # the kernel learnt the MTU from an ICMP message: try it
                if tried(mid):
                    good = mid
                else:
                    bad = mid
            run.path_mtu_bytes = good
        run.kernel_path_mtu = _kernel_mtu(sock)
    finally:
        sock.close()
    if fragment_payload_bytes:
        frag, _ = _open(address, port, fragment=True)
        try:
            passed, _count, outcome = _Prober(frag, ssid, timeout_s, tries).probe(
                fragment_payload_bytes
            )
            run.fragments_pass, run.fragment_outcome = passed, outcome
        finally:
            with contextlib.suppress(OSError):
                frag.close()
    return run

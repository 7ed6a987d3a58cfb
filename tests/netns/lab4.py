"""Four-namespace lab for TTL-limited probes: site -- fw -- isp -- platform (root only).

::

    site  s0 198.51.100.2/24 --veth-- f0 198.51.100.1/24 [fw]  (nftables: the site's firewall)
    [fw]  f1 192.0.2.1/24    --veth-- i0 192.0.2.2/24    [isp] (the router beyond the edge)
    [isp] i1 203.0.113.1/24  --veth-- p0 203.0.113.2/24  platform

`isp` is hop 2 from the site, so a probe with TTL 2 expires there and draws an ICMP
time-exceeded from 192.0.2.2 only if fw forwarded it (fw answers TTL 1 itself, before its
forward filter runs: LAB.md §5). No namespace has a default route; the 192.0.2.0/24 link is
known to fw and isp only. Names are `nrfwk<pid>-<random>-{site,fw,isp,plat}`; a later lab
deletes the namespaces of a lab whose process died. The firewall rules are `nft.Ruleset`
(the three-namespace lab's), on fw's forward hook, "up" = site -> platform (ingress f0).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType

from tests.netns.lab import ICMP_SYSCTLS, _pid_alive
from tests.netns.nft import Ruleset
from tests.netns.procs import run

PREFIX = "nrfwk"  # not "nrlab<digits>": lab.reap_stale() would take it for a dead lab
SITE_IP, FW_SITE_IP = "198.51.100.2", "198.51.100.1"
FW_ISP_IP, ISP_FW_IP = "192.0.2.1", "192.0.2.2"
ISP_PLATFORM_IP, PLATFORM_IP = "203.0.113.1", "203.0.113.2"
SITE_NET, LINK_NET, PLATFORM_NET = "198.51.100.0/24", "192.0.2.0/24", "203.0.113.0/24"
ROLES = ("site", "fw", "isp", "plat")
#: (namespace, device, peer namespace, peer device) per link.
LINKS = (("site", "s0", "fw", "f0"), ("fw", "f1", "isp", "i0"), ("isp", "i1", "plat", "p0"))
ADDRESSES = (
    ("site", "s0", SITE_IP),
    ("fw", "f0", FW_SITE_IP),
    ("fw", "f1", FW_ISP_IP),
    ("isp", "i0", ISP_FW_IP),
    ("isp", "i1", ISP_PLATFORM_IP),
    ("plat", "p0", PLATFORM_IP),
)
ROUTES = (
    ("site", PLATFORM_NET, FW_SITE_IP),
    ("fw", PLATFORM_NET, ISP_FW_IP),
    ("isp", SITE_NET, FW_ISP_IP),
    ("plat", SITE_NET, ISP_PLATFORM_IP),
)
_STALE = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]{{6}}-(?:site|fw|isp|plat)$")
_SYSCTL_SH = (
    'for kv; do f="/proc/sys/$(printf %s "${kv%%=*}" | tr . /)";'
    ' if [ -e "$f" ]; then printf "%s\\n" "${kv#*=}" > "$f"; fi; done'
)


def reap_stale() -> list[str]:
    """Delete four-namespace labs whose creating process is gone; returns their names."""
    names = [line.split(" ")[0] for line in run(["ip", "netns", "list"]).stdout.splitlines()]
    gone = [n for n in names if (m := _STALE.match(n)) and not _pid_alive(int(m.group(1)))]
    for name in gone:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return gone


class Lab4:
    """site -- fw -- isp -- platform; everything goes away on close()."""

    site_ip = SITE_IP
    platform_ip = PLATFORM_IP
    fw_ip = FW_SITE_IP
    isp_ip = ISP_FW_IP

    def __init__(self, icmp_ratelimit_ms: int = 0) -> None:
        self.id = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self.ns = {role: f"{self.id}-{role}" for role in ROLES}
        self.rules = Ruleset({"up": "f0", "down": "f1"})
        self.icmp_ratelimit_ms = icmp_ratelimit_ms
        self._created: list[str] = []

    def __enter__(self) -> Lab4:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Namespaces, links, addresses, routes, forwarding on fw and isp, an empty table."""
        reap_stale()
        for name in self.ns.values():
            run(["ip", "netns", "add", name])
            self._created.append(name)
        for ns, dev, peer_ns, peer in LINKS:
            self.ip(ns, "link", "add", dev, "type", "veth", "peer", peer, "netns", self.ns[peer_ns])
        for role in ROLES:
            self.sysctl(role, *ICMP_SYSCTLS)
            self.ip(role, "link", "set", "lo", "up")
        # the router beyond the edge may rate-limit time-exceeded like a real one
        self.sysctl("isp", f"net.ipv4.icmp_ratelimit={self.icmp_ratelimit_ms}")
        for role in ("fw", "isp"):
            self.sysctl(role, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0")
        for role, dev, addr in ADDRESSES:
            self.ip(role, "addr", "add", f"{addr}/24", "dev", dev)
            self.ip(role, "link", "set", dev, "up")
        for role, net, via in ROUTES:
            self.ip(role, "route", "add", net, "via", via)
        self._load_nft()

    def close(self) -> None:
        """Delete the namespaces (and with them every process's sockets and the nft table)."""
        for name in reversed(self._created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self._created.clear()

    def ip(self, role: str, *args: str) -> str:
        """`ip -n <ns> ARGS`; returns stdout, raises on failure."""
        return run(["ip", "-n", self.ns[role], *args]).stdout

    def sysctl(self, role: str, *settings: str) -> None:
        """Set sysctls inside one namespace through /proc/sys; a missing key is skipped."""
        self.run_in(role, ["sh", "-ec", _SYSCTL_SH, "sysctl", *settings])

    def run_in(
        self,
        role: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 120.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside a namespace ('site', 'fw', 'isp', 'plat'), output captured."""
        proc = subprocess.run(
            ["ip", "netns", "exec", self.ns[role], *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
        )
        if check and proc.returncode:
            raise RuntimeError(f"{argv} in {role} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def block(
        self, transport: str, ports: int | str | Iterable[int | str], *, action: str = "drop"
    ) -> None:
        """fw drops (or rejects) site -> platform traffic to `ports`."""
        self.rules.add_block(transport, ports, action, "up")
        self._load_nft()

    def clear(self) -> None:
        """No blocks."""
        self.rules.clear()
        self._load_nft()

    def _load_nft(self) -> None:
        argv = ["ip", "netns", "exec", self.ns["fw"], "nft", "-f", "-"]
        text = self.rules.text()
        proc = subprocess.run(argv, input=text, text=True, capture_output=True, timeout=30)
        if proc.returncode:
            raise RuntimeError(f"nft refused the fw table: {proc.stderr.strip()}\n{text}")

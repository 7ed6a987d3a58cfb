"""Impairment lab: site -- router -- platform in three network namespaces (root only).

::

    site  s0 198.51.100.2/24 --veth-- r0 198.51.100.1/24 [router]
          [router] r1 203.0.113.1/24 --veth-- p0 203.0.113.2/24  platform
    router: nft table netready_lab (numgen loss, firewall), TUN devices tup / tdn (emulator.py)

No namespace has a default route: site knows only 203.0.113.0/24 via the router, platform only
198.51.100.0/24, so nothing can reach the host's real interfaces. Names are
`nrlab<pid>-<random>-{site,rtr,plat}`, so two labs never collide, and a later lab removes the
namespaces of a lab whose process died without cleaning up. Usable without pytest::

    with Lab() as lab:
        lab.set_loss("down", 2.0)           # exactly 1 packet in 50, site <- platform
        lab.set_delay("up", 40.0, 5.0)      # site -> platform: 40 ms ± 5 ms uniform, FIFO
        lab.run_in("site", ["ping", "-c", "3", lab.platform_ip])

"Up" is site -> platform (ingress r0), "down" is platform -> site (ingress r1). Loss and
firewall rules: nft.py; the delay/jitter emulator: emulator.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.netns.nft import TABLE, Ruleset, counters
from tests.netns.procs import readline, run, stop_process

PREFIX = "nrlab"
SITE_IP, ROUTER_SITE_IP = "198.51.100.2", "198.51.100.1"
PLATFORM_IP, ROUTER_PLATFORM_IP = "203.0.113.2", "203.0.113.1"
SITE_NET, PLATFORM_NET = "198.51.100.0/24", "203.0.113.0/24"
EMULATOR = Path(__file__).with_name("emulator.py")
ROLES = {"site": "site", "router": "rtr", "platform": "plat"}
ICMP_SYSCTLS = (
    "net.ipv4.icmp_ratelimit=0",
    "net.ipv4.icmp_msgs_per_sec=100000",
    "net.ipv4.icmp_msgs_burst=10000",
)
_SYSCTL_SH = (
    'for kv; do f="/proc/sys/$(printf %s "${kv%%=*}" | tr . /)";'
    ' if [ -e "$f" ]; then printf "%s\\n" "${kv#*=}" > "$f"; fi; done'
)
_STALE = re.compile(rf"^{PREFIX}(\d+)-[0-9a-f]{{6}}-(?:site|rtr|plat)$")


@dataclass(frozen=True)
class Direction:
    """How one direction crosses the router."""

    ingress: str  # router interface the packets come in on
    tun: str  # the emulator's TUN device
    table: int  # policy routing table that sends them into the TUN device
    dst: str  # the far subnet


DIRECTIONS = {
    "up": Direction("r0", "tup", 100, PLATFORM_NET),
    "down": Direction("r1", "tdn", 101, SITE_NET),
}


def _direction(name: str) -> Direction:
    if name not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' or 'down', not {name!r}")
    return DIRECTIONS[name]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def reap_stale() -> list[str]:
    """Delete lab namespaces whose creating process is gone; returns their names."""
    names = [line.split(" ")[0] for line in run(["ip", "netns", "list"]).stdout.splitlines()]
    gone = [n for n in names if (m := _STALE.match(n)) and not _pid_alive(int(m.group(1)))]
    for name in gone:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return gone


class Lab:
    """The topology, its firewall and its emulators; everything goes away on close()."""

    site_ip = SITE_IP
    platform_ip = PLATFORM_IP
    router_site_ip = ROUTER_SITE_IP
    router_platform_ip = ROUTER_PLATFORM_IP

    def __init__(self, emulator_lifetime_s: float = 900.0) -> None:
        self.id = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self.ns = {role: f"{self.id}-{short}" for role, short in ROLES.items()}
        self.emulator_lifetime_s = emulator_lifetime_s
        self.emulator_stats: dict[str, dict[str, Any]] = {}
        self.rules = Ruleset({name: d.ingress for name, d in DIRECTIONS.items()})
        self._emulators: dict[str, subprocess.Popen[str]] = {}
        self._procs: list[subprocess.Popen[str]] = []
        self._created: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Lab:
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
        """Build the namespaces, links, addresses, routes, sysctls and an empty nft table."""
        reap_stale()
        for name in self.ns.values():
            run(["ip", "netns", "add", name])
            self._created.append(name)
        site, rtr, plat = self.ns["site"], self.ns["router"], self.ns["platform"]
        run(["ip", "-n", site, "link", "add", "s0", "type", "veth", "peer", "r0", "netns", rtr])
        run(["ip", "-n", plat, "link", "add", "p0", "type", "veth", "peer", "r1", "netns", rtr])
        for role in self.ns:
            self.sysctl(role, *ICMP_SYSCTLS)
        self.sysctl(
            "router", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        )  # fmt: skip
        for d in DIRECTIONS.values():
            self.ip("router", "tuntap", "add", "dev", d.tun, "mode", "tun")
            self.sysctl(
                "router", f"net.ipv6.conf.{d.tun}.disable_ipv6=1",
                f"net.ipv4.conf.{d.tun}.rp_filter=0",
            )  # fmt: skip
        for role, dev, addr in (
            ("site", "s0", f"{SITE_IP}/24"),
            ("router", "r0", f"{ROUTER_SITE_IP}/24"),
            ("router", "r1", f"{ROUTER_PLATFORM_IP}/24"),
            ("platform", "p0", f"{PLATFORM_IP}/24"),
        ):
            self.ip(role, "addr", "add", addr, "dev", dev)
            self.ip(role, "link", "set", dev, "up")
        for role in self.ns:
            self.ip(role, "link", "set", "lo", "up")
        for d in DIRECTIONS.values():
            self.ip("router", "link", "set", d.tun, "up")
        self.ip("site", "route", "add", PLATFORM_NET, "via", ROUTER_SITE_IP)
        self.ip("platform", "route", "add", SITE_NET, "via", ROUTER_PLATFORM_IP)
        self._load_nft()

    def close(self) -> None:
        """Stop emulators and every process started here, then delete the namespaces."""
        for direction in list(self._emulators):
            with contextlib.suppress(Exception):
                self.stop_delay(direction)
        for proc in self._procs:
            with contextlib.suppress(Exception):
                stop_process(proc)
        self._procs.clear()
        for name in reversed(self._created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self._created.clear()

    # -- running things --------------------------------------------------------------------
    def ip(self, role: str, *args: str) -> str:
        """`ip -n <ns> ARGS`; returns stdout, raises on failure."""
        return run(["ip", "-n", self.ns[role], *args]).stdout

    def sysctl(self, role: str, *settings: str) -> None:
        """Set sysctls ("net.ipv4.ip_forward=1") inside one namespace only, through /proc/sys
        (no procps needed); a key this kernel lacks is skipped."""
        self.run_in(role, ["sh", "-ec", _SYSCTL_SH, "sysctl", *settings])

    def run_in(
        self,
        role: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside a namespace ('site', 'router', 'platform'), output captured."""
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

    def popen_in(self, role: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[str]:
        """Start argv inside a namespace; it is terminated on close() if still running."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("text", True)
        proc: subprocess.Popen[str] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[role], *argv], **kwargs
        )
        self._procs.append(proc)
        return proc

    # -- impairments -----------------------------------------------------------------------
    def set_loss(
        self,
        direction: str,
        percent: float,
        *,
        deterministic: bool = True,
        transport: str | None = None,
    ) -> None:
        """Drop `percent` of one direction's IPv4 packets (0 removes the rule).

        deterministic: exactly every (100/percent)-th packet after this call, the first
        one half a period in; otherwise each packet independently with that probability.
        """
        self.rules.set_loss(direction, percent, deterministic, transport)
        self._load_nft()

    def block(
        self,
        transport: str,
        ports: int | str | Iterable[int | str],
        *,
        action: str = "drop",
        direction: str = "up",
    ) -> None:
        """Firewall one direction's traffic to `ports` (e.g. 8636, "50000-50100")."""
        self.rules.add_block(transport, ports, action, direction)
        self._load_nft()

    def set_delay(
        self,
        direction: str,
        delay_ms: float,
        jitter_ms: float = 0.0,
        *,
        reorder: bool = False,
        seed: int | None = None,
        spin_us: int = 300,
    ) -> None:
        """(Re)start the emulator of one direction; 0 ms and 0 jitter stops it."""
        d = _direction(direction)
        self.stop_delay(direction)
        if delay_ms == 0 and jitter_ms == 0:
            return
        argv = [sys.executable, str(EMULATOR), "--dev", d.tun, "--delay-ms", str(delay_ms)]
        argv += ["--jitter-ms", str(jitter_ms), "--spin-us", str(spin_us)]
        argv += ["--seed", str(seed if seed is not None else (1 if direction == "up" else 2))]
        argv += ["--max-lifetime", str(self.emulator_lifetime_s)] + ["--reorder"] * reorder
        proc = self.popen_in(
            "router", argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=1
        )
        self._emulators[direction] = proc
        if readline(proc.stdout, 10.0) != "ready":
            self.stop_delay(direction)
            err = self.emulator_stats.get(direction, {}).get("stderr", "")
            raise RuntimeError(f"emulator for {direction} did not start: {err}")
        self.ip("router", "route", "replace", d.dst, "dev", d.tun, "table", str(d.table))
        self.ip("router", "rule", "add", "iif", d.ingress, "lookup", str(d.table), "pref", "100")

    def stop_delay(self, direction: str) -> dict[str, Any] | None:
        """Take one direction off its emulator; returns the emulator's counters."""
        d = _direction(direction)
        proc = self._emulators.pop(direction, None)
        if proc is None:
            return None
        rule = ["rule", "del", "iif", d.ingress, "lookup", str(d.table)]
        subprocess.run(["ip", "-n", self.ns["router"], *rule], capture_output=True, check=False)
        out, err = stop_process(proc)
        stats: dict[str, Any] = {"stderr": err}
        for line in out.splitlines():
            if line.startswith("{"):
                stats |= json.loads(line)
        self.emulator_stats[direction] = stats
        return stats

    def clear(self) -> None:
        """No loss, no blocks, no delay."""
        for direction in DIRECTIONS:
            self.stop_delay(direction)
        self.rules.clear()
        self._load_nft()

    # -- firewall --------------------------------------------------------------------------
    def _load_nft(self) -> None:
        argv = ["ip", "netns", "exec", self.ns["router"], "nft", "-f", "-"]
        text = self.rules.text()
        proc = subprocess.run(argv, input=text, text=True, capture_output=True, timeout=30)
        if proc.returncode:
            raise RuntimeError(f"nft refused the lab table: {proc.stderr.strip()}\n{text}")

    def counters(self) -> dict[str, int]:
        """nft counters since the table was last loaded: `seen up` (every IPv4 packet coming
        in that way, before the loss rule), `loss up` (dropped by it), `seen down`, ..."""
        listing = self.run_in("router", ["nft", "-j", "list", "table", "inet", TABLE]).stdout
        return counters(listing, DIRECTIONS)

    def dropped(self) -> dict[str, int]:
        """Packets the loss rules dropped since the table was last loaded, per direction."""
        now = self.counters()
        return {d: now[f"loss {d}"] for d in DIRECTIONS}

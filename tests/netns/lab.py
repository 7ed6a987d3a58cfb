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

"Up" is site -> platform (ingress r0), "down" is platform -> site (ingress r1). Every rule
matches on the ingress interface, so a packet looping through an emulator's TUN device is
counted and dropped once. Each change reloads the whole nft table atomically, which also
restarts the deterministic loss counters.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import selectors
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

PREFIX = "nrlab"
SITE_IP, ROUTER_SITE_IP = "198.51.100.2", "198.51.100.1"
PLATFORM_IP, ROUTER_PLATFORM_IP = "203.0.113.2", "203.0.113.1"
SITE_NET, PLATFORM_NET = "198.51.100.0/24", "203.0.113.0/24"
TABLE = "netready_lab"
EMULATOR = Path(__file__).with_name("emulator.py")
ROLES = {"site": "site", "router": "rtr", "platform": "plat"}
ICMP_SYSCTLS = (
    "net.ipv4.icmp_ratelimit=0",
    "net.ipv4.icmp_msgs_per_sec=100000",
    "net.ipv4.icmp_msgs_burst=10000",
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


def _run(argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale() -> list[str]:
    """Delete lab namespaces whose creating process is gone; returns their names."""
    out = _run(["ip", "netns", "list"]).stdout
    gone = []
    for line in out.splitlines():
        name = line.split(" ")[0]
        m = _STALE.match(name)
        if m and not _pid_alive(int(m.group(1))):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            gone.append(name)
    return gone


def loss_expr(percent: float, deterministic: bool) -> str:
    """nft match for `percent` loss: every (1000/k)-th packet, or a random k in 1000."""
    k = round(percent * 10)
    if not 0 <= percent <= 100 or abs(k - percent * 10) > 1e-9:
        raise ValueError(f"loss must be 0-100 % in steps of 0.1, not {percent}")
    if not deterministic:
        return f"numgen random mod 1000 < {k}"
    picks = sorted({(2 * j + 1) * 1000 // (2 * k) for j in range(k)})  # mid-slot: not packet 0
    return f"numgen inc mod 1000 {{ {', '.join(map(str, picks))} }}"


def _ports(ports: int | str | Iterable[int | str]) -> str:
    items = [ports] if isinstance(ports, int | str) else list(ports)
    text = ", ".join(str(p) for p in items)
    if not items or not re.fullmatch(r"[0-9, -]+", text):
        raise ValueError(f"bad ports: {ports!r}")
    return text


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
        self._loss: dict[str, str] = {}
        self._blocks: list[str] = []
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
            _run(["ip", "netns", "add", name])
            self._created.append(name)
        site, rtr, plat = self.ns["site"], self.ns["router"], self.ns["platform"]
        _run(["ip", "-n", site, "link", "add", "s0", "type", "veth", "peer", "r0", "netns", rtr])
        _run(["ip", "-n", plat, "link", "add", "p0", "type", "veth", "peer", "r1", "netns", rtr])
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
            stop_process(proc)
        self._procs.clear()
        for name in reversed(self._created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        self._created.clear()

    # -- running things --------------------------------------------------------------------
    def ip(self, role: str, *args: str) -> str:
        """`ip -n <ns> ARGS`; returns stdout, raises on failure."""
        return _run(["ip", "-n", self.ns[role], *args]).stdout

    def sysctl(self, role: str, *settings: str) -> None:
        """Set sysctls inside one namespace only."""
        self.run_in(role, ["sysctl", "-q", "-w", *settings])

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
        proc: subprocess.Popen[str] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[role], *argv], text=True, **kwargs
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
        d = _direction(direction)
        if transport not in (None, "udp", "tcp", "icmp"):
            raise ValueError(f"bad transport {transport!r}")
        if percent == 0:
            self._loss.pop(direction, None)
        else:
            proto = f" meta l4proto {transport}" if transport else ""
            self._loss[direction] = (
                f'iifname "{d.ingress}" meta nfproto ipv4{proto}'
                f' {loss_expr(percent, deterministic)} counter drop comment "loss {direction}"'
            )
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
        d = _direction(direction)
        verdicts = {
            ("drop", "udp"): "drop",
            ("drop", "tcp"): "drop",
            ("reject", "udp"): "reject with icmpx port-unreachable",
            ("reject", "tcp"): "reject with tcp reset",
        }
        if (action, transport) not in verdicts:
            raise ValueError(f"cannot {action} {transport}")
        self._blocks.append(
            f'iifname "{d.ingress}" meta l4proto {transport} th dport {{ {_ports(ports)} }}'
            f" counter {verdicts[action, transport]}"
        )
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
        subprocess.run(  # absent if the emulator never came up: then this fails, harmlessly
            [
                "ip",
                "-n",
                self.ns["router"],
                "rule",
                "del",
                "iif",
                d.ingress,
                "lookup",
                str(d.table),
            ],
            capture_output=True,
            check=False,
        )
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
        self._loss.clear()
        self._blocks.clear()
        self._load_nft()

    # -- firewall --------------------------------------------------------------------------
    def ruleset(self) -> str:
        """The nft table as loaded (counters are reset whenever it changes)."""
        loss = "\n    ".join(self._loss[k] for k in sorted(self._loss))
        blocks = "\n    ".join(self._blocks)
        return (
            f"table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n"
            "  chain impair {\n    type filter hook forward priority -10; policy accept;\n"
            f"    {loss}\n  }}\n"
            "  chain firewall {\n    type filter hook forward priority 0; policy accept;\n"
            f"    {blocks}\n  }}\n}}\n"
        )

    def _load_nft(self) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.ns["router"], "nft", "-f", "-"],
            input=self.ruleset(),
            text=True,
            capture_output=True,
            check=True,
            timeout=30,
        )

    def dropped(self) -> dict[str, int]:
        """Packets the loss rules dropped since the table was last loaded, per direction."""
        doc = json.loads(
            self.run_in("router", ["nft", "-j", "list", "table", "inet", TABLE]).stdout
        )
        out = {"up": 0, "down": 0}
        for item in doc["nftables"]:
            rule = item.get("rule", {})
            comment = str(rule.get("comment", ""))
            if comment.startswith("loss "):
                for expr in rule["expr"]:
                    if "counter" in expr:
                        out[comment[5:]] = int(expr["counter"]["packets"])
        return out


def readline(stream: IO[str] | None, timeout: float) -> str:
    """One line from a child's pipe, stripped; "" if none came within `timeout` seconds."""
    if stream is None:
        raise ValueError("the stream is not a pipe")
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
    return stream.readline().strip()


def stop_process(proc: subprocess.Popen[str], timeout: float = 5.0) -> tuple[str, str]:
    """SIGTERM, then SIGKILL after `timeout`; returns what it still had on stdout and stderr."""
    if proc.poll() is None:
        proc.terminate()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=timeout)
    return out or "", err or ""

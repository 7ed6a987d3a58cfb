"""The lab router's nftables table: per-direction loss (numgen) and firewall blocks.

The whole table is rebuilt and loaded atomically on every change (`table` / `delete table` /
`table {...}` in one `nft -f`), which also restarts the `numgen inc` counters, so a
deterministic loss pattern starts afresh with each change. Every rule matches on the router's
ingress interface, so a packet that loops through an emulator's TUN device is seen once.
Chain names avoid `fwd`, which is an nft keyword.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TABLE = "netready_lab"
TRANSPORTS = (None, "udp", "tcp", "icmp")
VERDICTS = {
    ("drop", "udp"): "drop",
    ("drop", "tcp"): "drop",
    ("reject", "udp"): "reject with icmpx port-unreachable",
    ("reject", "tcp"): "reject with tcp reset",
}


def loss_expr(percent: float, deterministic: bool) -> str:
    """nft match for `percent` loss: k evenly spread packets in every 1000, or random k/1000.

    The deterministic picks sit mid-slot (2 % drops packets 25, 75, 125, ...), so the first
    packet after a reload is never dropped and a run's loss count is exact.
    """
    k = round(percent * 10)
    if not 0 <= percent <= 100 or abs(k - percent * 10) > 1e-9:
        raise ValueError(f"loss must be 0-100 % in steps of 0.1, not {percent}")
    if not deterministic:
        return f"numgen random mod 1000 < {k}"
    picks = sorted({(2 * j + 1) * 1000 // (2 * k) for j in range(k)})
    return f"numgen inc mod 1000 {{ {', '.join(map(str, picks))} }}"


def port_set(ports: int | str | Iterable[int | str]) -> str:
    """`8636`, `"50000-50100"` or a list of them, as the inside of an nft set."""
    items = [ports] if isinstance(ports, int | str) else list(ports)
    text = ", ".join(str(p) for p in items)
    if not items or not re.fullmatch(r"[0-9]+(-[0-9]+)?(, [0-9]+(-[0-9]+)?)*", text):
        raise ValueError(f"bad ports: {ports!r}")
    return text


@dataclass
class Ruleset:
    """What the table holds; `text()` is the `nft -f` input that loads it."""

    ingress: Mapping[str, str]  # direction ("up", "down") -> router ingress interface
    loss: dict[str, str] = field(default_factory=dict)
    blocks: list[str] = field(default_factory=list)

    def _iif(self, direction: str) -> str:
        if direction not in self.ingress:
            raise ValueError(f"direction must be one of {sorted(self.ingress)}, not {direction!r}")
        return f'iifname "{self.ingress[direction]}"'

    def set_loss(
        self, direction: str, percent: float, deterministic: bool, transport: str | None
    ) -> None:
        """Loss rule of one direction (IPv4; optionally one transport); 0 % removes it."""
        iif = self._iif(direction)
        if transport not in TRANSPORTS:
            raise ValueError(f"bad transport {transport!r}")
        if percent == 0:
            self.loss.pop(direction, None)
            return
        proto = f" meta l4proto {transport}" if transport else ""
        self.loss[direction] = (
            f"{iif} meta nfproto ipv4{proto} {loss_expr(percent, deterministic)}"
            f' counter drop comment "loss {direction}"'
        )

    def add_block(
        self, transport: str, ports: int | str | Iterable[int | str], action: str, direction: str
    ) -> None:
        """Drop or reject (TCP RST / ICMP port unreachable) one direction's traffic to ports."""
        iif = self._iif(direction)
        if (action, transport) not in VERDICTS:
            raise ValueError(f"cannot {action} {transport}")
        self.blocks.append(
            f"{iif} meta l4proto {transport} th dport {{ {port_set(ports)} }}"
            f" counter {VERDICTS[action, transport]}"
        )

    def clear(self) -> None:
        self.loss.clear()
        self.blocks.clear()

    def text(self) -> str:
        seen = [
            f'{self._iif(d)} meta nfproto ipv4 counter comment "seen {d}"' for d in self.ingress
        ]
        impair = "\n    ".join(seen + [self.loss[d] for d in sorted(self.loss)])
        firewall = "\n    ".join(self.blocks)
        return (
            f"table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n"
            "  chain impair {\n    type filter hook forward priority -10; policy accept;\n"
            f"    {impair}\n  }}\n"
            "  chain firewall {\n    type filter hook forward priority 0; policy accept;\n"
            f"    {firewall}\n  }}\n}}\n"
        )


def counters(listing: str, directions: Iterable[str]) -> dict[str, int]:
    """`seen <dir>` and `loss <dir>` packet counters from `nft -j list table inet TABLE`."""
    out = {f"{kind} {d}": 0 for kind in ("seen", "loss") for d in directions}
    for item in json.loads(listing)["nftables"]:
        rule = item.get("rule", {})
        comment = str(rule.get("comment", ""))
        for expr in rule.get("expr", []) if comment in out else []:
            if "counter" in expr:
                out[comment] = int(expr["counter"]["packets"])
    return out

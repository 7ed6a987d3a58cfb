"""What the report says about the machine it ran on, read locally without sending anything."""

from __future__ import annotations

import json
import platform
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any


def _ip_json(*args: str) -> list[dict[str, Any]]:
    """Output of `ip -j ...` (reads kernel state, no traffic); [] when unavailable."""
    ip = shutil.which("ip")
    if ip is None:
        return []
    try:
        out = subprocess.run([ip, "-j", *args], capture_output=True, text=True, timeout=2.0)
        data = json.loads(out.stdout or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    return data if isinstance(data, list) else []


def local_addresses() -> list[str]:
    """Addresses configured on this host's interfaces, as "ADDR/PREFIX (IFNAME)"."""
    found = []
    for link in _ip_json("addr", "show"):
        for info in link.get("addr_info", []):
            found.append(f"{info.get('local')}/{info.get('prefixlen')} ({link.get('ifname')})")
    return found


def default_gateways() -> list[str]:
    """Default routes as "VIA dev IFNAME"; empty when there is none."""
    routes = _ip_json("route", "show", "default") + _ip_json("-6", "route", "show", "default")
    return [f"{r.get('gateway', 'direct')} dev {r.get('dev')}" for r in routes]


def dns_servers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """Name servers the system is configured to use (read from the file, nothing queried)."""
    try:
        lines = resolv_conf.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]


def environment() -> dict[str, Any]:
    """The report's `environment` object; public address and NAT come from later checks."""
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "local_addresses": local_addresses(),
        "gateways": default_gateways(),
        "dns_servers": dns_servers(),
        "public_address": None,
        "nat_behaviour": None,
    }

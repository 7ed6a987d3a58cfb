"""A loopback platform for CLI tests: a real responder on 127.0.0.1 and a profile pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from netready.model import PortRange
from netready.responder.server import Responder, ResponderConfig
from tests.conftest import free_port, free_port_block

PROFILE = """
[profile]
name = "looptest"
title = "loopback test platform"
responder = "127.0.0.1:{stamp}"

[hosts]
pbx = "127.0.0.1"
sip_provider = ""

[targets.delay_ms]
max = 150.0
statistic = "p95"
[targets.jitter_ms]
max = 20.0
statistic = "running_max"
[targets.loss_pct]
below = 1.0
statistic = "whole_run"

[[rules]]
name = "https"
protocol = "HTTPS"
transport = "tcp"
ports = "{tcp}"
host = "pbx"
function = "myPBX client"

[[rules]]
name = "rtp"
protocol = "RTP"
transport = "udp"
ports = "{udp_first}-{udp_last}"
host = "pbx"
function = "voice"

[[rules]]
name = "sip-udp"
protocol = "SIP"
transport = "udp"
ports = "{sip}"
host = "sip_provider"
function = "SIP trunk"
optional = true
condition = "only with a local SIP trunk: give --host sip_provider=ADDR"

[checks."media.voice"]
duration_s = {duration}
quick_duration_s = 1.0
"""


@dataclass(frozen=True)
class Platform:
    """Where the loopback platform listens and the profile that describes it."""

    profile: Path
    stamp_port: int
    tcp_port: int
    udp_first: int
    udp_last: int
    sip_port: int


def write_profile(
    path: Path,
    stamp: int,
    tcp: int,
    udp_first: int,
    udp_last: int,
    sip: int,
    duration: float = 2.0,
    responder: bool = True,
) -> Path:
    """Write the test profile; without `responder` the UDP rules cannot be probed."""
    text = PROFILE.format(
        stamp=stamp, tcp=tcp, udp_first=udp_first, udp_last=udp_last, sip=sip, duration=duration
    )
    if not responder:
        text = text.replace(f'responder = "127.0.0.1:{stamp}"\n', "")
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def loopback_platform(
    tmp: Path, duration: float = 2.0, serve_tcp: bool = True
) -> Iterator[Platform]:
    """Start a real responder on free loopback ports; stop it afterwards."""
    first = free_port_block(20)
    tcp, sip = free_port(), free_port()
    config = ResponderConfig(
        listen="127.0.0.1",
        stamp_port=0,
        udp_ports=(PortRange(first, first + 19), PortRange(sip, sip)),
        tcp_ports=(PortRange(tcp, tcp),) if serve_tcp else (),
    )
    responder = Responder(config, log=lambda _line: None)
    responder.start()
    try:
        stamp = responder.stamp_address[1]
        profile = write_profile(tmp / "looptest.toml", stamp, tcp, first, first + 19, sip, duration)
        yield Platform(profile, stamp, tcp, first, first + 19, sip)
    finally:
        responder.stop()

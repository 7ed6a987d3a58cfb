"""Firewall and TLS checks through an explicit HTTP proxy (issue #4 item 1), on 127.0.0.1.

The proxy is a tiny asyncio CONNECT proxy written here: it tunnels to the ports it allows,
answers `403 Forbidden` for the others and `502 Bad Gateway` when the target refuses.
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from netready.checks.base import RunContext
from netready.checks.firewall import FirewallCheck
from netready.checks.firewall_params import FirewallParams
from netready.checks.tls import TlsCheck
from netready.checks.tls_params import TlsParams
from netready.model import PortRange, Rule, Status
from netready.probes.proxy import parse_proxy, select_proxy
from netready.responder.tls_ports import self_signed_pem
from tests.conftest import free_port


class ConnectProxy:
    """CONNECT proxy on 127.0.0.1: tunnels to `allowed` ports, 403 for every other port."""

    def __init__(self, allowed: set[int]) -> None:
        self.allowed = allowed
        self.requests: list[str] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = header.split(b"\r\n", 1)[0].decode().split(" ", 2)
            self.requests.append(target)
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or int(port) not in self.allowed:
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            try:
                up_r, up_w = await asyncio.open_connection(host, int(port))
            except OSError:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ConnectProxy]:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = int(server.sockets[0].getsockname()[1])
        async with server:
            yield self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except OSError:
        pass
    finally:
        dst.close()


async def _http_204(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A TLS 'platform': answers any request with 204."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


@pytest.fixture(scope="module")
def tls_context() -> Iterator[ssl.SSLContext]:
    cert, key = self_signed_pem("proxy-test-platform", "127.0.0.1")
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "c.pem").write_bytes(cert)
        (Path(d) / "k.pem").write_bytes(key)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(Path(d) / "c.pem", Path(d) / "k.pem")
        yield ctx


def _rule(ports: list[int], verify: str = "connect") -> Rule:
    ranges = tuple(PortRange(p, p) for p in ports)
    return Rule("r", "HTTPS", "tcp", ranges, "pbx", "test function", verify, tls=True)


def _ctx() -> RunContext:
    return RunContext(progress=lambda _f, _t: None)


def test_select_proxy_env_no_proxy_and_profile() -> None:
    env = {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "localhost,.corp,10.0.0.0/8"}
    chosen = select_proxy("", "203.0.113.2", env)
    assert chosen is not None and (chosen.label, chosen.source) == (
        "proxy.example:3128",
        "HTTPS_PROXY",
    )
    assert select_proxy("", "10.1.2.3", env) is None
    assert select_proxy("", "pbx.corp", env) is None
    assert select_proxy("", "corp", env) is None
    assert select_proxy("", "pbx.example", {"all_proxy": "10.0.0.1"}) is not None
    assert select_proxy("", "x", {"ALL_PROXY": "http://p:1", "no_proxy": "*"}) is None
    assert select_proxy("", "x", {}) is None
    profile = select_proxy("http://127.0.0.1:8080", "10.1.2.3", env)
    assert profile is not None and (profile.label, profile.source) == ("127.0.0.1:8080", "profile")
    assert parse_proxy("http://p").port == 1080
    with pytest.raises(ValueError, match="only http://"):
        parse_proxy("socks5://p:1080")


def test_firewall_tcp_through_proxy_403_blocked_by_proxy() -> None:
    asyncio.run(_firewall_tcp_through_proxy())


async def _firewall_tcp_through_proxy() -> None:
    async def idle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    listener = await asyncio.start_server(idle, "127.0.0.1", 0)
    allowed = int(listener.sockets[0].getsockname()[1])
    refused, unreachable = free_port(), free_port()
    while unreachable in (refused, allowed):  # the kernel may hand out one port twice
        unreachable = free_port()
    async with listener, ConnectProxy({allowed, unreachable}).running() as proxy:
        params = FirewallParams(
            rule=_rule([allowed, refused, unreachable]), address="127.0.0.1", proxy=proxy.url
        )
        result = await FirewallCheck().run("firewall.r", params, _ctx())
    assert result.method == "http-connect via proxy"
    assert result.evidence["proxy"] == f"127.0.0.1:{proxy.port}"
    assert result.evidence["ports"]["open"] == str(allowed)
    assert result.status == Status.FAIL
    states = result.evidence["port_states"]
    assert states[str(refused)]["status_line"] == "HTTP/1.1 403 Forbidden"
    assert states[str(unreachable)]["status_line"] == "HTTP/1.1 502 Bad Gateway"
    assert f"blocked by the proxy 127.0.0.1:{proxy.port}" in result.reason
    assert f"{refused}: HTTP/1.1 403 Forbidden" in result.reason
    assert "CONNECT" in result.remediation and "CONNECT" in result.evidence["remediation_de"]
    assert sorted(proxy.requests) == sorted(
        f"127.0.0.1:{p}" for p in (allowed, refused, unreachable)
    )


def test_firewall_uses_env_proxy_unless_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_env_proxy(monkeypatch))


async def _env_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    async def idle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    listener = await asyncio.start_server(idle, "127.0.0.1", 0)
    port = int(listener.sockets[0].getsockname()[1])
    async with listener, ConnectProxy({port}).running() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        params = FirewallParams(rule=_rule([port]), address="127.0.0.1")
        via = await FirewallCheck().run("firewall.r", params, _ctx())
        monkeypatch.setenv("NO_PROXY", "127.0.0.0/8")
        direct = await FirewallCheck().run("firewall.r", params, _ctx())
    assert (via.status, via.method, via.evidence["proxy_source"]) == (
        Status.PASS, "http-connect via proxy", "HTTPS_PROXY",
    )  # fmt: skip
    assert (direct.status, direct.method) == (Status.PASS, "tcp-connect")
    assert "proxy" not in direct.evidence
    assert proxy.requests == [f"127.0.0.1:{port}"]


def test_tls_handshake_and_status_line_through_proxy(tls_context: ssl.SSLContext) -> None:
    asyncio.run(_tls_through_proxy(tls_context))


async def _tls_through_proxy(tls_context: ssl.SSLContext) -> None:
    server = await asyncio.start_server(_http_204, "127.0.0.1", 0, ssl=tls_context)
    port = int(server.sockets[0].getsockname()[1])
    refused = free_port()
    async with server, ConnectProxy({port}).running() as proxy:
        params = TlsParams(
            rule=_rule([port, refused], "https"),
            address="127.0.0.1",
            proxy=proxy.url,
            expect_issuer="proxy-test-platform",
        )
        result = await TlsCheck().run("tls.r", params, _ctx())
    assert result.method == "tls-handshake + GET / through http-connect via proxy"
    assert result.evidence["proxy"] == f"127.0.0.1:{proxy.port}"
    ok = result.evidence["per_port"][str(port)]
    assert (ok["handshake"], ok["http_status"], ok["interception"]) == (
        "ok", "HTTP/1.1 204 No Content", False,
    )  # fmt: skip
    assert "proxy-test-platform" in ok["issuer"]
    assert ok["verified_by_system_cas"] is False  # self-signed: the second tunnel verified it
    denied = result.evidence["per_port"][str(refused)]
    assert denied["handshake"] == "not_connected"
    assert "403 Forbidden" in denied["error"]
    assert result.status == Status.NOT_TESTED
    assert proxy.requests.count(f"127.0.0.1:{port}") == 2  # handshake + verifying handshake

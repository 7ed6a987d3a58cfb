"""TLS probe: handshake with one port, capture what the server presents, optionally GET /.

What is captured, and how:

* the first handshake runs with verification OFF, so whatever certificate the path
  presents (the platform's, or a TLS-inspecting firewall's) is seen and recorded:
  negotiated record protocol version (`TLSv1.3`), cipher suite, ALPN;
* the certificate chain *as sent by the server*: on Python 3.13+ through the public
  `SSLSocket.get_unverified_chain()`; on 3.10-3.12 through the same method of the
  underlying `_ssl` object when it has it; otherwise only the leaf
  (`getpeercert(binary_form=True)`). Each entry is parsed with `cryptography.x509`:
  subject, issuer (RFC 4514 strings), SHA-256 fingerprint of the DER bytes,
  not_before/not_after (UTC, ISO 8601) and the subject alternative names;
* whether the chain verifies against the system CA store: a second, verifying
  handshake to the same address and port (hostname checked only when a server
  name is given). No other host is contacted;
* with `http_request`, one `GET / HTTP/1.1` (Host, `Connection: close`) on the first
  connection, and the status line of the answer.

The pure helpers (`format_fingerprint`, `normalize_fingerprint`, `interception`) hold
the decisions and are unit-tested without a network.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cryptography import x509

from netready.probes.errors import error_words

#: `_ssl.ENCODING_DER`: what `Certificate.public_bytes` takes for DER output.
_DER = getattr(getattr(ssl, "_ssl", None), "ENCODING_DER", 2)
#: OpenSSL reasons in words.
#: Bytes read at most while looking for the HTTP status line.
MAX_STATUS_BYTES = 8192


@dataclass(frozen=True)
class CertInfo:
    """One certificate as presented: names, fingerprint, validity, SANs."""

    subject: str
    issuer: str
    sha256: str  # "AB:CD:..." (upper-case hex pairs)
    not_before: str  # ISO 8601, UTC
    not_after: str
    sans: tuple[str, ...] = ()  # "DNS:name", "IP:addr"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for a report's evidence."""
        d = asdict(self)
        d["sans"] = list(self.sans)
        return d


@dataclass(frozen=True)
class TlsProbeResult:
    """What one TLS port did. `connected` False: TCP never connected (TLS not tried)."""

    address: str
    port: int
    connected: bool = False
    handshake_ok: bool = False
    error: str = ""  # the TCP or TLS failure, in words
    version: str = ""  # e.g. "TLSv1.3"
    cipher: str = ""
    alpn: str = ""
    chain: tuple[CertInfo, ...] = ()  # leaf first, as sent by the server
    chain_source: str = ""  # "unverified-chain" (all sent) or "leaf-only"
    verified: bool | None = None  # against the system CA store; None = not tried
    verify_error: str = ""
    http_status: str = ""  # e.g. "HTTP/1.1 200 OK" ("" = not asked or no answer)
    http_error: str = ""
    handshake_ms: float | None = None

    @property
    def leaf(self) -> CertInfo | None:
        """The server's own certificate, if one was seen."""
        return self.chain[0] if self.chain else None


# ---- pure helpers ----


def format_fingerprint(der: bytes) -> str:
    """SHA-256 of DER bytes as upper-case hex pairs joined by colons ("AB:CD:...")."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalize_fingerprint(text: str) -> str:
    """Lower-case hex without separators: 'AB:cd 01' -> 'abcd01' (for comparisons)."""
    return "".join(c for c in text.lower() if c in "0123456789abcdef")


def interception(
    leaf: CertInfo | None, expect_issuer: str = "", expect_sha256: Sequence[str] = ()
) -> str:
    """Why the leaf does not match the profile's pins ('' when it does or nothing is pinned).

    `expect_issuer` must occur in the leaf's issuer (case-insensitive); `expect_sha256`
    lists accepted leaf fingerprints (any hex spelling). A missing leaf never matches a pin.
    """
    if not expect_issuer and not expect_sha256:
        return ""
    if leaf is None:
        return "no certificate was presented"
    if expect_issuer and expect_issuer.lower() not in leaf.issuer.lower():
        return f"issuer '{leaf.issuer}' does not contain '{expect_issuer}'"
    accepted = {normalize_fingerprint(f) for f in expect_sha256}
    if accepted and normalize_fingerprint(leaf.sha256) not in accepted:
        return f"fingerprint {leaf.sha256} is not one of the {len(accepted)} pinned"
    return ""


def cert_info(der: bytes) -> CertInfo:
    """Parse one DER certificate into a CertInfo."""
    cert = x509.load_der_x509_certificate(der)
    sans: list[str] = []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans += [f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)]
        sans += [f"IP:{a}" for a in ext.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sha256=format_fingerprint(der),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        sans=tuple(sans),
    )


def host_header(address: str, port: int, server_name: str | None) -> str:
    """The Host header value: name or address (IPv6 in brackets), port unless 443."""
    host = server_name or address
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return host if port == 443 else f"{host}:{port}"


# ---- the blocking probe (run in a worker thread) ----


def unverified_context(alpn: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def presented_chain(tls: ssl.SSLSocket) -> tuple[tuple[CertInfo, ...], str]:
    """The chain as sent (leaf first) where Python exposes it, else the leaf alone."""
    getter = getattr(tls, "get_unverified_chain", None)  # public on 3.13+
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        try:
            certs = getter() or []
            ders = [c if isinstance(c, bytes) else c.public_bytes(_DER) for c in certs]
            if ders:
                return tuple(cert_info(d) for d in ders), "unverified-chain"
        except (AttributeError, ValueError, ssl.SSLError):
            pass
    der = tls.getpeercert(binary_form=True)
    return ((cert_info(der),) if der else ()), "leaf-only"


def http_status_line(tls: ssl.SSLSocket, host: str, timeout_s: float) -> tuple[str, str]:
    """(status line, '') or ('', error) for one GET / on an established TLS connection."""
    request = (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: netready\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    )
    tls.settimeout(timeout_s)
    data = b""
    try:
        tls.sendall(request.encode("ascii"))
        while b"\r\n" not in data and len(data) < MAX_STATUS_BYTES:
            chunk = tls.recv(MAX_STATUS_BYTES - len(data))
            if not chunk:
                break
            data += chunk
    except (OSError, ssl.SSLError) as exc:
        if not data:
            return "", f"HTTP request failed: {error_words(exc)}"
    line = data.split(b"\r\n", 1)[0].decode("latin-1").strip()
    if not line:
        return "", "the server closed without an HTTP answer"
    if not line.startswith("HTTP/"):
        return "", f"not an HTTP answer: {line[:80]!r}"
    return line, ""


def _verify(address: str, port: int, server_name: str | None, timeout_s: float) -> tuple[bool, str]:
    """A second handshake that verifies against the system CA store."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = bool(server_name)
    try:
        with (
            socket.create_connection((address, port), timeout=timeout_s) as raw,
            ctx.wrap_socket(raw, server_hostname=server_name),
        ):
            return True, ""
    except (OSError, ssl.SSLError) as exc:
        return False, error_words(exc)


def probe_tls_blocking(
    address: str,
    port: int,
    server_name: str | None = None,
    timeout_s: float = 5.0,
    http_request: bool = False,
) -> TlsProbeResult:
    """The probe itself, with blocking sockets (see `probe_tls`)."""
    base: dict[str, Any] = {"address": address, "port": port}
    try:
        raw = socket.create_connection((address, port), timeout=timeout_s)
    except OSError as exc:
        return TlsProbeResult(**base, error=f"TCP connect failed: {error_words(exc)}")
    started = time.perf_counter()
    with raw:
        try:
            tls = unverified_context(http_request).wrap_socket(raw, server_hostname=server_name)
        except (OSError, ssl.SSLError) as exc:
            return TlsProbeResult(**base, connected=True, error=error_words(exc))
        with tls:
            handshake_ms = (time.perf_counter() - started) * 1000
            cipher = tls.cipher()
            chain, source = presented_chain(tls)
            status, http_error = "", ""
            if http_request:
                status, http_error = http_status_line(
                    tls, host_header(address, port, server_name), timeout_s
                )
            result = TlsProbeResult(
                **base,
                connected=True,
                handshake_ok=True,
                version=tls.version() or "",
                cipher=cipher[0] if cipher else "",
                alpn=tls.selected_alpn_protocol() or "",
                chain=chain,
                chain_source=source,
                http_status=status,
                http_error=http_error,
                handshake_ms=round(handshake_ms, 3),
            )
    verified, verify_error = _verify(address, port, server_name, timeout_s)
    return dataclasses.replace(result, verified=verified, verify_error=verify_error)


async def probe_tls(
    address: str,
    port: int,
    server_name: str | None = None,
    timeout_s: float = 5.0,
    http_request: bool = False,
) -> TlsProbeResult:
    """Connect to address:port, handshake TLS without verification, capture the chain.

    `server_name` is sent as SNI (and checked by the verifying handshake); with
    `http_request`, one GET / is sent and the status line reported. Never raises for
    network failures: they are in `connected`, `handshake_ok` and `error`.
    """
    return await asyncio.to_thread(
        probe_tls_blocking, address, port, server_name, timeout_s, http_request
    )

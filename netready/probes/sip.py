"""A small SIP codec (RFC 3261): build OPTIONS requests, parse messages, diff two messages.

No sockets here. `build_options` makes the OPTIONS "ping" of PROTOCOLS.md §6.2 and, for
SIP ALG detection, the same request carrying recognisable private addresses in Via,
Contact and an SDP body. `parse_message` splits any SIP message into start line,
headers and body; `diff_messages` compares what was sent with what the responder echoed
and names every header or SDP line a box on the path rewrote, added or removed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

#: The responder's SIP echo answers with the request base64-encoded under this type.
ECHO_CONTENT_TYPE = "application/x-netready-echo"
#: Headers the echo's `200 OK` copies from the request (RFC 3261 §8.2.6.2).
ECHO_COPIED = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")
#: The echo's own lines (status line, Server, Content-Type, Content-Length, line ends)
#: at most, and room for an ALG that lengthens the addresses it rewrites.
ECHO_REPLY_FIXED = 160
ECHO_PAD_SLACK = 64
#: Padding the ALG probe carries so that the echo's answer is never larger than the
#: request (a UDP echo must not amplify); the responder removes it before echoing.
PAD_HEADER = "X-Netready-Pad"
#: A PAD_HEADER line with the line break before it (it is never the start line).
_PAD_LINE = re.compile(rb"\r?\n[ \t]*" + PAD_HEADER.encode() + rb"[ \t]*:[^\r\n]*", re.IGNORECASE)

#: Decoy addresses: a private address that is not the host's, and a TEST-NET-1 address.
DECOY_PRIVATE = "10.255.255.1"
DECOY_TESTNET = "192.0.2.1"
#: The SDP audio port of the probe (an ALG that opens pinholes often renumbers it).
PROBE_MEDIA_PORT = 49170
#: Largest message we parse (headers + body); more is cut off.
MAX_MESSAGE = 65535

#: Compact header forms (RFC 3261 §7.3.3 and extensions) -> canonical names.
COMPACT = {
    "v": "via",
    "m": "contact",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
}


@dataclass(frozen=True)
class SipMessage:
    """A parsed SIP message: start line, headers in order (name as sent, value), body."""

    start_line: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        """True for a status line ("SIP/2.0 200 OK")."""
        return self.start_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        """The status code of a response, 0 for a request or a bad status line."""
        parts = self.start_line.split(" ", 2)
        if self.is_response and len(parts) >= 2 and parts[1].isdigit():
            return int(parts[1])
        return 0

    def header(self, name: str) -> str:
        """The first value of a header (compact forms accepted), "" if absent."""
        want = canonical(name)
        return next((v for n, v in self.headers if canonical(n) == want), "")


@dataclass(frozen=True)
class Change:
    """One difference between a sent and a received message."""

    field: str  # "Contact", "Via[2]", "SDP c=", "start line", "header order"
    before: str  # "" when added
    after: str  # "" when removed

    def describe(self) -> str:
        """The change in words, e.g. "Contact rewritten from <sip:a@10.0.0.1> to <...>"."""
        if not self.before:
            return f"{self.field} added: {self.after}"
        if not self.after:
            return f"{self.field} removed (was {self.before})"
        return f"{self.field} rewritten from {self.before} to {self.after}"


@dataclass(frozen=True)
class Probe:
    """A built request and the values that identify its answer."""

    data: bytes
    call_id: str
    branch: str
    lan_address: str = ""
    decoys: tuple[str, ...] = field(default=())


def canonical(name: str) -> str:
    """Lower-case header name with compact forms expanded ("m" -> "contact")."""
    low = name.strip().lower()
    return COMPACT.get(low, low)


def _host(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def build_options(
    target_host: str,
    target_port: int,
    transport: str,
    local_ip: str,
    local_port: int,
    alg_probe: bool = False,
    lan_address: str = "",
) -> Probe:
    """An OPTIONS request; with `alg_probe`, private addresses in Contact and an SDP body.

    `transport` is "UDP", "TCP" or "TLS" (the Via transport). `lan_address` is the private
    address written into Contact and SDP (default: the decoy 10.255.255.1).
    """
    nonce = secrets.token_hex(8)
    branch = "z9hG4bK-nr" + nonce
    call_id = f"nr-{nonce}@{_host(local_ip)}"
    lan = lan_address or DECOY_PRIVATE
    uri = f"sip:probe@{_host(target_host)}:{target_port}"
    user = "netready-alg" if alg_probe else "netready"
    contact = (
        f"<sip:{user}@{_host(lan)}:5060>"
        if alg_probe
        else (f"<sip:{user}@{_host(local_ip)}:{local_port}>")
    )
    lines = [
        f"OPTIONS {uri} SIP/2.0",
        f"Via: SIP/2.0/{transport.upper()} {_host(local_ip)}:{local_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{_host(lan if alg_probe else local_ip)}>;tag={nonce[:8]}",
        f"To: <{uri}>",
        f"Call-ID: {call_id}",
        "CSeq: 1 OPTIONS",
        f"Contact: {contact}",
        "User-Agent: netready",
    ]
    body = b""
    if alg_probe:
        sdp = [
            "v=0",
            f"o=netready {int(nonce[:6], 16)} 1 IN IP4 {lan}",
            "s=netready SIP ALG probe",
            f"c=IN IP4 {lan}",
            "t=0 0",
            f"m=audio {PROBE_MEDIA_PORT} RTP/AVP 0 8",
            f"a=rtcp:{PROBE_MEDIA_PORT + 1} IN IP4 {DECOY_TESTNET}",
            "a=sendrecv",
        ]
        body = ("\r\n".join(sdp) + "\r\n").encode()
        lines.append("Content-Type: application/sdp")
    else:
        lines.append("Accept: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    if alg_probe:
        data = pad_for_echo(data)
    decoys = (lan, DECOY_TESTNET) if alg_probe else ()
    return Probe(data, call_id, branch, lan if alg_probe else "", decoys)


def echo_reply_bound(request: bytes) -> int:
    """The most bytes the responder's echo answers `request` (without padding) with."""
    head = (split_head(request) or (request, b""))[0]
    copied = 0
    for line in head.split(b"\n")[1:]:
        name, sep, _value = line.partition(b":")
        if sep and name.strip().lower().decode("latin-1") in ECHO_COPIED:
            copied += len(line) + 2
    return copied + 4 * ((len(request) + 2) // 3) + ECHO_REPLY_FIXED


def pad_for_echo(request: bytes) -> bytes:
    """`request` with a PAD_HEADER line, so that it is at least as long as its echo.

    The header goes last in the head; the responder ignores it (`strip_echo_padding`)
    and the client compares the echo with the request without it.
    """
    parts = split_head(request)
    if parts is None:
        return request
    head, body = parts
    need = echo_reply_bound(request) + ECHO_PAD_SLACK - len(request)
    line = f"\r\n{PAD_HEADER}: ".encode()
    pad = b"0" * max(1, need - len(line))
    return head + line + pad + b"\r\n\r\n" + body


def strip_echo_padding(request: bytes) -> bytes:
    """`request` without its PAD_HEADER lines (the head only; the body is untouched)."""
    parts = split_head(request)
    if parts is None or PAD_HEADER.lower().encode() not in parts[0].lower():
        return request
    head = parts[0]
    return _PAD_LINE.sub(b"", head) + request[len(head) :]


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """(head, rest) at the first blank line, or None when the head is not complete yet."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = data.find(sep)
        if idx >= 0:
            return data[:idx], data[idx + len(sep) :]
    return None


def parse_message(data: bytes) -> SipMessage:
    """Parse a SIP message; raises ValueError for something that is not one.

    Folded header lines are joined, the body is what follows the blank line (cut to
    Content-Length when that header is present and valid).
    """
    parts = split_head(data[:MAX_MESSAGE])
    if parts is None:
        head, body = data[:MAX_MESSAGE], b""
    else:
        head, body = parts
    text = head.decode("utf-8", errors="replace")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    if not (start.startswith("SIP/2.0 ") or start.endswith(" SIP/2.0")):
        raise ValueError(f"not a SIP message: {start[:60]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers.append((name.strip(), value.strip()))
    msg = SipMessage(start, tuple(headers), body)
    length = msg.header("content-length")
    if length.isdigit():
        body = body[: int(length)]
    return SipMessage(start, tuple(headers), body)


def content_length(head: bytes) -> int | None:
    """The Content-Length of a message head, None if absent or not a number."""
    for line in head.decode("latin-1").split("\n"):
        name, sep, value = line.partition(":")
        if sep and canonical(name) == "content-length":
            value = value.strip()
            return int(value) if value.isdigit() else None
    return None


def _indexed(headers: tuple[tuple[str, str], ...]) -> dict[tuple[str, int], tuple[str, str]]:
    """(canonical name, occurrence) -> (name as sent, value)."""
    seen: dict[str, int] = {}
    out: dict[tuple[str, int], tuple[str, str]] = {}
    for name, value in headers:
        key = canonical(name)
        seen[key] = seen.get(key, 0) + 1
        out[(key, seen[key])] = (name, value)
    return out


def _label(name: str, index: int, count: int) -> str:
    return f"{name}[{index}]" if count > 1 or index > 1 else name


def _sdp_lines(body: bytes) -> dict[str, str]:
    """SDP lines keyed by type and occurrence ("c=", "a=#2", ...)."""
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for line in body.decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n"):
        if len(line) < 2 or line[1] != "=":
            continue
        kind = line[:2]
        seen[kind] = seen.get(kind, 0) + 1
        key = kind if seen[kind] == 1 else f"{kind}#{seen[kind]}"
        out[key] = line[2:]
    return out


def diff_messages(sent: SipMessage, got: SipMessage) -> list[Change]:
    """Every difference: start line, each header by name and occurrence, order, SDP lines."""
    changes: list[Change] = []
    if sent.start_line != got.start_line:
        changes.append(Change("start line", sent.start_line, got.start_line))
    a, b = _indexed(sent.headers), _indexed(got.headers)
    counts = {k[0]: max(i for n, i in list(a) + list(b) if n == k[0]) for k in list(a) + list(b)}
    for key in list(a) + [k for k in b if k not in a]:
        name = (a.get(key) or b[key])[0]
        label = _label(name, key[1], counts[key[0]])
        before, after = a.get(key, ("", ""))[1], b.get(key, ("", ""))[1]
        if key in a and key in b and a[key][0] != b[key][0] and before == after:
            changes.append(Change(f"{name} header name", a[key][0], b[key][0]))
        elif before != after:
            changes.append(Change(label, before, after))
    common = [k for k in a if k in b]
    if common != [k for k in b if k in a]:
        changes.append(
            Change(
                "header order",
                ", ".join(a[k][0] for k in common),
                ", ".join(b[k][0] for k in b if k in a),
            )
        )
    if sent.body != got.body:
        sa, sb = _sdp_lines(sent.body), _sdp_lines(got.body)
        keys = list(sa) + [k for k in sb if k not in sa]
        line_changes = [
            Change(f"SDP {k.split('#')[0]}", sa.get(k, ""), sb.get(k, ""))
            for k in keys
            if sa.get(k, "") != sb.get(k, "")
        ]
        changes += line_changes or [
            Change("body", f"{len(sent.body)} bytes", f"{len(got.body)} bytes")
        ]
    return changes

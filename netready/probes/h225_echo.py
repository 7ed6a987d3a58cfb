"""The H.323 echo's answer (sans-IO): a Q.931 RELEASE COMPLETE carrying a SETUP as hex text.

The responder (`netready.responder.h323_echo`) answers one TPKT-framed Q.931 SETUP with
`build_echo_reply`; the check reads it with `parse_echo_reply`. The answer is valid
H.225 (a `releaseComplete` UUIE whose H323-UU-PDU `nonStandardData` holds
`netready-h323-echo/1 <peer as hex> <received bytes as hex>`), so a middlebox that
inspects H.323 lets it through, but the echoed SETUP in it is **not** a parseable H.225
structure: an ALG parses answers too, and the Linux helper would otherwise rewrite the
echoed addresses again on the way back, hiding its own rewrite. Hex also keeps every
binary IPv4 address out of the answer, so an ALG that replaces address bytes wherever
it finds them cannot undo its rewrite either. The peer is the TCP source address the
responder saw (the site's public address behind a NAT).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from netready.probes.h225 import (
    H225_VERSION,
    UU_PD_X208,
    put_oid,
    put_uu_pdu_tail,
    user_user_reader,
)
from netready.probes.per import PerWriter
from netready.probes.q931 import (
    IE_CAUSE,
    IE_USER_USER,
    MSG_RELEASE_COMPLETE,
    MSG_SETUP,
    parse_q931,
    q931_message,
    split_tpkt,
    tpkt,
)

ECHO_TAG = b"netready-h323-echo/1"
#: T.35 "extension" country code and "NR": a marker, not a registered manufacturer.
ECHO_T35 = (0xFF, 0x00, 0x4E52)
#: The answer is at most 2 x request + REPLY_OVERHEAD bytes.
REPLY_OVERHEAD = 200


@dataclass(frozen=True)
class EchoReply:
    """What the responder answered: the bytes it received and the peer it saw."""

    echoed: bytes
    peer: str  # "ip:port" of the TCP connection as the responder saw it


def _peer_bytes(peer: tuple[str, int]) -> bytes:
    return ipaddress.ip_address(peer[0]).packed + int(peer[1]).to_bytes(2, "big")


def build_echo_reply(request: bytes, peer: tuple[str, int]) -> bytes | None:
    """The RELEASE COMPLETE echoing `request` (one TPKT-framed Q.931 SETUP), or None.

    Anything but exactly one TPKT frame holding a Q.931 SETUP gets no answer. The reply
    is at most 2 x len(request) + REPLY_OVERHEAD bytes.
    """
    try:
        parts = split_tpkt(request)
        if parts is None or parts[1]:
            return None
        q931 = parse_q931(parts[0])
        text = ECHO_TAG + b" " + _peer_bytes(peer).hex().encode() + b" " + request.hex().encode()
    except (ValueError, OverflowError):
        return None
    if q931.message_type != MSG_SETUP or not q931.call_reference:
        return None
    w = PerWriter()
    w.bits(0, 1)  # H323-UserInformation: no extensions
    w.bits(0, 1)  # no user-data
    w.bits(1, 1)  # H323-UU-PDU: extension additions follow
    w.bits(1, 1)  # nonStandardData present (carries the echo)
    w.bits(0, 1)
    w.bits(5, 3)  # releaseComplete
    w.bits(1, 1)  # ReleaseComplete-UUIE: extension additions follow
    w.bits(0, 1)  # no reason
    put_oid(w, H225_VERSION)
    w.small_length(1)  # callIdentifier (a zero GUID: this is no call)
    w.bits(1, 1)
    w.align()
    w.open_type(b"\x00" + bytes(16))
    w.bits(0, 1)  # NonStandardIdentifier: root alternative ...
    w.bits(1, 1)  # ... h221NonStandard
    w.bits(0, 1)  # H221NonStandard: no extensions
    country, extension, manufacturer = ECHO_T35
    w.octets(bytes([country, extension]) + manufacturer.to_bytes(2, "big"))
    try:
        w.length(len(text))
    except ValueError:
        return None
    w.octets(text)
    put_uu_pdu_tail(w)
    uuie = bytes([UU_PD_X208]) + w.done()
    crv = bytes([q931.call_reference[0] ^ 0x80]) + q931.call_reference[1:]
    cause = b"\x80\x90"  # ITU-T coding, user location; cause 16 "normal call clearing"
    try:
        elements = [(IE_CAUSE, cause), (IE_USER_USER, uuie)]
        reply = tpkt(q931_message(crv, MSG_RELEASE_COMPLETE, elements))
    except ValueError:
        return None
    return reply if len(reply) <= 2 * len(request) + REPLY_OVERHEAD else None


def parse_echo_reply(data: bytes) -> EchoReply:
    """The echoed bytes and peer from a responder's RELEASE COMPLETE; ValueError otherwise."""
    parts = split_tpkt(data)
    if parts is None:
        raise ValueError("incomplete TPKT frame")
    q931 = parse_q931(parts[0])
    if q931.message_type != MSG_RELEASE_COMPLETE:
        raise ValueError(f"Q.931 message type 0x{q931.message_type:02x} is no echo")
    r = user_user_reader(q931)
    r.bits(3)
    if not r.bit():
        raise ValueError("no nonStandardData: not a netready echo")
    if r.bit() or r.bits(3) != 5:
        raise ValueError("the H.225 message body is not releaseComplete")
    extended = r.bit()
    if r.bit():
        raise ValueError("release reasons are not expected in an echo")
    r.octets(r.length())  # protocolIdentifier
    if extended:
        r.skip_extensions()
    if r.bit() or not r.bit():
        raise ValueError("the nonStandardIdentifier is not H.221")
    if r.bit():
        raise ValueError("unexpected H221NonStandard extensions")
    r.octets(4)
    tag, _, rest = r.octets(r.length()).partition(b" ")
    peer_hex, _, echo_hex = rest.partition(b" ")
    if tag != ECHO_TAG:
        raise ValueError("not a netready H.323 echo")
    try:
        peer, echoed = (
            bytes.fromhex(peer_hex.decode("ascii")),
            bytes.fromhex(echo_hex.decode("ascii")),
        )
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the echo is not hex") from None
    if len(peer) not in (6, 18):
        raise ValueError("bad peer address in the echo")
    address = ipaddress.ip_address(peer[:-2])
    port = int.from_bytes(peer[-2:], "big")
    where = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
    return EchoReply(echoed, where)

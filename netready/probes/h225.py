"""H.225.0 call signalling codec (sans-IO) for H.323 ALG detection.

Two things, no sockets:

* `build_setup`: one TPKT (RFC 1006) frame holding a Q.931 SETUP whose User-user
  information element carries an H.225.0 `H323-UserInformation` / `Setup-UUIE` in ASN.1
  aligned PER (`netready.probes.per`; protocol version 2, `0.0.8.2250.0.2`). It names IPv4
  transport addresses in `sourceCallSignalAddress`, `destCallSignalAddress`, `h245Address`
  and one fastStart `OpenLogicalChannel` (G.711 u-law, RTP `mediaChannel` and RTCP
  `mediaControlChannel`): exactly the fields an H.323 ALG rewrites (the Linux
  `nf_conntrack_h323`/`nf_nat_h323` helper does so in place, same length, when the
  address is the sender's own). The extension additions stop after `canOverlapSend`
  (the end of version 2), so a decoder that stops at a later field (Linux stops at
  `endpointIdentifier` and would then lose its place in the rest of the PDU) still sees
  the whole message; the whole message must also travel in one TCP segment.
* `parse_setup`: decodes such a message again (the subset `build_setup` emits; anything
  else is a ValueError) and returns the transport addresses by field name, for the diff
  (`diff_addresses`).

The responder's answer, which carries the received SETUP back, is `netready.probes.h225_echo`.
Every parser raises only ValueError for bad input.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field

from netready.probes.per import PerReader, PerWriter
from netready.probes.q931 import (
    IE_BEARER,
    IE_DISPLAY,
    IE_USER_USER,
    MSG_SETUP,
    Q931Message,
    parse_q931,
    q931_message,
    split_tpkt,
    tpkt,
)

UU_PD_X208 = 0x05  # user information coded as an ASN.1 (X.208/X.209) structure
H225_VERSION = (0, 0, 8, 2250, 0, 2)

SOURCE = "sourceCallSignalAddress"
DEST = "destCallSignalAddress"
H245 = "h245Address"
RTP = "fastStart.mediaChannel"
RTCP = "fastStart.mediaControlChannel"
FIELD_ORDER = (SOURCE, DEST, H245, RTP, RTCP)


@dataclass(frozen=True)
class Endpoint:
    """An IPv4 transport address as H.225 carries it (4 address octets, 2 port octets)."""

    ip: str
    port: int

    def __post_init__(self) -> None:
        ipaddress.IPv4Address(self.ip)  # ValueError for anything else
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 0-65535")

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"

    def pack(self) -> bytes:
        """The six octets: address, then port in network order."""
        return ipaddress.IPv4Address(self.ip).packed + self.port.to_bytes(2, "big")

    @classmethod
    def unpack(cls, six: bytes) -> Endpoint:
        """The inverse of `pack`."""
        if len(six) != 6:
            raise ValueError("a transport address is 6 octets")
        return cls(str(ipaddress.IPv4Address(six[:4])), int.from_bytes(six[4:], "big"))


@dataclass(frozen=True)
class SetupProbe:
    """A built SETUP: the bytes to send and the addresses they carry, by field name."""

    data: bytes
    call_reference: int
    conference_id: bytes
    addresses: dict[str, Endpoint] = field(default_factory=dict)


@dataclass(frozen=True)
class SetupInfo:
    """What `parse_setup` found in a SETUP."""

    call_reference: bytes
    conference_id: bytes
    addresses: dict[str, Endpoint]


@dataclass(frozen=True)
class Change:
    """One transport address that differs between the sent and the received SETUP."""

    field: str
    before: str  # "" when the field was added
    after: str  # "" when it was removed

    def describe(self) -> str:
        """The change in words, e.g. "h245Address rewritten from a:1 to b:2"."""
        if not self.before:
            return f"{self.field} added: {self.after}"
        if not self.after:
            return f"{self.field} removed (was {self.before})"
        return f"{self.field} rewritten from {self.before} to {self.after}"


# ---- encoding --------------------------------------------------------------------------------


def _oid(arcs: tuple[int, ...]) -> bytes:
    """BER contents of an OBJECT IDENTIFIER."""
    out = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | arc & 0x7F)
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def put_oid(w: PerWriter, arcs: tuple[int, ...]) -> None:
    """An OBJECT IDENTIFIER in PER: a length octet, then the BER contents."""
    body = _oid(arcs)
    w.length(len(body))
    w.octets(body)


def _put_transport(w: PerWriter, ep: Endpoint) -> None:
    """H.225 TransportAddress: CHOICE ipAddress (index 0 of 7, extensible)."""
    w.bits(0, 1)
    w.bits(0, 3)
    w.octets(ep.pack())  # ip OCTET STRING (SIZE(4)), then port INTEGER (0..65535)


def _put_h245_address(w: PerWriter, ep: Endpoint) -> None:
    """H.245 TransportAddress: unicastAddress, iPAddress {network, tsapIdentifier}."""
    w.bits(0, 1)  # extension bit of TransportAddress
    w.bits(0, 1)  # unicastAddress (of 2)
    w.bits(0, 1)  # extension bit of UnicastAddress
    w.bits(0, 3)  # iPAddress (of 5)
    w.bits(0, 1)  # extension bit of the iPAddress SEQUENCE
    w.octets(ep.pack())


def _open_logical_channel(rtp: Endpoint) -> bytes:
    """A forward G.711 u-law channel with RTP at `rtp` and RTCP at the next port."""
    w = PerWriter()
    w.bits(0, 1)  # no extensions
    w.bits(0, 1)  # no reverseLogicalChannelParameters
    w.octets((1 - 1).to_bytes(2, "big"))  # forwardLogicalChannelNumber 1 (1..65535)
    w.bits(0, 1)  # forwardLogicalChannelParameters: no extensions
    w.bits(0, 1)  # no portNumber
    w.bits(0, 1)  # dataType: root alternative
    w.bits(3, 3)  # audioData
    w.bits(0, 1)  # AudioCapability: root alternative
    w.bits(3, 4)  # g711Ulaw64k
    w.octets(bytes([20 - 1]))  # 20 frames per packet (1..256)
    w.bits(1, 1)  # multiplexParameters: an extension alternative ...
    w.bits(0, 7)  # ... the first: h2250LogicalChannelParameters (an open type)
    params = PerWriter()
    params.bits(0, 1)  # no extensions
    params.bits(0b0010100000, 10)  # optional fields: mediaChannel, mediaControlChannel
    params.octets(bytes([1]))  # sessionID 1 (audio)
    _put_h245_address(params, rtp)
    _put_h245_address(params, Endpoint(rtp.ip, rtp.port + 1))
    w.open_type(params.done())
    return w.done()


def _setup_uuie(
    w: PerWriter,
    source: Endpoint,
    dest: Endpoint | None,
    h245: Endpoint | None,
    rtp: Endpoint | None,
    conference_id: bytes,
    call_id: bytes,
) -> None:
    """The Setup-UUIE (version 2) in aligned PER, appended to `w`."""
    w.bits(1, 1)  # extension additions follow the root
    # optional root fields: h245Address, sourceAddress, destinationAddress,
    # destCallSignalAddress, destExtraCallInfo, destExtraCRV, callServices
    w.bits(h245 is not None, 1)
    w.bits(0, 2)
    w.bits(dest is not None, 1)
    w.bits(0, 3)
    put_oid(w, H225_VERSION)
    if h245 is not None:
        _put_transport(w, h245)
    # sourceInfo EndpointType: only `terminal` (an empty TerminalInfo); mc, undefinedNode
    w.bits(0, 1)
    w.bits(0b000001, 6)
    w.bits(0, 2)
    w.bits(0, 2)
    if dest is not None:
        _put_transport(w, dest)
    w.bits(0, 1)  # activeMC
    w.octets(conference_id)
    w.bits(0, 3)  # conferenceGoal: create
    w.bits(0, 3)  # callType: pointToPoint
    # extension additions (version 2): sourceCallSignalAddress, remoteExtensionAddress,
    # callIdentifier, h245SecurityCapability, tokens, cryptoTokens, fastStart,
    # mediaWaitForConnect, canOverlapSend
    present = (1, 0, 1, 0, 0, 0, rtp is not None, 1, 1)
    w.small_length(len(present))
    for flag in present:
        w.bits(int(flag), 1)
    w.align()
    addr = PerWriter()
    _put_transport(addr, source)
    w.open_type(addr.done())
    ident = PerWriter()
    ident.bits(0, 1)  # CallIdentifier: no extensions
    ident.octets(call_id)
    w.open_type(ident.done())
    if rtp is not None:
        fast = PerWriter()
        olc = _open_logical_channel(rtp)
        fast.length(1)  # SEQUENCE OF OCTET STRING with one element
        fast.length(len(olc))
        fast.octets(olc)
        w.open_type(fast.done())
    w.open_type(b"\x00")  # mediaWaitForConnect FALSE
    w.open_type(b"\x00")  # canOverlapSend FALSE


def put_uu_pdu_tail(w: PerWriter) -> None:
    """The H323-UU-PDU's version 2 extension additions: only h245Tunneling FALSE."""
    w.small_length(4)  # h4501SupplementaryService, h245Tunneling, h245Control, ...Control
    w.bits(0b0100, 4)
    w.align()
    w.open_type(b"\x00")


def build_setup(
    source: Endpoint,
    dest: Endpoint | None = None,
    h245: Endpoint | None = None,
    rtp: Endpoint | None = None,
    *,
    call_reference: int | None = None,
    conference_id: bytes | None = None,
    call_id: bytes | None = None,
) -> SetupProbe:
    """A TPKT-framed Q.931 SETUP with an H.225 Setup-UUIE naming these addresses.

    `rtp` is the fastStart RTP address (RTCP is its port + 1). The call reference (1-32767),
    conference ID and call identifier (16 octets each) are random unless given.
    """
    crv = call_reference if call_reference is not None else secrets.randbelow(32767) + 1
    if not 0 < crv < 0x8000:
        raise ValueError("the call reference is 1-32767")
    conf = conference_id if conference_id is not None else secrets.token_bytes(16)
    ident = call_id if call_id is not None else secrets.token_bytes(16)
    if len(conf) != 16 or len(ident) != 16:
        raise ValueError("conference and call identifiers are 16 octets")
    if rtp is not None and rtp.port >= 65535:
        raise ValueError("the RTP port needs a next port for RTCP")
    w = PerWriter()
    w.bits(0, 1)  # H323-UserInformation: no extensions
    w.bits(0, 1)  # no user-data
    w.bits(1, 1)  # H323-UU-PDU: extension additions follow
    w.bits(0, 1)  # no nonStandardData
    w.bits(0, 1)  # h323-message-body: root alternative ...
    w.bits(0, 3)  # ... setup
    _setup_uuie(w, source, dest, h245, rtp, conf, ident)
    put_uu_pdu_tail(w)
    uuie = bytes([UU_PD_X208]) + w.done()
    elements = [(IE_BEARER, b"\x80\x90\xa2"), (IE_DISPLAY, b"netready"), (IE_USER_USER, uuie)]
    message = q931_message(crv.to_bytes(2, "big"), MSG_SETUP, elements)
    addresses = {SOURCE: source}
    if dest is not None:
        addresses[DEST] = dest
    if h245 is not None:
        addresses[H245] = h245
    if rtp is not None:
        addresses[RTP] = rtp
        addresses[RTCP] = Endpoint(rtp.ip, rtp.port + 1)
    return SetupProbe(tpkt(message), crv, conf, dict(sorted(addresses.items(), key=_order)))


def _order(item: tuple[str, Endpoint]) -> int:
    return FIELD_ORDER.index(item[0]) if item[0] in FIELD_ORDER else len(FIELD_ORDER)


# ---- parsing ---------------------------------------------------------------------------------


def _get_transport(r: PerReader) -> Endpoint:
    if r.bit():
        raise ValueError("TransportAddress is an unknown extension alternative")
    if r.bits(3) != 0:
        raise ValueError("TransportAddress is not an IPv4 ipAddress")
    return Endpoint.unpack(r.octets(6))


def _get_h245_address(r: PerReader) -> Endpoint:
    if r.bit() or r.bit():
        raise ValueError("H.245 TransportAddress is not a unicast address")
    if r.bit() or r.bits(3) != 0:
        raise ValueError("H.245 UnicastAddress is not an IPv4 iPAddress")
    extended = r.bit()
    ep = Endpoint.unpack(r.octets(6))
    if extended:
        r.skip_extensions()
    return ep


def _skip_endpoint_type(r: PerReader) -> None:
    extended = r.bit()
    if r.bits(6) != 0b000001:
        raise ValueError("EndpointType other than a plain terminal is not supported")
    terminal_ext = r.bit()
    if r.bit():
        raise ValueError("TerminalInfo nonStandardData is not supported")
    if terminal_ext:
        r.skip_extensions()
    r.bits(2)  # mc, undefinedNode
    if extended:
        r.skip_extensions()


def _olc_addresses(olc: bytes, index: int, out: dict[str, Endpoint]) -> None:
    """RTP and RTCP of one fastStart OpenLogicalChannel (forward H.225.0 parameters)."""
    r = PerReader(olc)
    r.bit()  # extension bit (additions come after what we read)
    r.bit()  # reverseLogicalChannelParameters present: after the forward ones
    r.octets(2)  # forwardLogicalChannelNumber
    r.bit()
    if r.bit():
        r.octets(2)  # portNumber
    if r.bit():
        raise ValueError("dataType is an unknown extension alternative")
    kind = r.bits(3)
    if kind == 3:  # audioData
        if r.bit() or r.bits(4) not in (1, 2, 3, 4):
            raise ValueError("audio capability other than G.711 is not supported")
        r.octets(1)
    elif kind != 1:  # nullData has no contents
        raise ValueError("dataType other than audio or null is not supported")
    if not r.bit() or r.bits(7) != 0:
        raise ValueError("multiplexParameters are not h2250LogicalChannelParameters")
    p = PerReader(r.open_type())
    p.bit()
    options = p.bits(10)
    if options & 0b1000000000:
        raise ValueError("nonStandard H.225.0 channel parameters are not supported")
    p.octets(1)  # sessionID
    if options & 0b0100000000:
        p.bits(8)  # associatedSessionID
    prefix = "fastStart" if index == 0 else f"fastStart[{index + 1}]"
    if options & 0b0010000000:
        out[f"{prefix}.mediaChannel"] = _get_h245_address(p)
    if options & 0b0001000000:
        p.bit()  # mediaGuaranteedDelivery
    if options & 0b0000100000:
        out[f"{prefix}.mediaControlChannel"] = _get_h245_address(p)


def _setup_fields(r: PerReader) -> tuple[bytes, dict[str, Endpoint]]:
    """Decode a Setup-UUIE: (conferenceID, addresses)."""
    out: dict[str, Endpoint] = {}
    extended = r.bit()
    options = r.bits(7)
    if options & 0b0110111:
        raise ValueError("Setup-UUIE alias or service fields are not supported")
    r.octets(r.length())  # protocolIdentifier
    if options & 0b1000000:
        out[H245] = _get_transport(r)
    _skip_endpoint_type(r)
    if options & 0b0001000:
        out[DEST] = _get_transport(r)
    r.bit()  # activeMC
    conference_id = r.octets(16)
    for _ in range(2):  # conferenceGoal, callType
        if r.bit():
            raise ValueError("unknown conferenceGoal or callType")
        r.bits(2)
    if not extended:
        return conference_id, out
    present = [r.bit() for _ in range(r.small_length())]
    r.align()
    for index, flag in enumerate(present):
        if not flag:
            continue
        content = r.open_type()
        if index == 0:
            out[SOURCE] = _get_transport(PerReader(content))
        elif index == 6:
            _fast_start(content, out)
    return conference_id, out


def _fast_start(content: bytes, out: dict[str, Endpoint]) -> None:
    r = PerReader(content)
    count = r.length()
    if count > 16:
        raise ValueError("too many fastStart elements")
    for index in range(count):
        _olc_addresses(r.octets(r.length()), index, out)


def user_user_reader(q931: Q931Message) -> PerReader:
    """A reader at the h323-message-body of the User-user element; checks the framing."""
    uu = q931.element(IE_USER_USER)
    if not uu or uu[0] != UU_PD_X208:
        raise ValueError("no H.225 User-user information element")
    return PerReader(uu[1:])


def parse_setup(data: bytes) -> SetupInfo:
    """Decode a TPKT-framed SETUP as `build_setup` makes it; ValueError for anything else."""
    parts = split_tpkt(data)
    if parts is None:
        raise ValueError("incomplete TPKT frame")
    q931 = parse_q931(parts[0])
    if q931.message_type != MSG_SETUP:
        raise ValueError(f"Q.931 message type 0x{q931.message_type:02x} is not SETUP")
    r = user_user_reader(q931)
    r.bit()  # H323-UserInformation extension bit
    r.bit()  # user-data (after the PDU)
    r.bit()  # H323-UU-PDU extension bit
    r.bit()  # nonStandardData (after the body)
    if r.bit() or r.bits(3) != 0:
        raise ValueError("the H.225 message body is not a Setup-UUIE")
    conference_id, addresses = _setup_fields(r)
    ordered = dict(sorted(addresses.items(), key=_order))
    return SetupInfo(q931.call_reference, conference_id, ordered)


def diff_addresses(sent: dict[str, Endpoint], got: dict[str, Endpoint]) -> list[Change]:
    """Every transport address field that was rewritten, added or removed."""
    keys = list(sent) + [k for k in got if k not in sent]
    return [
        Change(k, str(sent[k]) if k in sent else "", str(got[k]) if k in got else "")
        for k in keys
        if sent.get(k) != got.get(k)
    ]


def first_difference(a: bytes, b: bytes) -> int:
    """Offset of the first differing byte (the shorter length when one is a prefix)."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )

"""The SIP codec: OPTIONS requests as RFC 3261 wants them, parsing, and the ALG diff."""

from __future__ import annotations

import base64

import pytest

from netready.probes.sip import (
    DECOY_PRIVATE,
    ECHO_CONTENT_TYPE,
    PAD_HEADER,
    Change,
    build_options,
    canonical,
    content_length,
    diff_messages,
    parse_message,
    strip_echo_padding,
)
from netready.responder.sip_echo import echo_reply, max_reply_bytes


def test_options_has_the_mandatory_headers() -> None:
    probe = build_options("198.51.100.7", 5060, "UDP", "192.168.1.20", 40000)
    msg = parse_message(probe.data)
    assert msg.start_line == "OPTIONS sip:probe@198.51.100.7:5060 SIP/2.0"
    for name in ("via", "from", "to", "call-id", "cseq", "max-forwards", "content-length"):
        assert msg.header(name), name
    assert ";branch=z9hG4bK" in msg.header("via") and msg.header("via").endswith(";rport")
    assert ";tag=" in msg.header("from") and msg.header("max-forwards") == "70"
    assert msg.header("call-id") == probe.call_id and msg.body == b""
    assert probe.data.endswith(b"Content-Length: 0\r\n\r\n")
    other = build_options("198.51.100.7", 5060, "UDP", "192.168.1.20", 40000)
    assert other.branch != probe.branch and other.call_id != probe.call_id


def test_alg_probe_carries_private_addresses_and_sdp() -> None:
    probe = build_options("203.0.113.1", 5060, "TCP", "127.0.0.1", 40000, alg_probe=True)
    msg = parse_message(probe.data)
    assert DECOY_PRIVATE in msg.header("contact") and msg.header("via").startswith("SIP/2.0/TCP")
    assert msg.header("content-type") == "application/sdp"
    assert f"c=IN IP4 {DECOY_PRIVATE}".encode() in msg.body
    assert int(msg.header("content-length")) == len(msg.body)
    assert content_length(probe.data.split(b"\r\n\r\n")[0]) == len(msg.body)


def test_parse_response_compact_forms_and_folding() -> None:
    raw = (
        b"SIP/2.0 405 Method Not Allowed\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
        b"i: abc\r\nX-Long: one\r\n two\r\nl: 3\r\n\r\nabcdef"
    )
    msg = parse_message(raw)
    assert msg.is_response and msg.status == 405
    assert msg.header("Call-ID") == "abc" and msg.header("x-long") == "one two"
    assert msg.body == b"abc" and canonical("m") == "contact"
    with pytest.raises(ValueError):
        parse_message(b"HTTP/1.1 200 OK\r\n\r\n")


def test_identical_messages_have_no_diff() -> None:
    probe = build_options("203.0.113.1", 5060, "UDP", "127.0.0.1", 1, alg_probe=True)
    assert diff_messages(parse_message(probe.data), parse_message(probe.data)) == []


def test_diff_names_rewritten_added_removed_and_sdp_lines() -> None:
    probe = build_options("203.0.113.1", 5060, "UDP", "10.0.0.5", 5060, alg_probe=True)
    text = probe.data.decode()
    alg = (
        text.replace(
            f"Contact: <sip:netready-alg@{DECOY_PRIVATE}:5060>",
            "Contact: <sip:netready-alg@198.51.100.2:5060>",
        )
        .replace("Max-Forwards: 70", "Max-Forwards: 69")
        .replace(f"c=IN IP4 {DECOY_PRIVATE}", "c=IN IP4 198.51.100.2")
        .replace("User-Agent: netready\r\n", "")
        .replace("Via: ", "Via: SIP/2.0/UDP 198.51.100.2:5060;branch=z9hG4bKalg\r\nVia: ", 1)
    )
    changes = diff_messages(parse_message(probe.data), parse_message(alg.encode()))
    described = [c.describe() for c in changes]
    assert (
        f"Contact rewritten from <sip:netready-alg@{DECOY_PRIVATE}:5060> "
        "to <sip:netready-alg@198.51.100.2:5060>"
    ) in described
    assert "Max-Forwards rewritten from 70 to 69" in described
    assert "User-Agent removed (was netready)" in described
    assert any(d.startswith("Via[2] added: ") for d in described)
    assert f"SDP c= rewritten from IN IP4 {DECOY_PRIVATE} to IN IP4 198.51.100.2" in described
    assert Change("x", "", "y").describe() == "x added: y"


def test_diff_reports_header_order_and_name_case() -> None:
    a = parse_message(b"OPTIONS sip:a SIP/2.0\r\nVia: v\r\nFrom: f\r\nTo: t\r\n\r\n")
    b = parse_message(b"OPTIONS sip:a SIP/2.0\r\nVia: v\r\nTO: t\r\nFrom: f\r\n\r\n")
    fields = [c.field for c in diff_messages(a, b)]
    assert "header order" in fields and "To header name" in fields


def test_echo_reply_is_bounded_and_refuses_non_requests() -> None:
    padded = build_options("203.0.113.1", 5060, "UDP", "10.0.0.5", 5060, alg_probe=True).data
    req = strip_echo_padding(padded)
    assert PAD_HEADER.encode() in padded and PAD_HEADER.encode() not in req
    reply = echo_reply(padded)
    assert reply is not None and reply.endswith(base64.b64encode(req))
    assert len(reply) <= len(padded)  # the padded probe is never amplified
    assert len(reply) <= max_reply_bytes(len(req))
    msg = parse_message(reply)
    assert msg.status == 200 and msg.header("content-type") == ECHO_CONTENT_TYPE
    assert base64.b64decode(msg.body) == req  # byte for byte, out of reach of a return-path ALG
    assert echo_reply(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n") is None
    assert echo_reply(b"ACK sip:a SIP/2.0\r\nVia: x\r\n\r\n") is None
    assert echo_reply(b"\x00\x01garbage") is None

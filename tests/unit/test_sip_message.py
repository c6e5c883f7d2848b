"""harness.sip.message: parsing keeps the wire form; changing rebuilds it predictably."""

from __future__ import annotations

import pytest

from harness.sip import Header, Headers, Request, Response, SipParseError, parse_message
from harness.sip.errors import SipUsageError
from harness.sip.message import compact_form, header_key
from tests.support.sip_samples import OPTIONS, SEED_FILES, crlf, seed

# -- the seed trace -------------------------------------------------------------------


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_seed_messages_round_trip_byte_for_byte(path):
    data = path.read_bytes()
    msg = parse_message(data)
    assert msg.raw == data
    assert msg.serialize() == data
    assert not msg.is_modified
    assert msg.call_id == "6db8ad1516f9e56d7fe51bfe6a668659@192.168.100.10"


def test_seed_invite_conveniences():
    msg = parse_message(seed("01"))
    assert isinstance(msg, Request)
    assert (msg.method, msg.uri, msg.version) == (
        "INVITE",
        "sip:+14255550150@192.168.100.20",
        "SIP/2.0",
    )
    assert msg.cseq == (102, "INVITE")
    assert msg.from_tag == "as6f893afb"
    assert msg.to_tag is None
    assert msg.via_branch == "z9hG4bK0bb3ed94"
    assert msg.content_length == 312 == len(msg.body)
    assert msg.content_type == "application/sdp"
    assert msg.from_addr is not None and msg.from_addr.display == "Test User"
    assert msg.sip_uri.user == "+14255550150"
    sdp = msg.sdp()
    assert sdp is not None and sdp.media[0].formats == ["0", "3", "8", "101"]


def test_seed_lync_200_keeps_upper_case_and_repeated_allow():
    msg = parse_message(seed("05"))
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason, msg.method) == (200, "OK", "INVITE")
    assert msg.headers.names()[:4] == ["FROM", "TO", "CSEQ", "CALL-ID"]
    assert msg.to_tag == "d6cf4571f"
    assert msg.to_addr is not None and msg.to_addr.epid == "075854646D"
    # one entry a line, then comma-split across lines, in wire order
    assert msg.headers.get_all("allow") == ["ACK", "CANCEL,BYE,INVITE,PRACK,UPDATE"]
    assert msg.headers.values("Allow") == ["ACK", "CANCEL", "BYE", "INVITE", "PRACK", "UPDATE"]
    assert msg.content_type == "application/sdp"  # parameters dropped, lower-cased
    assert msg.is_final and not msg.is_provisional


def test_changed_message_is_rebuilt_keeping_names_and_order():
    msg = parse_message(seed("09"))
    msg.headers.set("MAX-FORWARDS", "69")
    out = msg.serialize()
    assert out != msg.raw
    lines = out.decode().split("\r\n")
    assert lines[0] == "BYE sip:1000@192.168.100.10;transport=TCP SIP/2.0"
    assert lines[1:10] == [
        "FROM: <sip:+14255550150@192.168.100.20>;epid=075854646D;tag=d6cf4571f",
        "TO: <sip:1000@192.168.100.10>;tag=as6f893afb",
        "CSEQ: 3 BYE",
        "CALL-ID: 6db8ad1516f9e56d7fe51bfe6a668659@192.168.100.10",
        "MAX-FORWARDS: 69",
        "VIA: SIP/2.0/TCP 192.168.100.20:5060;branch=z9hG4bK52b8b1d7",
        "CONTENT-LENGTH: 0",
        "USER-AGENT: RTCC/3.5.0.0 MediationServer",
        "",
    ]
    assert parse_message(out).headers.get("Max-Forwards") == "69"


def test_change_and_change_back_gives_raw_again():
    data = seed("02")
    msg = parse_message(data)
    msg.reason = "Trying hard"
    assert msg.serialize() != data
    msg.reason = "Trying"
    assert msg.serialize() == data


def test_body_change_and_fix_length():
    msg = parse_message(seed("05"))
    msg.body = msg.body.replace(b"a=ptime:20\r\n", b"a=ptime:30\r\na=sendonly\r\n")
    # Without fix_length the stale CONTENT-LENGTH: 259 is kept: a reader cuts the body.
    stale = parse_message(msg.serialize())
    assert stale.content_length == 259
    assert stale.trailing == b"a=sendonly\r\n"
    fixed = parse_message(msg.serialize(fix_length=True))
    assert fixed.content_length == len(msg.body) == 271
    assert "CONTENT-LENGTH" in fixed.headers.names()
    sdp = fixed.sdp()
    assert sdp is not None and sdp.media[0].direction == "sendonly"


def test_fix_length_on_unchanged_message_with_right_length_returns_raw():
    data = seed("07")
    assert parse_message(data).serialize(fix_length=True) == data


# -- building -------------------------------------------------------------------------


def test_built_request_gets_crlf_and_content_length():
    req = Request(
        "OPTIONS",
        "sip:1000@192.168.100.10",
        Headers(
            [
                ("Via", "SIP/2.0/UDP 192.168.100.40;branch=z9hG4bKx"),
                ("From", "<sip:a@b>;tag=1"),
                ("To", "<sip:1000@192.168.100.10>"),
                ("Call-ID", "c1"),
                ("CSeq", "1 OPTIONS"),
            ]
        ),
        b"",
    )
    assert req.raw is None and req.is_modified
    out = req.serialize()
    assert out.endswith(b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    assert out.startswith(b"OPTIONS sip:1000@192.168.100.10 SIP/2.0\r\n")
    again = parse_message(out)
    assert again.headers.items() == req.headers.items() + [("Content-Length", "0")]
    assert bytes(req) == out
    # serialize does not change the message itself
    assert "Content-Length" not in req.headers


def test_built_response_with_body_and_str_body():
    resp = Response(200, "OK", [("CSeq", "1 INVITE")], "v=0\r\n")
    assert resp.body == b"v=0\r\n"
    assert resp.serialize().endswith(b"Content-Length: 5\r\n\r\nv=0\r\n")


def test_response_status_is_checked():
    with pytest.raises(SipUsageError):
        Response(99, "x")


# -- Headers --------------------------------------------------------------------------


def test_headers_compact_forms_both_ways():
    h = Headers(
        [("i", "abc"), ("CALL-ID", "dup"), ("v", "SIP/2.0/UDP a"), ("Via", "SIP/2.0/UDP b")]
    )
    assert h.get("Call-ID") == "abc"
    assert h.get("call-id") == "abc"
    assert h.get("I") == "abc"
    assert h.get_all("i") == ["abc", "dup"]
    assert h.values("v") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b"]
    for short in "imelcfsktvourbx":
        assert header_key(short) != short
        assert compact_form(header_key(short)) == short
    assert h.get("X-Missing") is None
    assert "via" in h and "Route" not in h


def test_headers_values_respects_quotes_and_brackets():
    h = Headers(
        [
            ("Contact", '"Doe, John" <sip:j@a;x=1,2>;q=0.5, <sip:k@b>'),
            ("Date", "Sun, 13 Jun 2010 22:22:42 GMT"),
            ("WWW-Authenticate", 'Digest realm="a", nonce="b"'),
        ]
    )
    assert h.values("m") == ['"Doe, John" <sip:j@a;x=1,2>;q=0.5', "<sip:k@b>"]
    assert h.values("Date") == ["Sun, 13 Jun 2010 22:22:42 GMT"]
    assert h.values("WWW-Authenticate") == ['Digest realm="a", nonce="b"']


def test_headers_add_insert_set_remove_and_iteration():
    h = Headers()
    h.add("ALLOW", "UPDATE")
    h.add("Via", "SIP/2.0/TCP a;branch=z9hG4bK1")
    h.add("ALLOW", "PRACK")
    h.insert(0, "Via", "SIP/2.0/TCP b;branch=z9hG4bK2")
    assert [x.name for x in h] == ["Via", "ALLOW", "Via", "ALLOW"]
    assert all(isinstance(x, Header) for x in h)
    h.set("allow", "INVITE, ACK")  # replaces the first, drops the others
    assert h.items() == [
        ("Via", "SIP/2.0/TCP b;branch=z9hG4bK2"),
        ("allow", "INVITE, ACK"),
        ("Via", "SIP/2.0/TCP a;branch=z9hG4bK1"),
    ]
    h.set("Supported", "timer")  # absent: appended
    assert h[-1] == Header("Supported", "timer")
    assert h.remove("v") == 2
    assert h.remove("v") == 0
    assert len(h) == 2
    assert h == Headers([("allow", "INVITE, ACK"), ("Supported", "timer")])


def test_header_is_immutable():
    with pytest.raises(AttributeError):
        Header("To", "x").value = "y"  # type: ignore[misc]


# -- tolerant parsing -----------------------------------------------------------------


def test_lf_only_and_folding_and_leading_crlf():
    data = (
        b"\r\n\r\nOPTIONS sip:a@example.com SIP/2.0\n"
        b"Via: SIP/2.0/UDP\n  192.0.2.1;branch=z9hG4bK1\n"
        b"Max-Forwards: 70\n"
        b"From: <sip:b@example.com>\n\t;tag=9\n"
        b"To: <sip:a@example.com>\n"
        b"Call-ID: fold@192.0.2.1\n"
        b"CSeq: 7\n OPTIONS\n"
        b"Content-Length: 0\n\n"
    )
    msg = parse_message(data)
    assert msg.headers.get("Via") == "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"
    assert msg.from_tag == "9"
    assert msg.cseq == (7, "OPTIONS")
    assert msg.serialize() == data  # unchanged: exact bytes, LF and all
    msg.headers.set("Max-Forwards", "69")
    assert b"\n" not in msg.serialize().replace(b"\r\n", b"")


def test_no_content_length_on_udp_means_rest_is_body():
    data = OPTIONS.replace(b"Content-Length: 0\r\n", b"") + b"hello"
    msg = parse_message(data)
    assert msg.body == b"hello" and msg.content_length is None


def test_extra_bytes_after_content_length_are_trailing():
    data = OPTIONS + b"garbage after the message"
    msg = parse_message(data)
    assert msg.body == b""
    assert msg.trailing == b"garbage after the message"
    assert msg.serialize() == data


def test_undecodable_bytes_survive():
    data = OPTIONS.replace(b"Call-ID: opt-1", b"Call-ID: opt-\xff\xfe")
    msg = parse_message(data)
    assert msg.serialize() == data
    msg.headers.add("X-Test", "1")
    assert b"opt-\xff\xfe" in msg.serialize()


def test_str_input_is_accepted():
    assert parse_message(OPTIONS.decode()).serialize() == OPTIONS


def test_multipart_body_sdp_is_found():
    body = crlf(
        """--b1
Content-Type: application/sdp

v=0
o=- 1 1 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 4000 RTP/AVP 0

--b1
Content-Type: application/isup; version=itu-t92+

xx
--b1--
"""
    )
    data = (
        OPTIONS.replace(
            b"Content-Length: 0\r\n",
            b'Content-Type: multipart/mixed;boundary="b1"\r\nContent-Length: %d\r\n' % len(body),
        )
        + body
    )
    sdp = parse_message(data).sdp()
    assert sdp is not None and sdp.media[0].port == 4000


def test_sdp_is_none_without_sdp_body():
    assert parse_message(seed("09")).sdp() is None
    msg = parse_message(OPTIONS)
    msg.headers.set("Content-Type", "text/plain")
    msg.body = b"hi"
    assert msg.sdp() is None


# -- precise errors -------------------------------------------------------------------

GOOD_HEAD = (
    "INVITE sip:+14255550150@192.168.100.20 SIP/2.0\n"
    "Via: SIP/2.0/TCP 192.168.100.10:5060;branch=z9hG4bK0bb3ed94;rport\n"
    "Max-Forwards: 70\n"
    'From: "Test User" <sip:1000@192.168.100.10>;tag=as6f893afb\n'
    "To: <sip:+14255550150@192.168.100.20>\n"
    "Call-ID: c@192.168.100.10\n"
    "CSeq: 102 INVITE\n"
)


def _msg(head: str, tail: str = "Content-Length: 0\n\n", body: str = "") -> bytes:
    return crlf(head + tail) + body.encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            _msg(GOOD_HEAD.replace("Max-Forwards: 70", "Max-Forwards 70")),
            "line 3: header 'Max-Forwards' has no colon",
        ),
        (
            _msg(GOOD_HEAD, "Content-Length: 312\n\n", "v=0\r\n" * 51 + "abcd"),
            "Content-Length 312 but body has 259 bytes",
        ),
        (
            _msg(GOOD_HEAD.replace(" SIP/2.0\n", " SIP/3.0\n", 1)),
            "request line: unknown SIP version 'SIP/3.0'",
        ),
        (
            _msg("SIP/7.0 200 OK\n" + GOOD_HEAD.split("\n", 1)[1]),
            "status line: unknown SIP version 'SIP/7.0'",
        ),
        (
            _msg(GOOD_HEAD.replace("Call-ID: c@192.168.100.10\n", "")),
            "missing mandatory header: Call-ID",
        ),
        (
            _msg("\n".join(GOOD_HEAD.split("\n")[:2]) + "\n"),
            "missing mandatory headers: To, From, Call-ID, CSeq",
        ),
        (
            _msg(GOOD_HEAD.replace("CSeq: 102 INVITE", "CSeq: 102 OPTIONS")),
            "line 7: CSeq method 'OPTIONS' does not match request method 'INVITE'",
        ),
        (
            _msg(GOOD_HEAD.replace("CSeq: 102 INVITE", "CSeq: abc INVITE")),
            "line 7: bad CSeq 'abc INVITE' (expected 'number METHOD')",
        ),
        (
            _msg(GOOD_HEAD.replace("CSeq: 102", "CSeq: 36893488147419103232")),
            "line 7: CSeq number 36893488147419103232 is larger than 2**31-1",
        ),
        (_msg(GOOD_HEAD, "Content-Length: -999\n\n"), "line 8: bad Content-Length '-999'"),
        (_msg(GOOD_HEAD, "Content-Length: twelve\n\n"), "line 8: bad Content-Length 'twelve'"),
        (
            _msg(GOOD_HEAD, "Content-Length: 0\nl: 0\n\n"),
            "header 'Content-Length' appears 2 times (lines 8, 9)",
        ),
        (
            _msg(GOOD_HEAD + "Call-ID: other@x\n"),
            "header 'Call-ID' appears 2 times (lines 6, 8)",
        ),
        (
            _msg(GOOD_HEAD.replace("Max-Forwards: 70", "Max-Forwards: 300")),
            "line 3: bad Max-Forwards '300' (0..255)",
        ),
        (
            _msg(GOOD_HEAD + "Expires: 10000000000000000000\n"),
            "line 8: bad Expires '10000000000000000000' (0..2**32-1)",
        ),
        (
            _msg(
                "SIP/2.0 4294967301 better not break the receiver\n" + GOOD_HEAD.split("\n", 1)[1]
            ),
            "status line: bad status code '4294967301'",
        ),
        (
            _msg("SIP/2.0 099 Too Low\n" + GOOD_HEAD.split("\n", 1)[1]),
            "status line: bad status code '099'",
        ),
        (b"", "empty message"),
        (b"\r\n\r\n", "empty message"),
        (crlf(GOOD_HEAD), "header block not terminated by an empty line"),
        (
            _msg(" Via: x\n" + GOOD_HEAD.split("\n", 1)[1]),
            (
                "request line: ' Via: x' is not 'METHOD SP Request-URI SP SIP/2.0' "
                "(single spaces, nothing after the version)"
            ),
        ),
    ],
)
def test_parse_errors_have_precise_reasons(data, reason):
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.reason == reason
    assert str(info.value) == reason
    assert isinstance(info.value, ValueError)
    if reason.startswith("line "):
        assert info.value.line == int(reason.split()[1].rstrip(":"))


def test_continuation_line_first():
    data = _msg(GOOD_HEAD.replace("\nVia:", "\n Via:", 1))
    with pytest.raises(SipParseError, match=r"^line 2: continuation line before any header$"):
        parse_message(data)


def test_status_line_without_reason_is_tolerated():
    data = crlf("SIP/2.0 100\n" + GOOD_HEAD.split("\n", 1)[1] + "Content-Length: 0\n\n")
    msg = parse_message(data)
    assert isinstance(msg, Response) and msg.reason == ""
    assert msg.serialize() == data


def test_unknown_request_uri_scheme_is_valid():
    head = GOOD_HEAD.replace(
        "INVITE sip:+14255550150@192.168.100.20", "OPTIONS nobodyknows:thisschemefornow"
    )
    msg = parse_message(_msg(head.replace("102 INVITE", "102 OPTIONS")))
    assert isinstance(msg, Request) and msg.uri == "nobodyknows:thisschemefornow"
    with pytest.raises(SipParseError):
        _ = msg.sip_uri


def test_start_line_property():
    assert parse_message(seed("05")).start_line == "SIP/2.0 200 OK"
    assert (
        parse_message(seed("09")).start_line == "BYE sip:1000@192.168.100.10;transport=TCP SIP/2.0"
    )

"""harness.sip.builder: identifiers, requests, responses, ACK and CANCEL."""

from __future__ import annotations

import pytest

from harness.sip import Request, Response, SipUsageError, parse_message
from harness.sip.builder import (
    canonical_name,
    make_ack,
    make_cancel,
    make_request,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    style_name,
    via_value,
    with_tag,
)
from harness.sip.lint import lint_message
from harness.sip.sdp import SessionDescription
from tests.support.sip_samples import seed


def test_identifiers():
    branches = {new_branch() for _ in range(100)}
    assert len(branches) == 100 and all(b.startswith("z9hG4bK") for b in branches)
    assert len({new_tag() for _ in range(100)}) == 100
    assert new_call_id("192.168.100.20").endswith("@192.168.100.20")
    assert "@" not in new_call_id()


def test_names():
    assert canonical_name("call-id") == "Call-ID"
    assert canonical_name("CSEQ") == "CSeq"
    assert canonical_name("www-authenticate") == "WWW-Authenticate"
    assert canonical_name("content-length") == "Content-Length"
    assert canonical_name("X-MS-Foo") == "X-Ms-Foo"
    assert style_name("Call-ID", "upper") == "CALL-ID"
    with pytest.raises(SipUsageError):
        style_name("To", "request")
    with pytest.raises(SipUsageError):
        style_name("To", "weird")  # type: ignore[arg-type]


def test_lync_style_responses_to_the_seed_invite():
    invite = parse_message(seed("01"))
    assert isinstance(invite, Request)
    trying = make_response(invite, 100, name_style="upper")
    assert trying.serialize() == (
        b"SIP/2.0 100 Trying\r\n"
        b"VIA: SIP/2.0/TCP 192.168.100.10:5060;branch=z9hG4bK0bb3ed94;rport\r\n"
        b'FROM: "Test User" <sip:1000@192.168.100.10>;tag=as6f893afb\r\n'
        b"TO: <sip:+14255550150@192.168.100.20>\r\n"
        b"CALL-ID: 6db8ad1516f9e56d7fe51bfe6a668659@192.168.100.10\r\n"
        b"CSEQ: 102 INVITE\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    body = parse_message(seed("05")).body
    ok = make_response(
        invite,
        200,
        to_tag="d6cf4571f",
        headers=[
            ("CONTACT", "<sip:mediationsrv.contoso.com:5060;transport=Tcp;maddr=192.168.100.20>"),
            ("ALLOW", "ACK"),
            ("Allow", "CANCEL,BYE,INVITE,PRACK,UPDATE"),
        ],
        body=body,
        content_type="application/sdp; charset=utf-8",
        name_style="upper",
    )
    assert isinstance(ok, Response) and ok.reason == "OK"
    assert ok.to_tag == "d6cf4571f"
    assert ok.headers.get("TO") == "<sip:+14255550150@192.168.100.20>;tag=d6cf4571f"
    assert ok.headers.names()[-1] == "CONTENT-TYPE"
    wire = ok.serialize()
    assert wire.endswith(b"Content-Length: 259\r\n\r\n" + body)
    assert lint_message(wire, transport="tcp").findings == []


def test_response_name_style_request_and_record_route():
    data = seed("07").replace(b"VIA: SIP", b"Record-Route: <sip:p1.example.com;lr>\r\nVIA: SIP", 1)
    reinvite = parse_message(data)
    assert isinstance(reinvite, Request)
    resp = make_response(reinvite, 200, to_tag="ignored-already-tagged", name_style="request")
    assert resp.headers.names() == ["VIA", "FROM", "TO", "CALL-ID", "CSEQ", "Record-Route"]
    assert resp.headers.get("To") == "<sip:1000@192.168.100.10>;tag=as6f893afb"
    final = make_response(reinvite, 486, "Busy")
    assert "Record-Route" not in final.headers and final.reason == "Busy"


def test_make_response_needs_a_request():
    with pytest.raises(SipUsageError):
        make_response(parse_message(seed("02")), 200)  # type: ignore[arg-type]


def test_make_request_and_dialog_helpers():
    sdp = SessionDescription.parse(parse_message(seed("01")).body)
    invite = make_request(
        "INVITE",
        "sip:+14255550150@192.168.100.20",
        from_=with_tag('"Test User" <sip:1000@192.168.100.10>', "as6f893afb"),
        to="<sip:+14255550150@192.168.100.20>",
        call_id="c1@192.168.100.10",
        cseq=102,
        via=via_value("tcp", "192.168.100.10", 5060, branch="z9hG4bKaaa", rport=True),
        contact="<sip:1000@192.168.100.10;transport=TCP>",
        headers=[("User-Agent", "harness")],
        body=sdp.serialize(),
        content_type="application/sdp",
    )
    assert invite.headers.names() == [
        "Via",
        "Max-Forwards",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "User-Agent",
        "Content-Type",
    ]
    assert invite.headers.get("Via") == "SIP/2.0/TCP 192.168.100.10:5060;branch=z9hG4bKaaa;rport"
    wire = invite.serialize()
    assert lint_message(wire, transport="tcp").findings == []
    assert parse_message(wire).sdp() == sdp
    assert with_tag(invite.headers.get("From") or "", "other").endswith(";tag=as6f893afb")

    cancel = make_cancel(invite)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert cancel.cseq == (102, "CANCEL") and cancel.via_branch == "z9hG4bKaaa"
    assert lint_message(cancel.serialize()).findings == []

    busy = make_response(invite, 486, to_tag="t486")
    ack = make_ack(invite, busy)
    assert (ack.uri, ack.via_branch, ack.cseq, ack.to_tag) == (
        invite.uri,
        "z9hG4bKaaa",
        (102, "ACK"),
        "t486",
    )

    ok = make_response(
        invite,
        200,
        to_tag="t200",
        headers=[
            ("Record-Route", "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>"),
            ("Contact", "<sip:mediationsrv.contoso.com:5060;transport=Tcp;maddr=192.168.100.20>"),
        ],
    )
    ack2 = make_ack(invite, ok, branch="z9hG4bKnew", name_style="upper")
    assert ack2.uri == "sip:mediationsrv.contoso.com:5060;transport=Tcp;maddr=192.168.100.20"
    assert ack2.headers.get("Via") == "SIP/2.0/TCP 192.168.100.10:5060;branch=z9hG4bKnew;rport"
    assert ack2.headers.get_all("ROUTE") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert ack2.headers.names()[0] == "VIA"
    assert lint_message(ack2.serialize()).findings == []


def test_dialog_helper_misuse():
    bye = parse_message(seed("09"))
    invite = parse_message(seed("01"))
    assert isinstance(bye, Request) and isinstance(invite, Request)
    with pytest.raises(SipUsageError):
        make_cancel(bye)
    with pytest.raises(SipUsageError):
        make_ack(bye, make_response(bye, 200))
    with pytest.raises(SipUsageError, match="no Contact"):
        make_ack(invite, make_response(invite, 200, to_tag="x"))
    with pytest.raises(SipUsageError):
        make_request(
            "OPTIONS",
            "sip:a@b",
            from_="<sip:c@d>;tag=1",
            to="<sip:a@b>",
            call_id="x",
            cseq=1,
            via="SIP/2.0/UDP h;branch=z9hG4bK1",
            name_style="request",
        )

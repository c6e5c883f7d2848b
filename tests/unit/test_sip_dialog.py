"""Dialogs (harness.sip.dialog, RFC 3261 section 12), sans-I/O."""

from __future__ import annotations

import pytest

from harness.sip.builder import make_request, make_response, via_value
from harness.sip.dialog import Dialog, Hop, contact_uri
from harness.sip.errors import SipParseError
from harness.sip.message import Request


def invite(
    contact: str | None = "<sip:alice@192.0.2.1:5070>", rr: list[str] | None = None
) -> Request:
    return make_request(
        "INVITE",
        "sip:bob@192.0.2.2",
        from_='"Alice" <sip:alice@example.com>;tag=a1',
        to="<sip:bob@example.com>",
        call_id="c1",
        cseq=7,
        via=via_value("UDP", "192.0.2.1", 5070),
        contact=contact,
        headers=[("Record-Route", r) for r in rr or []],
    )


def test_uas_dialog_from_the_request() -> None:
    d = Dialog.as_uas(invite(rr=["<sip:p1;lr>", "<sip:p2;lr>"]), "b9")
    assert d.id == ("c1", "b9", "a1")
    assert (d.local_uri, d.remote_uri) == ("sip:bob@example.com", "sip:alice@example.com")
    assert d.remote_target == "sip:alice@192.0.2.1:5070"
    assert d.route_set == ["<sip:p1;lr>", "<sip:p2;lr>"]  # in order for a UAS
    assert (d.local_cseq, d.remote_cseq) == (0, 7)
    assert d.local_party == "<sip:bob@example.com>;tag=b9"
    assert d.remote_party == '"Alice" <sip:alice@example.com>;tag=a1'
    assert d.confirmed
    with pytest.raises(SipParseError):
        Dialog.as_uas(invite(contact=None), "b9")


def test_uac_dialog_confirmed_by_the_response() -> None:
    d = Dialog.as_uac("c2", "sip:me@a.example", "l1", "sip:you@b.example")
    assert d.remote_tag is None and d.remote_target == "sip:you@b.example"
    assert (d.local_party, d.remote_party) == ("<sip:me@a.example>", "<sip:you@b.example>")
    assert [d.next_cseq(), d.next_cseq()] == [1, 2]
    request = invite(rr=["<sip:p1;lr>", "<sip:p2;lr>"])
    early = make_response(
        request, 183, to_tag="r1", headers=[("Contact", "<sip:you@198.51.100.1>")]
    )
    d.confirm(early)
    assert d.remote_tag == "r1" and not d.confirmed
    assert d.route_set == ["<sip:p2;lr>", "<sip:p1;lr>"]  # reversed for a UAC
    ok = make_response(request, 200, to_tag="r1", headers=[("Contact", "<sip:you@198.51.100.2>")])
    d.confirm(ok)
    assert d.confirmed and d.remote_target == "sip:you@198.51.100.2"
    assert d.remote_party == "<sip:bob@example.com>;tag=r1"
    d.forget_remote_tag()
    assert d.remote_tag is None


def test_target_refresh_and_remote_cseq_order() -> None:
    d = Dialog.as_uas(invite(), "b9")
    reinvite = invite(contact="<sip:alice@203.0.113.9>")
    d.refresh_target(reinvite)
    assert d.remote_target == "sip:alice@203.0.113.9"
    d.refresh_target(invite(contact=None))  # no Contact: unchanged
    assert d.remote_target == "sip:alice@203.0.113.9"
    assert not d.accept_remote_cseq(7) and not d.accept_remote_cseq(3)
    assert d.accept_remote_cseq(8) and d.remote_cseq == 8
    assert contact_uri(invite(contact="garbage<<")) is None


def test_next_hop_route_then_target_and_maddr_wins() -> None:
    d = Dialog.as_uac("c", "sip:a@h", "t", "sip:b@h", target="sip:host.example:5068;maddr=10.0.0.5")
    assert d.next_hop() == Hop("10.0.0.5", 5068, None)
    d.remote_target = "sip:b@192.0.2.8;transport=tcp"
    assert d.next_hop() == Hop("192.0.2.8", 5060, "tcp")
    d.remote_target = "sips:b@secure.example"
    assert d.next_hop().port == 5061
    d.route_set = ["<sip:proxy.example:5080;lr>"]
    assert d.next_hop() == Hop("proxy.example", 5080, None)

"""The review of the checks for what only a scripted UA satisfies: URIs compared as RFC 3261
19.1.4 compares them, the registration read from REGISTER and 2xx, the To the gateway may
address to the Contact, credentials after a 401 or a 407, retransmitted requests, and o=
versions of unchanged SDP; each with the fault that must still fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.cursor import has_credentials
from harness.analysis.legs import Leg
from harness.analysis.lync_flow import PHONE_LEG, check_lync_flow
from harness.analysis.phone_rules import (
    captured_registration,
    check_invite_target,
    gateway_registration,
    uri_equivalent,
)
from harness.analysis.verdict import CheckResult, Verdict
from harness.capture import open_capture
from harness.capture.sip import CapturedSip
from harness.roles import ASTERISK, SOFTPHONE, Roles
from harness.sip.message import parse_message
from harness.sip.uri import SipUri
from tests.support.paths import DATA
from tests.support.rewrite import layout, read_pcap, write_pcap

DEPLOYMENT = DATA / "deployment"
INBOUND = DEPLOYMENT / "test_inbound_lync_calls_extension_1000.pcap"
OUTBOUND = DEPLOYMENT / "test_outbound_softphone_calls_lync_twelve_steps.pcap"
ROLES = Roles.of_topology()


def edit_frame(src: Path, dst: Path, frame: int, old: bytes, new: bytes,
               copies: int = 0) -> Path:
    """`src` with one UDP frame's payload edited (same length; the UDP checksum left out,
    as IPv4 allows) and, with `copies`, sent that many times more right after itself."""
    assert len(old) == len(new)
    pcap = read_pcap(src)
    records = []
    for r in pcap.records:
        records.append(r)
        if r.frame != frame:
            continue
        lay = layout(pcap.linktype, r.data)
        body = bytes(r.data[lay.payload:lay.end])
        assert old in body, f"frame {frame} does not hold {old!r}"
        r.data[lay.payload:lay.end] = body.replace(old, new)
        r.data[lay.l4 + 6:lay.l4 + 8] = b"\0\0"
        records += [r] * copies
    return write_pcap(pcap, dst, records)


def verdict(path: Path, direction: str) -> Verdict:
    cap = open_capture(path)
    return check_lync_flow(cap.sip_messages(), cap, ROLES, path, direction, direction)


def result(v: Verdict, leg: str, step: str, subject: str) -> list[CheckResult]:
    return [r for r in v.results if (r.leg, r.step, r.subject) == (leg, step, subject)]


# ----------------------------------------------------------------------------- URIs

# RFC 3261 19.1.4's own examples.
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
]
DIFFERENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:1000@192.168.100.40:5060", "sip:1000-0x55d4@192.168.100.40:5060"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_equivalent_uris(a, b):
    assert uri_equivalent(SipUri.parse(a), SipUri.parse(b))
    assert uri_equivalent(SipUri.parse(b), SipUri.parse(a))


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_uris(a, b):
    assert not uri_equivalent(SipUri.parse(a), SipUri.parse(b))
    assert not uri_equivalent(SipUri.parse(b), SipUri.parse(a))


def test_the_ack_request_uri_is_compared_as_a_uri(tmp_path):
    """The softphone's ACK to Asterisk's 200 (Contact <sip:192.168.100.10:5060>): the same
    URI with the scheme in capitals is the same target; another port is not."""
    old = b"ACK sip:192.168.100.10:5060 SIP/2.0"
    same = verdict(edit_frame(OUTBOUND, tmp_path / "a.pcap", 26, old,
                              old.replace(b"sip:", b"SIP:")), "outbound")
    assert [r.ok for r in result(same, PHONE_LEG, "6", "ACK Request-URI")] == [True]
    other = verdict(edit_frame(OUTBOUND, tmp_path / "b.pcap", 26, old,
                               old.replace(b":5060", b":5061")), "outbound")
    assert [r.ok for r in result(other, PHONE_LEG, "6", "ACK Request-URI")] == [False]


# ----------------------------------------------------------------------------- step 1


def captured(data: str, frame: int, sender: str, receiver: str, time: float) -> CapturedSip:
    raw = data.replace("\n", "\r\n").encode()
    hosts = {ASTERISK: "192.168.100.10", SOFTPHONE: "192.168.100.40"}
    return CapturedSip(frame, time, hosts[sender], 5060, hosts[receiver], 5060, "UDP", raw,
                       parse_message(raw), None, sender, receiver)


def register(contact: str, expires: str = "3600") -> list[CapturedSip]:
    head = ("Via: SIP/2.0/UDP 192.168.100.40:5060;branch=z9hG4bK1\n"
            "From: <sip:1000@192.168.100.10>;tag=r1\nTo: <sip:1000@192.168.100.10>{tag}\n"
            "Call-ID: reg1\nCSeq: 2 REGISTER\n")
    request = captured("REGISTER sip:192.168.100.10 SIP/2.0\n" + head.format(tag="")
                       + f"Contact: <{contact}>\nExpires: {expires}\nContent-Length: 0\n\n",
                       1, SOFTPHONE, ASTERISK, 1.0)
    bound = "" if expires == "0" else f"Contact: <{contact}>;expires={expires}\n"
    ok = captured("SIP/2.0 200 OK\n" + head.format(tag=";tag=as1") + bound
                  + "Content-Length: 0\n\n", 2, ASTERISK, SOFTPHONE, 1.001)
    return [request, ok]


def invite(uri: str, to: str) -> CapturedSip:
    return captured(f"INVITE {uri} SIP/2.0\nVia: SIP/2.0/UDP 192.168.100.10:5060;rport;"
                    "branch=z9hG4bK2\nMax-Forwards: 70\nFrom: <sip:14255550150@192.168.100.10>"
                    f";tag=f1\nTo: <{to}>\nCall-ID: call1\nCSeq: 1 INVITE\n"
                    "Content-Length: 0\n\n", 3, ASTERISK, SOFTPHONE, 2.0)


BARESIP = "sip:1000-0x55d4b1c0a8e0@192.168.100.40:5060"


def target_checks(inv: CapturedSip, others: list[CapturedSip],
                  gateway: str | None = None) -> dict[str, CheckResult]:
    v = Verdict("t", None)
    leg = Leg(PHONE_LEG, "UDP", (ASTERISK, SOFTPHONE), [inv], others)
    check_invite_target(v, leg, inv, SOFTPHONE,
                        gateway_registration(gateway) if gateway else None)
    return {r.subject: r for r in v.results}


def test_the_to_may_carry_the_registered_contacts_user():
    """Asterisk (PJSIP and chan_sip alike) addresses the To to the Contact it calls
    (RFC 3261 8.1.1.1): with baresip's Contact the To user is baresip's."""
    checks = target_checks(invite(BARESIP, "sip:1000-0x55d4b1c0a8e0@192.168.100.40"),
                           register(BARESIP))
    assert checks["Request-URI"].ok and checks["To user"].ok
    assert "1000-0x55d4b1c0a8e0, the user of the Contact it registered" in checks[
        "To user"].expected
    wrong = target_checks(invite(BARESIP, "sip:1001@192.168.100.40"), register(BARESIP))
    assert not wrong["To user"].ok


def test_without_the_registration_the_to_user_is_1000_or_not_known():
    """Without the registration a To of 1000 passes, one of another user fails, and one
    addressed to the Request-URI's user (baresip's Contact) cannot be judged."""
    sipp = target_checks(invite("sip:1000@192.168.100.40:5060", "sip:1000@192.168.100.40"), [])
    assert not sipp["Request-URI"].checked and sipp["To user"].checked and sipp["To user"].ok
    other = target_checks(invite(BARESIP, "sip:1001@192.168.100.40"), [])
    assert not other["To user"].ok and other["To user"].expected == "1000 (the extension dialled)"
    baresip = target_checks(invite(BARESIP, "sip:1000-0x55d4b1c0a8e0@192.168.100.40"), [])
    assert not baresip["To user"].checked
    assert baresip["To user"].actual.startswith(
        "the To names the Request-URI's user 1000-0x55d4b1c0a8e0; no REGISTER of 1000")
    given = target_checks(invite(BARESIP, "sip:1000-0x55d4b1c0a8e0@192.168.100.40"), [],
                          gateway=BARESIP)
    assert given["Request-URI"].ok and given["To user"].ok


def test_a_removed_binding_is_no_route():
    """The last REGISTER before the call removed the binding (Expires: 0): an INVITE to
    the old Contact fails."""
    leg = Leg(PHONE_LEG, "UDP", (ASTERISK, SOFTPHONE), [], register(BARESIP, expires="0"))
    reg = captured_registration(leg, SOFTPHONE, before=2.0)
    assert reg is not None and reg.contacts == ()
    checks = target_checks(invite(BARESIP, "sip:1000@192.168.100.40"),
                           register(BARESIP, expires="0"))
    assert not checks["Request-URI"].ok and "none bound" in checks["Request-URI"].expected


def test_a_registration_after_the_invite_does_not_count():
    reg = captured_registration(Leg(PHONE_LEG, "UDP", (ASTERISK, SOFTPHONE), [],
                                    register(BARESIP)), SOFTPHONE, before=0.5)
    assert reg is None


# ----------------------------------------------------------------------------- review


def test_credentials_after_a_407_are_credentials():
    base = invite("sip:+14255550150@192.168.100.10", "sip:+14255550150@192.168.100.10")
    for header, ok in (("Authorization", True), ("Proxy-Authorization", True),
                       ("WWW-Authenticate", False)):
        raw = base.data.replace(b"Content-Length", f"{header}: Digest x\r\nContent-Length"
                                .encode())
        assert has_credentials(captured(raw.decode().replace("\r\n", "\n"), 3, SOFTPHONE,
                                        ASTERISK, 2.0)) is ok


def test_a_retransmitted_bye_is_no_cseq_fault(tmp_path):
    """Asterisk's BYE to the softphone sent twice (RFC 3261 17.1.2.2, timer E)."""
    v = verdict(edit_frame(INBOUND, tmp_path / "bye.pcap", 381, b"BYE ", b"BYE ", copies=1),
                "inbound")
    assert [r.ok for r in result(v, PHONE_LEG, "headers", "CSeq")] == [True], v.report()
    lower = verdict(edit_frame(INBOUND, tmp_path / "low.pcap", 381, b"CSeq: 19948 BYE",
                               b"CSeq: 19940 BYE"), "inbound")
    cseq = result(lower, PHONE_LEG, "headers", "CSeq")
    assert not cseq[0].ok and "CSeq 19940 after 19947" in cseq[0].actual


def test_an_unchanged_sdp_may_take_the_next_version(tmp_path):
    """libre (baresip) numbers every SDP it writes: the credentials INVITE's unchanged SDP
    one above the challenged INVITE's is within RFC 3264 section 8."""
    path = edit_frame(OUTBOUND, tmp_path / "v.pcap", 8, b"o=1000 1336 1 ", b"o=1000 1336 0 ")
    version = [r for r in result(verdict(path, "outbound"), PHONE_LEG, "SDP",
                                 "o= version (Softphone)") if r.frame == 11]
    assert version[0].ok and version[0].expected.startswith("0 or 1 (unchanged SDP")


def test_a_changed_sdp_under_the_old_version_still_fails(tmp_path):
    path = edit_frame(OUTBOUND, tmp_path / "v.pcap", 205, b"o=1000 1336 2 ", b"o=1000 1336 1 ")
    version = [r for r in result(verdict(path, "outbound"), PHONE_LEG, "SDP",
                                 "o= version (Softphone)") if r.frame == 205]
    assert not version[0].ok and version[0].expected == "2 (changed SDP after version 1)"

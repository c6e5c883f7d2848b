"""The softphone's checks follow the RFCs, not SIPp's scenario: the suite's real captures of
the inbound and outbound Lync flows, rewritten byte for byte into what a real phone (baresip)
sends, pass; the same captures with a real fault still fail, at the right step, naming the
softphone."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from harness.analysis.lync_flow import PHONE_LEG, check_lync_flow
from harness.analysis.verdict import CheckResult, Verdict
from harness.capture import open_capture
from harness.roles import Roles
from tests.support.paths import DATA
from tests.support.rewrite import OLD_PREFIX, SIP_PORTS, Plan, drop, read_pcap, rewrite, write_pcap

DEPLOYMENT = DATA / "deployment"
INBOUND = DEPLOYMENT / "test_inbound_lync_calls_extension_1000.pcap"
OUTBOUND = DEPLOYMENT / "test_outbound_softphone_calls_lync_twelve_steps.pcap"
ROLES = Roles.of_topology()
# What SIPp's scenario registers, and a per-instance Contact of the same length as baresip
# registers it (RFC 3261 10.2.1 lets a phone choose its Contact's user).
SIPP_CONTACT = b"sip:1000@192.168.100.40:5060;transport=udp"
BARESIP_CONTACT = b"sip:1000-0x55d4b1c0a8e@192.168.100.40:5060"
# The inbound capture's frames: the softphone's REGISTER exchange, Asterisk's INVITE to it
# and the softphone's 100 Trying and 180 Ringing.
REGISTER_FRAMES = (8, 9, 10, 11)
INVITE, TRYING, RINGING = 15, 16, 17


def edited(src: Path, dst: Path, *text: tuple[bytes, bytes]) -> Path:
    """`src` with same-length replacements in its SIP payloads (addresses, ports and
    lengths unchanged, checksums recomputed)."""
    assert all(len(a) == len(b) for a, b in text)
    rewrite(src, dst, Plan(OLD_PREFIX, OLD_PREFIX, {}, frozenset(SIP_PORTS), tuple(text)))
    return dst


def delayed(src: Path, dst: Path, from_frame: int, ms: float) -> Path:
    """`src` with every frame from `from_frame` on captured `ms` later."""
    pcap = read_pcap(src)
    for r in pcap.records:
        if r.frame >= from_frame:
            sec, rest = divmod(r.t_ns + int(ms * 1_000_000), 1_000_000_000)
            r.header = struct.pack(pcap.endian + "II", sec,
                                   rest if pcap.nsec else rest // 1000) + r.header[8:]
    return write_pcap(pcap, dst)


def verdict(path: Path, direction: str = "inbound",
            registered_contact: str | None = None) -> Verdict:
    cap = open_capture(path)
    return check_lync_flow(cap.sip_messages(), cap, ROLES, path, direction, direction,
                           registered_contact=registered_contact)


def results(v: Verdict, step: str, subject: str) -> list[CheckResult]:
    return [r for r in v.results if (r.step, r.leg, r.subject) == (step, PHONE_LEG, subject)]


def one(v: Verdict, step: str, subject: str) -> CheckResult:
    found = results(v, step, subject)
    assert len(found) == 1, v.report()
    return found[0]


# ----------------------------------------------------------------------------- step 1


def test_request_uri_is_the_contact_the_softphone_registered():
    v = verdict(INBOUND)
    assert v.ok, v.report()
    r = one(v, "1", "Request-URI")
    assert r.checked and r.ok
    assert "sip:1000@192.168.100.40:5060;transport=udp (the REGISTER at frame 10" in r.expected
    assert one(v, "1", "To user").ok


def test_a_per_instance_contact_user_passes_every_check(tmp_path):
    """baresip registers sip:1000-0x...@host; Asterisk sends the INVITE there (RFC 3261
    10.3, 16.5): the call is the seed's, and every check passes."""
    v = verdict(edited(INBOUND, tmp_path / "baresip.pcap", (SIPP_CONTACT, BARESIP_CONTACT)))
    assert v.ok, v.report()
    r = one(v, "1", "Request-URI")
    assert r.actual == BARESIP_CONTACT.decode() and r.ok


def test_what_baresip_sends_passes_every_check(tmp_path):
    """baresip 1.0 as the issue saw it: its per-instance Contact, no 100 Trying (180 at
    once), telephone-event 0-15, and libre's o= line (username "-")."""
    path = edited(INBOUND, tmp_path / "contact.pcap", (SIPP_CONTACT, BARESIP_CONTACT),
                  (b"o=1000 1368 ", b"o=- 1001368 "))
    drop(path, tmp_path / "baresip.pcap", [TRYING])
    v = verdict(tmp_path / "baresip.pcap")
    assert v.ok and not v.unchecked, v.report()
    assert one(v, "2", "100 Trying").actual.startswith("180 Ringing after ")


def test_an_invite_to_another_contact_fails_step_1(tmp_path):
    """Asterisk's INVITE (only that one: its branch is in the replaced text) goes to a user
    the softphone never registered."""
    old = b"INVITE " + SIPP_CONTACT + b" SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.100.10:5060;rport;" \
          b"branch=z9hG4bKPj193cefe0"
    v = verdict(edited(INBOUND, tmp_path / "wrong.pcap", (old, old.replace(b":1000@", b":1001@"))))
    r = one(v, "1", "Request-URI")
    assert r.checked and not r.ok and r.actual.startswith("sip:1001@"), v.report()
    assert r in v.failures


def test_without_the_register_the_request_uri_is_not_checked_and_the_to_user_is(tmp_path):
    path = tmp_path / "no-register.pcap"
    drop(INBOUND, path, REGISTER_FRAMES)
    v = verdict(path)
    r = one(v, "1", "Request-URI")
    assert not r.checked and "no REGISTER of 1000" in r.actual
    assert v.ok, v.report()
    to = one(v, "1", "To user")
    assert to.checked and to.ok and to.actual == "1000"


def test_the_gateways_registration_state_stands_in_for_the_register(tmp_path):
    path = tmp_path / "no-register.pcap"
    drop(INBOUND, path, REGISTER_FRAMES)
    v = verdict(path, registered_contact=f"<{SIPP_CONTACT.decode()}>")
    r = one(v, "1", "Request-URI")
    assert r.checked and r.ok and "the gateway's registration state" in r.expected
    wrong = verdict(path, registered_contact=BARESIP_CONTACT.decode())
    assert not one(wrong, "1", "Request-URI").ok


def test_a_registered_contact_that_is_no_uri_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="registered_contact 'not a uri' is not a SIP URI"):
        verdict(INBOUND, registered_contact="not a uri")


# ----------------------------------------------------------------------------- step 2


def test_a_phone_that_rings_at_once_owes_no_100(tmp_path):
    """baresip sends 180 Ringing 0.4 ms after the INVITE and no 100 (RFC 3261 17.2.1)."""
    path = tmp_path / "no-100.pcap"
    drop(INBOUND, path, [TRYING])
    v = verdict(path)
    assert v.ok, v.report()
    r = one(v, "2", "100 Trying")
    assert r.ok and r.actual.startswith("180 Ringing after 1.")
    assert r.actual.endswith("ms: no 100 needed (RFC 3261 17.2.1)")


def test_a_phone_that_answers_late_without_100_fails_step_2(tmp_path):
    """No 100, and the 180 300 ms after the INVITE: the 100 was owed."""
    path = tmp_path / "no-100.pcap"
    drop(INBOUND, path, [TRYING])
    late = delayed(path, tmp_path / "late.pcap", RINGING - 1, 300)  # frames renumbered
    r = one(verdict(late), "2", "100 Trying")
    assert not r.ok and r.actual.startswith("not found; the first response, 180 Ringing")
    assert "came 301." in r.actual and r.expected.startswith("100 Trying from Softphone")


def test_the_100_from_asterisk_is_still_required(tmp_path):
    """Asterisk as UAS (the outbound softphone leg): the seed's step 2, unchanged."""
    path = tmp_path / "no-100.pcap"
    drop(OUTBOUND, path, [12])
    r = one(verdict(path, "outbound"), "2", "100 Trying")
    assert not r.ok and r.expected == "100 Trying from Asterisk"
    assert r.actual.startswith("not found")


# ----------------------------------------------------------------------------- the SDP


def phone_sdp_failures(v: Verdict) -> list[CheckResult]:
    return [r for r in v.failures if r.subject.startswith("softphone's SDP")]


def test_the_softphones_sdp_is_checked_offer_and_answers():
    inbound, outbound = verdict(INBOUND), verdict(OUTBOUND, "outbound")
    for v, count in ((inbound, 3), (outbound, 4)):  # 3 answers; 2 offers and 2 answers
        assert len(results(v, "SDP", "softphone's SDP telephone-event")) == count, v.report()
        assert v.ok, v.report()
    answers = results(inbound, "SDP", "softphone's SDP answer direction (RFC 3264 6.1)")
    assert [r.actual.split(" in ")[0] for r in answers] == ["a=sendrecv", "a=recvonly",
                                                              "a=sendrecv"]


@pytest.mark.parametrize("events", [b"0-16", b"0-99",
                                    # the list in pieces, in place of the a=ptime line
                                    b"0-5,6-11,12-15,9"])
def test_telephone_events_covering_the_dtmf_digits_pass(tmp_path, events):
    """baresip's and X-Lite's 0-15 is every DTMF event (RFC 4733 3.2), and so is more; the
    seed's 0-16 is what Asterisk and Lync send, 16 being no digit."""
    old = b"a=fmtp:101 0-15" + (b"\r\na=ptime:20" if len(events) > 4 else b"")
    v = verdict(edited(INBOUND, tmp_path / "ev.pcap", (old, b"a=fmtp:101 " + events)))
    assert len(results(v, "SDP", "softphone's SDP telephone-event")) == 3
    assert not phone_sdp_failures(v), v.report()


def test_no_events_list_means_0_to_15(tmp_path):
    """RFC 4733 7.1.1: without a=fmtp the events are 0-15."""
    v = verdict(edited(INBOUND, tmp_path / "nofmtp.pcap",
                       (b"a=fmtp:101 0-15\r\n", b"a=x-nofmtp:0000\r\n")))
    assert not phone_sdp_failures(v), v.report()
    assert "not listed (0-15)" in results(v, "SDP", "softphone's SDP telephone-event")[0].actual


def test_too_few_dtmf_events_fail_naming_the_softphone(tmp_path):
    v = verdict(edited(INBOUND, tmp_path / "ev.pcap", (b"a=fmtp:101 0-15", b"a=fmtp:101 0-11")))
    failed = phone_sdp_failures(v)
    assert failed and all(r.leg == PHONE_LEG for r in failed)
    assert {r.subject for r in failed} == {"softphone's SDP telephone-event"}
    assert "events 0-11" in failed[0].actual
    # the gateway's own SDP checks are untouched
    assert not [r for r in v.failures if r.subject == "telephone-event"]


def test_an_answer_must_keep_the_offers_payload_number(tmp_path):
    """RFC 3264 6.1: the softphone answers Asterisk's 101 as 100."""
    v = verdict(edited(INBOUND, tmp_path / "pt.pcap",
                       (b"RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event"
                        b"/8000\r\na=fmtp:101 0-15",
                        b"RTP/AVP 0 100\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:100 telephone-event"
                        b"/8000\r\na=fmtp:100 0-15")))
    failed = phone_sdp_failures(v)
    assert failed and {r.subject for r in failed} == {"softphone's SDP telephone-event"}
    assert "as payload 101 (the offer's number" in failed[0].expected


def test_an_offer_may_number_telephone_event_as_it_likes(tmp_path):
    """The softphone's own offer (outbound): any dynamic payload type."""
    v = verdict(edited(OUTBOUND, tmp_path / "pt.pcap",
                       (b"m=audio 6000 RTP/AVP 0 101", b"m=audio 6000 RTP/AVP 0 120"),
                       (b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15",
                        b"a=rtpmap:120 telephone-event/8000\r\na=fmtp:120 0-15")), "outbound")
    offers = [r for r in results(v, "SDP", "softphone's SDP telephone-event")
              if "INVITE Softphone" in r.actual]
    assert len(offers) == 2 and all(r.ok for r in offers), v.report()


def test_no_pcmu_fails_naming_the_softphone(tmp_path):
    v = verdict(edited(OUTBOUND, tmp_path / "pcma.pcap",
                       (b"m=audio 6000 RTP/AVP 0 101", b"m=audio 6000 RTP/AVP 8 101")), "outbound")
    failed = [r for r in phone_sdp_failures(v) if r.subject == "softphone's SDP PCMU"]
    assert failed and failed[0].leg == PHONE_LEG and "formats ['8', '101']" in failed[0].actual


def test_a_ptime_other_than_20_fails(tmp_path):
    v = verdict(edited(INBOUND, tmp_path / "ptime.pcap",
                       (b"a=ptime:20\r\na=recvonly", b"a=ptime:30\r\na=recvonly")))
    failed = phone_sdp_failures(v)
    assert [r.subject for r in failed] == ["softphone's SDP a=ptime"]
    assert failed[0].actual.endswith(": 30")


def test_an_answer_that_sends_into_a_hold_fails(tmp_path):
    """RFC 3264 6.1: a sendonly offer is answered recvonly or inactive, never sendonly."""
    v = verdict(edited(INBOUND, tmp_path / "dir.pcap",
                       (b"a=ptime:20\r\na=recvonly", b"a=ptime:20\r\na=sendonly")))
    failed = phone_sdp_failures(v)
    assert [r.subject for r in failed] == ["softphone's SDP answer direction (RFC 3264 6.1)"]
    assert failed[0].expected.startswith("one of ['inactive', 'recvonly'] to an a=sendonly")


def test_a_phone_holding_nothing_answers_sendrecv_with_sendrecv(tmp_path):
    """The softphone's answer to Asterisk's first INVITE (sendrecv) is recvonly, though it
    placed no hold of its own."""
    old = b"s=X-Lite\r\nc=IN IP4 192.168.100.40\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\n" \
          b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n" \
          b"a=ptime:20\r\na=sendrecv"
    first = b"o=1000 1368 1 IN IP4 192.168.100.40\r\n" + old
    v = verdict(edited(INBOUND, tmp_path / "dir.pcap",
                       (first, first.replace(b"a=sendrecv", b"a=recvonly"))))
    failed = [r for r in phone_sdp_failures(v) if "direction" in r.subject]
    assert len(failed) == 1 and "the softphone holding nothing itself" in failed[0].expected
    assert failed[0].frame == 20

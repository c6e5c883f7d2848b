"""The Skype checks (harness.analysis.skype_flow) on real captures of whole calls: the SIP
and RTP a passing call puts on the wire, and the same call with one real fault each."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.legs import LYNC_LEG
from harness.analysis.skype_flow import (
    PROFILE,
    SKYPE_LEG,
    TEST_NUMBER,
    check_lync_to_skype,
    check_registration,
    check_skype_to_lync,
)
from harness.analysis.verdict import Verdict
from harness.capture import open_capture
from tests.support.sipcall import ROLES, CallCapture, Dialog, address, sdp

CALLER_ID = "caller ID (seed: 'set the caller ID to your Skype for SIP number')"
OFFER = {0: "PCMU/8000", 8: "PCMA/8000", 18: "G729/8000", 101: "telephone-event/8000"}


def lync_leg(cap: CallCapture, dialled: str) -> None:
    """Lync (the Mediation Server) dials `dialled` over the TCP trunk; Asterisk answers."""
    d = Dialog("mediation", "asterisk", "<sip:+14255550150@192.168.100.20>;tag=ms1",
               f"<sip:{dialled}@192.168.100.10>", "lync-call", transport="TCP")
    uri = f"sip:{dialled}@192.168.100.10;transport=tcp"
    cap.sip("mediation", "asterisk", d.request("INVITE", uri, 1, sdp("mediation", 30000, OFFER),
                                               tagged=False), "TCP")
    cap.sip("asterisk", "mediation", d.response(200, "OK", 1, "INVITE", sdp("asterisk", 11000,
                                                                            {0: "PCMU/8000"})),
            "TCP")
    cap.sip("mediation", "asterisk", d.request("ACK", uri, 1), "TCP")


def skype_call(tmp_path: Path, *, caller_id: str = PROFILE, final: tuple[int, str] = (200, "OK"),
               echo: bool = True, offered: dict[int, str] | None = None,
               refused: int | None = None) -> Verdict:
    """Lync dials 1001; Asterisk calls Skype's test number with the profile's credentials."""
    cap = CallCapture()
    lync_leg(cap, "+1001")
    d = Dialog("asterisk", "skype", f"<sip:{caller_id}@sip.skype.com>;tag=as1",
               f"<sip:{TEST_NUMBER}@sip.skype.com>", "skype-call")
    uri = f"sip:{TEST_NUMBER}@sip.skype.com"
    offer = sdp("asterisk", 10000, offered or OFFER)
    cap.sip("asterisk", "skype", d.request("INVITE", uri, 102, offer, tagged=False))
    cap.sip("skype", "asterisk", d.response(407, "Proxy Authentication Required", 102, "INVITE",
                                            extra=[("Proxy-Authenticate",
                                                    'Digest realm="sip.skype.com", nonce="n1"')]))
    cap.sip("asterisk", "skype", d.request("ACK", uri, 102))
    credentials = (f'Digest username="{PROFILE}", realm="sip.skype.com", nonce="n1", '
                   f'uri="{uri}", response="0123456789abcdef0123456789abcdef"')
    cap.sip("asterisk", "skype", d.request("INVITE", uri, 103, offer, tagged=False,
                                           extra=[("Proxy-Authorization", credentials)]))
    cap.sip("skype", "asterisk", d.response(100, "Trying", 103, "INVITE", tagged=False))
    status, reason = final
    answer = sdp("skype", 20000, {0: "PCMU/8000", 101: "telephone-event/8000"})
    cap.sip("skype", "asterisk", d.response(status, reason, 103, "INVITE",
                                            answer if status == 200 else ""))
    cap.sip("asterisk", "skype", d.request("ACK", uri, 103))
    if status == 200:
        cap.rtp_flow("asterisk", 10000, "skype", 20000, start_ms=100, count=100)
        if echo:  # the test number sends back what it hears, 30 ms later
            cap.rtp_flow("skype", 20000, "asterisk", 10000, start_ms=100, count=100,
                         delay_ms=30, ssrc=0x9999)
        cap.at(2200).sip("asterisk", "skype", d.request("BYE", uri, 104))
        cap.sip("skype", "asterisk", d.response(200, "OK", 104, "BYE"))
    elif refused is not None:  # the seed's 1001 answered Lync first: Asterisk hangs up
        lync = Dialog("asterisk", "mediation", "<sip:+1001@192.168.100.10>;tag=callee1",
                      "<sip:+14255550150@192.168.100.20>", "lync-call", transport="TCP")
        cap.sip("asterisk", "mediation", lync.request("BYE", "sip:+14255550150@192.168.100.20", 2),
                "TCP")
        cap.sip("mediation", "asterisk", lync.response(200, "OK", 2, "BYE"), "TCP")
    pcap = cap.write(tmp_path / "skype.pcap")
    capture = open_capture(pcap)
    return check_lync_to_skype(capture.sip_messages(), capture, ROLES, pcap, "Lync dials 1001",
                               dialled="+1001", target=TEST_NUMBER, via_profile=True,
                               refused=refused)


def failed(v: Verdict) -> dict[str, str]:
    return {r.subject: r.actual for r in v.failures}


def test_lync_dials_1001_passes(tmp_path):
    v = skype_call(tmp_path)
    assert v.ok, v.report()
    subjects = {r.subject for r in v.results}
    assert {CALLER_ID, "E.164 destination", "digest username", "call accepted", "codec chosen",
            "RTP both ways", "echoed payloads", "echo delay", "BYE"} <= subjects
    assert any(n.startswith("codec chosen by Skype: PCMU") for n in v.notes)


def test_caller_id_not_the_profile_number_fails_there_first(tmp_path):
    v = skype_call(tmp_path, caller_id="+14255550150", final=(403, "Forbidden"))
    assert not v.ok
    first = v.failures[0]
    assert (first.step, first.leg, first.subject) == ("2", SKYPE_LEG, CALLER_ID), v.report()
    assert (first.expected, first.actual) == (PROFILE, "+14255550150")
    assert failed(v)["call accepted"].startswith("403 Forbidden"), v.report()


def test_403_instead_of_200_fails_call_accepted(tmp_path):
    v = skype_call(tmp_path, final=(403, "Forbidden"))
    assert list(failed(v)) == ["call accepted"], v.report()
    assert failed(v)["call accepted"] == "403 Forbidden"


def test_no_echo_fails_the_echo_check(tmp_path):
    v = skype_call(tmp_path, echo=False)
    assert list(failed(v)) == ["RTP both ways"], v.report()
    first = v.failures[0]
    assert (first.step, first.leg) == ("echo", SKYPE_LEG)
    assert first.actual == "100 packets sent, 0 returned"


def registration(tmp_path: Path, refresh_after_ms: float = 2000) -> Verdict:
    """`pjsip send register`: the old binding removed, then challenged, answered, granted
    12 s, and refreshed `refresh_after_ms` later."""
    cap = CallCapture()
    aor = f"<sip:{PROFILE}@sip.skype.com>"
    d = Dialog("asterisk", "skype", f"{aor};tag=reg1", aor, "register")
    uri = "sip:sip.skype.com"
    contact = f"<sip:{PROFILE}@{address('asterisk')}:5060>"
    granted = f"{contact};expires=12"
    auth = [("Authorization", f'Digest username="{PROFILE}", realm="sip.skype.com", nonce="n"')]

    def register(cseq: int, extra: list[tuple[str, str]]) -> bytes:
        return d.request("REGISTER", uri, cseq, tagged=False, extra=extra, contact=contact)

    cap.sip("asterisk", "skype", register(1, [("Expires", "0")]))
    cap.sip("skype", "asterisk", d.response(200, "OK", 1, "REGISTER"))
    cap.sip("asterisk", "skype", register(2, []))
    cap.sip("skype", "asterisk", d.response(401, "Unauthorized", 2, "REGISTER", extra=[
        ("WWW-Authenticate", 'Digest realm="sip.skype.com", nonce="n"')]))
    cap.sip("asterisk", "skype", register(3, auth))
    cap.sip("skype", "asterisk", d.response(200, "OK", 3, "REGISTER", contact=granted))
    cap.at(100 + refresh_after_ms)
    cap.sip("asterisk", "skype", register(4, auth))
    cap.sip("skype", "asterisk", d.response(200, "OK", 4, "REGISTER", contact=granted))
    pcap = cap.write(tmp_path / "register.pcap")
    return check_registration(open_capture(pcap).sip_messages(), ROLES, pcap, granted_s=12)


def test_registration_challenged_answered_and_refreshed_passes(tmp_path):
    v = registration(tmp_path)
    assert v.ok, v.report()
    assert [r.subject for r in v.results][:3] == [
        "REGISTER", "To (the profile's address of record)", "Contact user (the part after '/')"]
    assert {"challenge realm", "digest username", "expiry granted", "refresh time"} <= {
        r.subject for r in v.results}


def test_a_refresh_at_once_is_a_register_storm(tmp_path):
    v = registration(tmp_path, refresh_after_ms=5)
    assert list(failed(v)) == ["refresh time"], v.report()
    assert v.failures[0].step == "refresh"


def skype_calls_lync(tmp_path: Path, challenge: bool = False) -> Verdict:
    """A Skype user calls the profile number; Asterisk routes it to Lync as anonymous."""
    cap = CallCapture()
    d = Dialog("skype", "asterisk", '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=sk1',
               f"<sip:{PROFILE}@192.168.100.10>", "from-skype")
    uri = f"sip:{PROFILE}@192.168.100.10"
    offer = sdp("skype", 20000, {0: "PCMU/8000", 101: "telephone-event/8000"})
    cap.sip("skype", "asterisk", d.request("INVITE", uri, 1, offer, tagged=False))
    if challenge:
        cap.sip("asterisk", "skype", d.response(401, "Unauthorized", 1, "INVITE"))
    lync = Dialog("asterisk", "mediation", '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=a2',
                  "<sip:+14255550150@192.168.100.20>", "to-lync", transport="TCP")
    lync_uri = "sip:+14255550150@192.168.100.20;transport=tcp"
    lync_offer = sdp("asterisk", 11000, OFFER)
    cap.sip("asterisk", "mediation", lync.request("INVITE", lync_uri, 10, lync_offer, tagged=False),
            "TCP")
    cap.sip("mediation", "asterisk", lync.response(200, "OK", 10, "INVITE",
                                                   sdp("mediation", 30000, {0: "PCMU/8000"})),
            "TCP")
    cap.sip("asterisk", "mediation", lync.request("ACK", lync_uri, 10), "TCP")
    cap.sip("asterisk", "skype", d.response(200, "OK", 1, "INVITE", sdp("asterisk", 10000, OFFER)))
    cap.sip("skype", "asterisk", d.request("ACK", uri, 1))
    cap.rtp_flow("mediation", 30000, "asterisk", 11000, start_ms=100, count=50)
    cap.rtp_flow("asterisk", 11000, "mediation", 30000, start_ms=100, count=50, ssrc=0x4321)
    cap.at(1200).sip("skype", "asterisk", d.request("BYE", uri, 2))
    cap.sip("asterisk", "skype", d.response(200, "OK", 2, "BYE"))
    pcap = cap.write(tmp_path / "from-skype.pcap")
    capture = open_capture(pcap)
    return check_skype_to_lync(capture.sip_messages(), capture, ROLES, pcap, "Skype calls Lync",
                               anonymous=True)


def test_skype_calls_lync_as_anonymous_passes(tmp_path):
    v = skype_calls_lync(tmp_path)
    assert v.ok, v.report()
    assert any("Anonymous" in n for n in v.notes)
    assert {r.subject for r in v.results if r.leg == LYNC_LEG} >= {
        "INVITE to Lync", "caller identity (seed: Lync shows 'Anonymous Caller')",
        "RTP Mediation Server -> Asterisk", "RTP Asterisk -> Mediation Server"}


def test_skype_challenged_by_asterisk_fails_insecure_invite(tmp_path):
    v = skype_calls_lync(tmp_path, challenge=True)
    assert list(failed(v)) == ["no challenge (seed: insecure=invite)"], v.report()
    assert failed(v)["no challenge (seed: insecure=invite)"].startswith("401 Unauthorized")


def test_codecs_out_of_the_seeds_order_fail_the_codec_set(tmp_path):
    # seed [Skype SIP profile]: allow = ulaw, alaw, g729, in that order
    v = skype_call(tmp_path, offered={18: "G729/8000", 0: "PCMU/8000", 8: "PCMA/8000",
                                      101: "telephone-event/8000"})
    assert list(failed(v)) == ["codec set"], v.report()
    assert failed(v)["codec set"] == "18 0 8 101"


def test_an_asked_refusal_passes_and_is_named(tmp_path):
    v = skype_call(tmp_path, final=(503, "Service Unavailable"), refused=503)
    assert v.ok, v.report()
    refusal = next(r for r in v.results if r.subject == "call refused")
    assert refusal.actual.startswith("503 Service Unavailable")
    assert {"BYE", "BYE after the refusal"} <= {r.subject for r in v.results}


def test_an_asked_refusal_that_does_not_come_fails(tmp_path):
    v = skype_call(tmp_path, final=(486, "Busy Here"), refused=503)
    assert list(failed(v)) == ["call refused"], v.report()

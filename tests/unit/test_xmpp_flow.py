"""The Google Talk IVR checks (harness.analysis.xmpp_flow) on a chat transcript and a real
capture of the Lync trunk: each option as the seed routes it, then one real fault each."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.legs import LYNC_LEG
from harness.analysis.verdict import Verdict
from harness.analysis.xmpp_flow import AA, CHAT, CONFNUM, INFO, MENU, check_ivr
from harness.capture import open_capture
from harness.roles import ASTERISK
from tests.support.sipcall import ROLES, CallCapture, Dialog, sdp

OFFER = {0: "PCMU/8000", 101: "telephone-event/8000"}
NAME, NUMBER, CONFID = "Alice Smith", "+14255550150", "123456#"
PROMPTS = {"name": "Please enter your name", "number": "Enter the number you want to call",
           "confid": "Please enter the Conference Id, followed by #"}
ANSWERS = {"name": NAME, "number": NUMBER, "confid": CONFID}
STEPS = {"1": ["name"], "2": ["name", "number"], "3": ["name"], "5": ["name", "confid"]}


def transcript(option: str | None) -> list[tuple[str, str]]:
    """The chat as the seed's IVR holds it: the menu, the user's option, its prompts."""
    said = [(ASTERISK, line) for line in MENU]
    if option is None:
        return said
    said.append(("user", option))
    for kind in STEPS.get(option, []):
        said += [(ASTERISK, PROMPTS[kind]), ("user", ANSWERS[kind])]
    if option == "4":
        said += [(ASTERISK, line) for line in INFO]
    return said


def trunk_call(cap: CallCapture, destination: str, display: str, digits: str = "",
               digits_at_ms: float = 400) -> None:
    """Asterisk calls `destination` on the Lync trunk with CALLERID(name) `display`; the
    Mediation Server answers at 200 ms; `digits` go as RFC 4733 events; Lync hangs up."""
    d = Dialog("asterisk", "mediation", f'"{display}" <sip:sara@192.168.100.10>;tag=iv1',
               f"<sip:{destination}@192.168.100.20>", "ivr-call", transport="TCP")
    uri = f"sip:{destination}@192.168.100.20;transport=tcp"
    offer = sdp("asterisk", 11000, OFFER)
    invite = d.request("INVITE", uri, 1, offer, tagged=False)
    cap.at(100).sip("asterisk", "mediation", invite, "TCP")
    cap.at(200).sip("mediation", "asterisk", d.response(200, "OK", 1, "INVITE",
                                                        sdp("mediation", 30000, OFFER)), "TCP")
    cap.sip("asterisk", "mediation", d.request("ACK", uri, 1), "TCP")
    if digits:
        cap.digits("asterisk", 11000, "mediation", 30000, digits_at_ms, digits)
    cap.at(3000).sip("mediation", "asterisk", d.request("BYE", uri, 2, sender="mediation"), "TCP")
    cap.sip("asterisk", "mediation", d.response(200, "OK", 2, "BYE", sender="asterisk"), "TCP")


def verdict(tmp_path: Path, option: str | None, cap: CallCapture,
            said: list[tuple[str, str]] | None = None) -> Verdict:
    pcap = cap.write(tmp_path / "ivr.pcap")
    capture = open_capture(pcap)
    return check_ivr(transcript(option) if said is None else said, capture.sip_messages(),
                     capture, ROLES, pcap, f"IVR option {option}", option, NAME, NUMBER, CONFID)


def failed(v: Verdict) -> list[str]:
    return [r.subject for r in v.failures]


def test_option_1_routes_to_the_auto_attendant_with_the_callers_name(tmp_path):
    cap = CallCapture()
    trunk_call(cap, AA, NAME)
    v = verdict(tmp_path, "1", cap)
    assert v.ok, v.report()
    assert [r.subject for r in v.results] == [
        "menu lines, in order", "INVITE", "Request-URI user",
        "CALLERID(name) from the user's answer", "200 OK", "BYE"]


def test_option_2_routes_to_the_number_given(tmp_path):
    cap = CallCapture()
    trunk_call(cap, NUMBER, NAME)
    v = verdict(tmp_path, "2", cap)
    assert v.ok, v.report()


def test_option_5_sends_the_conference_id_after_the_answer(tmp_path):
    cap = CallCapture()
    trunk_call(cap, CONFNUM, NAME, digits=CONFID)
    v = verdict(tmp_path, "5", cap)
    assert v.ok, v.report()
    dtmf = [r for r in v.results if r.step == "dtmf"]
    assert dtmf[0].subject == "conference id as RFC 4733 digits" and dtmf[0].actual == CONFID
    assert len(dtmf) == 2 + len(CONFID)  # the digits, their timing, then one check per digit


def test_option_4_reads_the_company_info_and_calls_nobody(tmp_path):
    v = verdict(tmp_path, "4", CallCapture())
    assert v.ok, v.report()
    assert [r.subject for r in v.results] == [
        "menu lines, in order", "[info] lines, in order", "no call to Lync"]


def test_no_answer_ends_without_a_trunk_call(tmp_path):
    v = verdict(tmp_path, None, CallCapture())
    assert v.ok, v.report()


def test_a_wrong_callerid_name_fails_the_check_that_names_it(tmp_path):
    cap = CallCapture()
    trunk_call(cap, NUMBER, "sara@gmail.test")
    v = verdict(tmp_path, "2", cap)
    assert failed(v) == ["CALLERID(name) from the user's answer"], v.report()
    first = v.failures[0]
    assert (first.step, first.leg, first.expected, first.actual) == (
        "route", LYNC_LEG, NAME, "sara@gmail.test")


def test_digits_before_the_answer_fail_the_timing_check(tmp_path):
    cap = CallCapture()
    # The first digit starts while the call still rings (Dial's D() sends after answer).
    trunk_call(cap, CONFNUM, NAME, digits=CONFID, digits_at_ms=150)
    v = verdict(tmp_path, "5", cap)
    assert failed(v) == ["digits after the answer"], v.report()
    assert v.failures[0].actual == "1 before it"


def test_an_unknown_option_that_still_calls_lync_fails(tmp_path):
    cap = CallCapture()
    trunk_call(cap, AA, NAME)
    v = verdict(tmp_path, "9", cap)
    assert failed(v) == ["no call to Lync"], v.report()
    assert v.failures[0].actual.startswith("INVITE Asterisk->Mediation Server")


def test_a_menu_line_missing_fails_the_menu_check(tmp_path):
    cap = CallCapture()
    trunk_call(cap, AA, NAME)
    said = [entry for entry in transcript("1") if entry[1] != "3 - Customer Service"]
    v = verdict(tmp_path, "1", cap, said)
    assert failed(v) == ["menu lines, in order"], v.report()
    assert (v.failures[0].step, v.failures[0].leg) == ("menu", CHAT)

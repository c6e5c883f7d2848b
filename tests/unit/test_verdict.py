"""Checks a capture cannot support are "not checked", never passed or failed: the verdict's
counts and lines, and the flow checks on real captures cut to begin mid-call, holding one
leg only, or with a fault after the cut (harness.analysis, deployment=True)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from harness.analysis.legs import LYNC_LEG
from harness.analysis.lync_flow import PHONE_LEG, check_lync_flow
from harness.analysis.skype_flow import (
    SKYPE_LEG,
    TEST_NUMBER,
    check_lync_to_skype,
    check_registration,
    check_skype_to_lync,
)
from harness.analysis.verdict import Verdict
from harness.analysis.xmpp_flow import CHAT, check_ivr
from harness.capture import open_capture
from harness.capture.capture import Capture
from harness.capture.sip import CapturedSip
from harness.report.attachments import summary_table
from harness.report.ladder.model import build_ladder
from harness.roles import ASTERISK, MEDIATION, SOFTPHONE, Roles

DATA = Path(__file__).parent / "data" / "deployment"
ROLES = Roles.of_topology()
OUTBOUND = "test_outbound_softphone_calls_lync_twelve_steps"
INBOUND = "test_inbound_lync_calls_extension_1000"


@cache
def capture(name: str) -> tuple[Capture, tuple[CapturedSip, ...]]:
    cap = open_capture(DATA / f"{name}.pcap")
    return cap, tuple(cap.sip_messages())


def after_ack(messages: tuple[CapturedSip, ...]) -> list[CapturedSip]:
    """The messages after the set-up's last ACK (the last one before the first re-INVITE
    or BYE): a capture begun mid-call."""
    later = min(m.time for m in messages if m.message is not None and m.is_request
                and m.method in ("INVITE", "BYE") and m.message.to_tag is not None)
    setup_end = max(m.time for m in messages if m.method == "ACK" and m.time < later)
    return [m for m in messages if m.time > setup_end]


def lync(name: str, direction: str, messages: list[CapturedSip] | None = None,
         deployment: bool = True) -> Verdict:
    cap, sip = capture(name)
    return check_lync_flow(sip if messages is None else messages, cap, ROLES, None, direction,
                           direction, deployment=deployment)


def between(m: CapturedSip, *roles: str) -> bool:
    return {m.with_roles(ROLES).sender, m.with_roles(ROLES).receiver} == set(roles)


# -- the verdict ----------------------------------------------------------------------


def test_not_checked_is_neither_passed_nor_failed():
    v = Verdict("flow", None)
    v.equal("1", "leg", "INVITE", "a", "a", frame=3)
    v.not_checked("2", "leg", "100 Trying", "the capture starts at frame 9, after this message")
    assert v.ok and not v.failures
    assert [r.subject for r in v.unchecked] == ["100 Trying"]
    assert v.steps() == {"1": True}  # a step with no check made is absent, not passed
    line = v.unchecked[0].line()
    assert line == ("n/a  step 2 [leg] 100 Trying: not checked: the capture starts at frame 9, "
                    "after this message")
    assert v.report().splitlines()[0] == "call flow 'flow': 1 of 2 checks passed, 1 not checked"
    assert "  " + line in v.report()
    v.check("3", "leg", "180", False, "180", "none")
    assert v.report().splitlines()[0] == "call flow 'flow': 1 of 3 checks failed, 1 not checked"


def test_without_unchecked_results_the_report_is_as_before():
    v = Verdict("flow", None)
    v.equal("1", "leg", "INVITE", "a", "a")
    assert v.report() == "call flow 'flow': all 1 checks passed"
    v.equal("2", "leg", "100", "a", "b")
    assert v.report().splitlines()[0] == "call flow 'flow': 1 of 2 checks failed"


def test_summary_table_and_ladder_do_not_count_unchecked_as_passed():
    v = Verdict("flow", None)
    v.equal("1", "leg", "INVITE", "a", "a")
    v.not_checked("2", "leg", "100 Trying", "not in the capture")
    other = Verdict("other", None)
    other.equal("1", "leg", "INVITE", "a", "a")
    other.equal("2", "leg", "100 Trying", "a", "a")
    table = summary_table([v, other], ascii_only=True).splitlines()
    assert table[2].split() == ["flow", "ok", "-", "1/1", "ok"]  # step 2: not checked
    assert table[-1] == "1 checks not checked (not in the capture)"
    _, sip = capture(OUTBOUND)
    ladder = build_ladder(sip[:2], roles=ROLES, verdict=v)
    assert ladder.verdict_line == "flow: 1 of 2 checks passed, 1 not checked"
    assert ladder.verdict_ok and not ladder.other_failures


# -- the suite's verdicts do not change -------------------------------------------------


@pytest.mark.parametrize("name,direction", [(OUTBOUND, "outbound"), (INBOUND, "inbound")])
def test_a_whole_capture_gives_the_same_verdict_in_both_modes(name, direction):
    suite = lync(name, direction, deployment=False)
    assert suite.ok and not suite.unchecked
    assert lync(name, direction).report() == suite.report()
    assert lync(name, direction).results == suite.results


# -- a capture begun after the 200 OK and the ACK ----------------------------------------


@pytest.mark.parametrize("name,direction", [(OUTBOUND, "outbound"), (INBOUND, "inbound")])
def test_capture_begun_mid_call_never_fails_and_checks_what_it_holds(name, direction):
    _, sip = capture(name)
    cut = after_ack(sip)
    v = lync(name, direction, cut)
    assert v.ok, v.report()
    first = {leg: next(m.frame for m in cut if between(m, *roles))
             for leg, roles in ((LYNC_LEG, (ASTERISK, MEDIATION)),
                                (PHONE_LEG, (ASTERISK, SOFTPHONE)))}
    skipped = {(r.step, r.leg, r.subject): r.actual for r in v.unchecked}
    for leg in (LYNC_LEG, PHONE_LEG):
        for step, subject in (("1", "INVITE"), ("5", "200 OK"), ("6", "ACK")):
            assert skipped[(step, leg, subject)] == (
                f"the capture starts at frame {first[leg]}, after the call's INVITE")
        assert skipped[("7", leg, "RTP")] == "the answer (200 OK) is not in the capture"
    checked = {(r.step, r.leg) for r in v.results if r.checked}
    for leg in (LYNC_LEG, PHONE_LEG):
        assert {("8", leg), ("9", leg), ("10", leg), ("11", leg), ("headers", leg)} <= checked


def test_capture_begun_anywhere_never_fails():
    for name, direction in ((OUTBOUND, "outbound"), (INBOUND, "inbound")):
        _, sip = capture(name)
        for start in sip[1:-4]:
            v = lync(name, direction, [m for m in sip if m.frame >= start.frame])
            assert v.ok, v.report()


def test_fault_after_the_cut_still_fails():
    _, sip = capture(OUTBOUND)
    cut = [m for m in after_ack(sip)
           if not (m.method == "BYE" and not m.is_request and between(m, ASTERISK, SOFTPHONE))]
    v = lync(OUTBOUND, "outbound", cut)
    assert [(r.step, r.leg, r.subject) for r in v.failures] == [
        ("11", PHONE_LEG, "200 OK to BYE")], v.report()


# -- one leg only --------------------------------------------------------------------------


def test_one_leg_only_passes_and_the_other_is_not_captured():
    _, sip = capture(OUTBOUND)
    trunk = [m for m in sip if between(m, ASTERISK, MEDIATION)]
    v = lync(OUTBOUND, "outbound", trunk)
    assert v.ok, v.report()
    assert [r.line() for r in v.unchecked] == [
        f"n/a  step leg [{PHONE_LEG}] messages: not checked: {PHONE_LEG}: not captured"]
    assert {str(n) for n in range(1, 13)} <= {r.step for r in v.results
                                               if r.checked and r.leg == LYNC_LEG}


# -- the Skype and Google Talk flows -----------------------------------------------------


def test_lync_dials_1001_begun_mid_call():
    name = "test_lync_dials_1001_reaches_skype_test_number_and_hears_echo"
    cap, sip = capture(name)
    whole = check_lync_to_skype(sip, cap, ROLES, None, "1001", "+1001", TEST_NUMBER, True)
    assert check_lync_to_skype(sip, cap, ROLES, None, "1001", "+1001", TEST_NUMBER, True,
                               deployment=True).report() == whole.report()
    v = check_lync_to_skype(after_ack(sip), cap, ROLES, None, "1001", "+1001", TEST_NUMBER,
                            True, deployment=True)
    assert v.ok, v.report()
    skipped = {(r.step, r.subject) for r in v.unchecked}
    assert {("1", "INVITE"), ("2", "INVITE to Skype"), ("echo", "RTP echo")} <= skipped
    assert {r.subject for r in v.results if r.checked and r.leg == SKYPE_LEG} >= {
        "BYE", "200 OK to BYE"}


def test_skype_calls_lync_begun_mid_call_and_one_leg_only():
    name = "test_skype_user_calls_lync_as_anonymous_caller"
    cap, sip = capture(name)
    v = check_skype_to_lync(after_ack(sip), cap, ROLES, None, "s2l", True, deployment=True)
    assert v.ok, v.report()
    assert ("5", "BYE") in {(r.step, r.subject) for r in v.results if r.checked}
    skype_only = [m for m in sip if between(m, ASTERISK, "Skype")]
    v = check_skype_to_lync(skype_only, cap, ROLES, None, "s2l", True, deployment=True)
    assert v.ok, v.report()
    assert f"{LYNC_LEG}: not captured" in [r.actual for r in v.unchecked]


def test_registration_begun_inside_a_transaction_or_ended_before_the_refresh():
    _, sip = capture("test_registration_is_challenged_answered_and_refreshed")
    for start in sip[:-3]:
        v = check_registration([m for m in sip if m.frame >= start.frame], ROLES, None, 12,
                               deployment=True)
        assert v.ok, v.report()
    first_ok = [m for m in sip if m.frame <= 30]  # one registration, no refresh yet
    v = check_registration(first_ok, ROLES, None, 12, deployment=True)
    assert v.ok and [r.subject for r in v.unchecked] == ["refresh REGISTER"], v.report()
    assert not check_registration(first_ok, ROLES, None, 12).ok  # the suite waits for it


def test_ivr_without_the_chat():
    name = "test_ivr_option_routes_as_the_seed_says_5"
    cap, sip = capture(name)
    v = check_ivr(None, sip, cap, ROLES, None, "ivr", "5", "Alice Smith", "+14255550150",
                  "123456#", deployment=True)
    assert [(r.step, r.leg, r.actual) for r in v.unchecked] == [
        ("menu", CHAT, "the XMPP chat is not in the SIP capture")]
    assert {r.step for r in v.results if r.checked} >= {"route", "dtmf", "end"}

"""The call finder on the harness's own captures: flows, numbers, legs, Call-IDs; one leg
only, a capture begun after the 200 OK, two captures joined, REGISTER/OPTIONS and
retransmissions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.analysis.calls import FLOWS, DeploymentCall, find_calls
from harness.analysis.recognise import recognise, xmpp_servers
from harness.capture import CapturedSip, open_capture
from harness.roles import ASTERISK, MEDIATION, SKYPE, SOFTPHONE

DATA = Path(__file__).parent / "data" / "deployment"
NET = "192.168.100"
LYNC = (ASTERISK, MEDIATION)
PHONE = (SOFTPHONE, ASTERISK)
SKY = (ASTERISK, SKYPE)

# capture -> (flow, title, number, legs, Call-IDs)
EXPECTED = {
    "test_outbound_softphone_calls_lync_twelve_steps": (
        "outbound", "outbound: softphone -> Asterisk -> Lync", "+14255550150", (PHONE, LYNC),
        ("1-1336@192.168.100.40", "a2b97ebc-23ac-4728-9891-d06f2a6d2833")),
    "test_inbound_lync_calls_extension_1000": (
        "inbound", "inbound: Lync -> Asterisk -> softphone", "+1000", (LYNC, PHONE),
        ("8167def4b9914b7cb95fb140dd8fe715", "55c73011-1b9f-4b06-a639-ad07b0197c3c")),
    "test_lync_dials_1001_reaches_skype_test_number_and_hears_echo": (
        "lync-to-skype", "Lync dials 1001 (Skype)", "+1001", (LYNC, SKY),
        ("0f83305f0b07459d85e23290a193b633", "f5203c94-50db-4746-9950-059cf860dbac")),
    "test_lync_dials_1002_reaches_echo123_through_skype_for_asterisk": (
        "lync-to-skype", "Lync dials 1002 (Skype)", "+1002", (LYNC, SKY),
        ("ae097256504849c4be39369e3ed1a5cb", "ec992a09-7e87-45cb-9d66-1349fc683ecb")),
    "test_channels_exhausted_is_refused_by_skype": (
        "lync-to-skype", "Lync dials 1001 (Skype)", "+1001", (LYNC, SKY),
        ("842c25ad47b34768a8402ce5d36114d1", "b63e7c6d-4b6f-41d5-8f0e-1c3d152eca26")),
    "test_skype_user_calls_lync_as_anonymous_caller": (
        "skype-to-lync", "Skype calls Lync", "99051000107808", (SKY, LYNC),
        ("3b31a46324634077f6d8c705@sip.skype.com", "4bf24a0a-28f4-406a-96ce-62bc87e7db35")),
    "test_ivr_option_routes_as_the_seed_says_5": (
        "gtalk-ivr", "Google Talk IVR", "18036759990", (LYNC,),
        ("f5f3248c-f43f-49f7-82c3-d01106ba8f09",)),
    "test_registration_is_challenged_answered_and_refreshed": (
        "skype-registration", "Skype for SIP registration", None, (SKY,),
        ("b3c65abb-5246-4d3d-84b0-23ae79e2c460",)),
}


def _sip(name: str) -> list[CapturedSip]:
    return open_capture(DATA / f"{name}.pcap").sip_messages()


def _calls(sip: list[CapturedSip], xmpp: list[str] | None = None) -> list[DeploymentCall]:
    return find_calls(sip, recognise(sip, xmpp_hosts=xmpp or []))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_call_with_the_right_flow(name: str) -> None:
    cap = open_capture(DATA / f"{name}.pcap")
    sip = cap.sip_messages()
    calls = find_calls(sip, recognise(sip, xmpp_hosts=xmpp_servers(cap)))
    flow, title, number, legs, call_ids = EXPECTED[name]
    assert len(calls) == 1
    call = calls[0]
    assert (call.flow, call.title, call.number) == (flow, title, number)
    assert call.flow in FLOWS
    assert call.legs_seen == legs
    assert call.call_ids == call_ids
    assert not call.starts_mid_dialog
    # Every SIP message of the capture belongs to its only call, named by role.
    assert len(call.messages) == len(sip)
    assert {m.sender for m in call.messages} <= {ASTERISK, MEDIATION, SKYPE, SOFTPHONE}
    assert (call.start, call.end) == (sip[0].time, sip[-1].time)


def test_one_leg_only_still_finds_the_call() -> None:
    sip = _sip("test_outbound_softphone_calls_lync_twelve_steps")
    lync_leg = [m for m in sip if {m.src, m.dst} == {f"{NET}.10", f"{NET}.20"}]
    [call] = _calls(lync_leg)
    assert call.flow == "outbound"
    assert call.legs_seen == (LYNC,)
    assert call.call_ids == ("a2b97ebc-23ac-4728-9891-d06f2a6d2833",)
    assert call.number == "+14255550150"
    phone_leg = [m for m in _sip("test_inbound_lync_calls_extension_1000")
                 if {m.src, m.dst} == {f"{NET}.10", f"{NET}.40"}]
    [call] = _calls(phone_leg)
    assert (call.flow, call.legs_seen, call.number) == ("inbound", (PHONE,), "1000")


def test_capture_begun_after_the_200_ok_starts_mid_dialog() -> None:
    sip = _sip("test_outbound_softphone_calls_lync_twelve_steps")
    # The softphone's 200 OK: both legs are answered by then.
    answered = next(m.frame for m in sip if m.label() == "200 OK (INVITE)"
                    and m.dst == f"{NET}.40")
    late = [m for m in sip if m.frame > answered]
    [call] = _calls(late)
    assert call.starts_mid_dialog
    assert call.flow == "outbound"  # the ACKs tell who called whom
    assert set(call.legs_seen) == {PHONE, LYNC}
    assert call.start == late[0].time


def test_two_captures_joined_give_two_calls() -> None:
    first = _sip("test_outbound_softphone_calls_lync_twelve_steps")
    second = _sip("test_inbound_lync_calls_extension_1000")
    shift = first[-1].time + 300 - second[0].time
    both = first + [replace(m, time=m.time + shift, frame=m.frame + 10_000) for m in second]
    calls = _calls(both)
    assert [c.flow for c in calls] == ["outbound", "inbound"]
    assert [len(c.messages) for c in calls] == [len(first), len(second)]
    assert calls[0].end < calls[1].start


def test_register_and_options_never_make_calls() -> None:
    sip = _sip("test_inbound_lync_calls_extension_1000")
    register = [m for m in sip if m.method == "REGISTER"]
    assert register
    template = next(m for m in sip if m.is_request and m.method == "INVITE")
    options = template.data.replace(b"INVITE sip:", b"OPTIONS sip:", 1).replace(
        b" INVITE\r\n", b" OPTIONS\r\n")
    from harness.sip import parse_message

    opt = replace(template, data=options, message=parse_message(options))
    assert opt.method == "OPTIONS"
    assert _calls(register + [opt]) == []


def test_retransmitted_invite_does_not_make_a_second_call() -> None:
    sip = _sip("test_outbound_softphone_calls_lync_twelve_steps")
    invite = next(m for m in sip if m.is_request and m.method == "INVITE")
    again = replace(invite, time=invite.time + 0.5, frame=invite.frame + 100_000)
    with_retransmission = sorted(sip + [again], key=lambda m: m.time)
    [call] = _calls(with_retransmission)
    assert call.flow == "outbound"
    assert len(call.call_ids) == 2


def test_call_in_the_middle_of_a_registration_keeps_its_register() -> None:
    [call] = _calls(_sip("test_lync_dials_1001_reaches_skype_test_number_and_hears_echo"))
    assert sum(1 for m in call.messages if m.method == "REGISTER") == 4

"""The seed's twelve steps ("Detailed Call Flow"), checked from one capture.

Both legs of the gateway are checked: the Lync trunk (Asterisk <-> Mediation Server, TCP)
step by step as the seed's trace shows it, and the softphone's leg (UDP) for the messages
that must match (INVITE relayed, 180/183, 200, ACK, hold and resume passed through, BYE
relayed). Then the header rules, the SDP rules and the RTP rules on each leg. Where the
softphone is concerned the checks follow the RFCs a real phone follows, not one script
(``phone_rules``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.cursor import (
    Cursor,
    Predicate,
    direction_is,
    has_credentials,
    leg_cursor,
    parsed_events,
    req,
    request_of,
    resp,
    ruri_user,
    user_of,
)
from harness.analysis.legs import LYNC_LEG, Leg, build_leg, lync_trunk, uri_of
from harness.analysis.media_rules import SUITE_TONES, check_call_content
from harness.analysis.phone_rules import (
    EXTENSION,
    Registration,
    check_invite_target,
    check_phone_sdp,
    check_uas_trying,
    gateway_registration,
    uri_equivalent,
)
from harness.analysis.rtcp_rules import check_call_rtcp
from harness.analysis.rtp_rules import MediaTimeline, check_call_media
from harness.analysis.sdp_rules import (
    check_codecs,
    check_directions,
    check_origin_versions,
    sdp_events,
)
from harness.analysis.sip_rules import check_leg_headers
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.capture.sip import CapturedSip
from harness.roles import ASTERISK, MEDIATION, SOFTPHONE, Roles

PHONE_LEG = "softphone (UDP)"
LYNC_NUMBER = "+14255550150"


def check_lync_flow(captured: Sequence[CapturedSip], media: Capture, roles: Roles,
                    pcap: Path | None, direction: str, flow: str, *,
                    deployment: bool = False, registered_contact: str | None = None) -> Verdict:
    """`direction`: 'outbound' (softphone calls Lync) or 'inbound' (Lync calls 1000).
    `deployment`: a capture from elsewhere, which may hold one leg only or begin mid-call:
    what it does not hold is reported as not checked. `registered_contact`: the Contact the
    gateway holds for extension 1000 (its registration state), for a capture that does not
    hold the softphone's REGISTER; ValueError when it is not a SIP URI."""
    gateway_state = (gateway_registration(registered_contact)
                     if registered_contact is not None else None)
    v = Verdict(flow, pcap, family="Lync", one_leg_ok=deployment)
    events = parsed_events(v, captured, roles)
    lync = lync_trunk(events, mid_dialog=deployment)
    phone = build_leg(PHONE_LEG, "UDP", (ASTERISK, SOFTPHONE), events, mid_dialog=deployment)
    if not lync.events and not phone.events:
        v.check("1", LYNC_LEG, "INVITE", False, "a call in the capture", "no INVITE on either leg")
        return v
    timeline = MediaTimeline()
    if direction == "outbound":
        _outbound_steps(v, lync, phone, timeline)
    else:
        _inbound_steps(v, lync, phone, timeline, gateway_state)
    for leg in (lync, phone):
        if leg.events:
            check_leg_headers(v, leg, gateway=ASTERISK)
            check_codecs(v, leg, senders=(ASTERISK, MEDIATION))
            if leg is phone:
                check_phone_sdp(v, leg, SOFTPHONE)
            check_origin_versions(v, leg)
            # The softphone's answers are judged with its SDP, and named as its own.
            check_directions(v, leg, answerers=(ASTERISK, MEDIATION))
    # Asterisk relays each leg's stream to the other: a gap it copies is the sender's
    check_call_media(v, media, (lync, phone), timeline, relay=ASTERISK)
    # What is heard: each far end's tone, relayed to the other (speech in a deployment's)
    check_call_content(v, media, (lync, phone), timeline, relay=ASTERISK, tones=SUITE_TONES,
                       strict=not deployment)
    check_call_rtcp(v, media, (lync, phone), timeline, judged=(ASTERISK,))
    return v


def call_setup(v: Verdict, c: Cursor, caller: str, callee: str, invite_pred: Predicate,
                invite_text: str,
                lync_style: bool) -> tuple[CapturedSip | None, CapturedSip | None]:
    """Steps 1-6 on one leg; returns the INVITE and its 200."""
    invite = c.expect("1", "INVITE", req("INVITE", caller, invite_pred), invite_text,
                      initial=True)
    if invite is not None:
        v.equal("1", c.leg.name, "INVITE transport", c.leg.transport, invite.transport,
                invite.frame)
    if callee == SOFTPHONE and invite is not None:
        check_uas_trying(c, invite, callee)  # a phone owes 100 only as RFC 3261 17.2.1 says
    else:
        c.expect("2", "100 Trying", resp(100, "INVITE", callee), f"100 Trying from {callee}",
                 advance=False, initial=True)
    if lync_style:
        # The seed's steps 3 and 4: 183 Session Progress without SDP, then 180 Ringing.
        p183 = c.expect("3", "183 Session Progress", resp(183, "INVITE", callee),
                        f"183 Session Progress from {callee}", advance=False, initial=True)
        if p183 is not None:
            v.equal("3", c.leg.name, "183 body", 0, len(p183.msg.body), p183.frame)
        c.expect("4", "180 Ringing", resp(180, "INVITE", callee), f"180 Ringing from {callee}",
                 advance=False, initial=True)
    else:
        # Seed steps 3-4: "the 183 Session Progress message to the Asterisk server can
        # cause a 180 Ringing message to the X-Lite client": the caller is told it rings.
        c.expect("4", "180 Ringing", resp(180, "INVITE", callee),
                 f"180 Ringing relayed by {callee}", advance=False, initial=True)
    ok = c.expect("5", "200 OK", lambda e: resp(200, "INVITE", callee)(e) and bool(e.msg.body),
                  f"200 OK with SDP from {callee}", initial=True)
    ack = c.expect("6", "ACK", req("ACK", caller), f"ACK from {caller}", initial=True)
    if ok is not None and ack is not None:
        contact = uri_of(ok.msg.headers.get("Contact"))
        ack_uri = request_of(ack).uri
        try:
            # RFC 3261 12.2.1.1: the remote target, compared as URIs are (19.1.4).
            same = contact is not None and uri_equivalent(request_of(ack).sip_uri, contact)
        except ValueError:
            same = False
        v.check("6", c.leg.name, "ACK Request-URI", same,
                f"the 200's Contact URI {contact}", ack_uri, ack.frame)
        if contact is not None:
            host = contact.maddr or contact.host
            port = contact.port or 5060
            v.check("6", c.leg.name, "ACK destination", (ack.dst, ack.dport) == (host, port),
                    f"{host}:{port} "
                    f"(the Contact's {'maddr' if contact.maddr else 'host'} and port)",
                    f"{ack.dst}:{ack.dport}", ack.frame)
        if invite is not None:
            v.equal("6", c.leg.name, "ACK CSeq", invite.cseq, ack.cseq, ack.frame)
    return invite, ok


def hold_resume_bye(v: Verdict, c: Cursor, holder: str, other: str, passed_on: bool,
                     timeline: MediaTimeline) -> None:
    """Steps 8-12 on one leg. `holder` sends the hold/resume re-INVITEs and the BYE."""
    leg = c.leg.name
    held_dirs = ("inactive",) if not passed_on else ("sendonly", "inactive")
    hold_text = ("re-INVITE with a=inactive (seed step 8; MS-SDPEXT: Lync holds with inactive)"
                 if not passed_on else
                 "the hold passed on as a re-INVITE with a=sendonly or a=inactive")
    hold = c.expect("8", "hold re-INVITE", req("INVITE", holder, direction_is(*held_dirs)),
                    hold_text)
    if hold is not None:
        ok = c.expect("8", "hold 200 OK", lambda e: resp(200, "INVITE",
                                                         other)(e) and e.cseq == hold.cseq,
                      f"200 OK from {other} to the hold")
        ack = c.expect("8", "hold ACK", lambda e: req("ACK", holder)(e) and e.cseq == hold.cseq,
                       f"ACK from {holder}")
        if ok is not None:
            timeline.held_from(leg, (ack or ok).time)
    resume = c.expect("9", "resume re-INVITE", req("INVITE", holder, direction_is("sendrecv")),
                      "re-INVITE with a=sendrecv (seed step 9)")
    if resume is not None:
        ok = c.expect("9", "resume 200 OK", lambda e: resp(200, "INVITE",
                                                           other)(e) and e.cseq == resume.cseq,
                      f"200 OK from {other} to the resume")
        if ok is not None:
            sdp = ok.msg.sdp()
            audio = sdp.audio if sdp else None
            v.check("9", leg, "resume answer direction",
                    audio is not None and audio.direction == "sendrecv",
                    "a=sendrecv (seed step 9: the 200 OK with a=sendrecv takes the call off hold)",
                    f"a={audio.direction}" if audio else "no SDP", ok.frame)
        ack = c.expect("9", "resume ACK", lambda e: req("ACK", holder)(e) and e.cseq == resume.cseq,
                       f"ACK from {holder}")
        timeline.resumed_at(leg, (ack or ok or resume).time)
    bye_steps(v, c, holder, other, timeline)


def bye_steps(v: Verdict, c: Cursor, holder: str, other: str,
              timeline: MediaTimeline) -> None:
    """Steps 10-11 on one leg: `holder`'s BYE and `other`'s 200 to it."""
    bye = c.expect("10", "BYE", req("BYE", holder), f"BYE from {holder} (seed step 10)")
    if bye is not None:
        done = c.expect("11", "200 OK to BYE", lambda e: resp(200, "BYE",
                                                              other)(e) and e.cseq == bye.cseq,
                        f"200 OK from {other} (seed step 11)")
        timeline.ended_at(c.leg.name, (done or bye).time)


def _after_answer(v: Verdict, lc: Cursor, pc: Cursor, ok: CapturedSip | None,
                  p_ok: CapturedSip | None, timeline: MediaTimeline) -> None:
    """Steps 7-12 on both legs: Lync holds, resumes and hangs up; Asterisk passes it on."""
    if ok is not None:
        timeline.answered_at(LYNC_LEG, ok.time)
    if p_ok is not None:
        timeline.answered_at(PHONE_LEG, p_ok.time)
    hold_resume_bye(v, lc, MEDIATION, ASTERISK, passed_on=False, timeline=timeline)
    hold_resume_bye(v, pc, ASTERISK, SOFTPHONE, passed_on=True, timeline=timeline)


@dataclass
class OutboundSetup:
    """Steps 1-6 of an outbound call on both legs: the cursors, each INVITE and its 200."""

    lync: Cursor
    phone: Cursor
    invite: CapturedSip | None
    ok: CapturedSip | None
    phone_invite: CapturedSip | None
    phone_ok: CapturedSip | None


def outbound_setup(v: Verdict, lync: Leg, phone: Leg) -> OutboundSetup:
    """The softphone's leg (its INVITE after the 401 challenge, the answer relayed to it),
    then the trunk's (Asterisk's INVITE over TCP and the seed's 100/183/180/200/ACK)."""
    pc = leg_cursor(v, phone)
    p_inv, p_ok = call_setup(
        v, pc, SOFTPHONE, ASTERISK,
        has_credentials,
        f"INVITE {LYNC_NUMBER} with credentials from the softphone (seed step 1)", lync_style=False)
    if p_inv is not None:
        v.equal("1", PHONE_LEG, "dialled number", LYNC_NUMBER, ruri_user(p_inv), p_inv.frame)
    lc = leg_cursor(v, lync)
    inv, ok = call_setup(v, lc, ASTERISK, MEDIATION, lambda e: True,
                          f"INVITE {LYNC_NUMBER} from Asterisk over TCP (seed step 1)",
                          lync_style=True)
    return OutboundSetup(lc, pc, inv, ok, p_inv, p_ok)


def _outbound_steps(v: Verdict, lync: Leg, phone: Leg, timeline: MediaTimeline) -> None:
    setup = outbound_setup(v, lync, phone)
    inv = setup.invite
    if inv is not None:
        v.equal("1", LYNC_LEG, "Request-URI user (+ added toward Lync)", LYNC_NUMBER,
                ruri_user(inv), inv.frame)
        v.equal("1", LYNC_LEG, "To user", LYNC_NUMBER, user_of(inv.msg.headers.get("To")),
                inv.frame)
        v.equal("1", LYNC_LEG, "From user (the softphone's number)", "1000",
                user_of(inv.msg.headers.get("From")), inv.frame)
    _after_answer(v, setup.lync, setup.phone, setup.ok, setup.phone_ok, timeline)


def _inbound_steps(v: Verdict, lync: Leg, phone: Leg, timeline: MediaTimeline,
                   gateway_state: Registration | None) -> None:
    lc = leg_cursor(v, lync)
    inv, ok = call_setup(v, lc, MEDIATION, ASTERISK, lambda e: True,
                          "INVITE +1000 from the Mediation Server", lync_style=False)
    if inv is not None:
        v.equal("1", LYNC_LEG, "Request-URI user", "+1000", ruri_user(inv), inv.frame)
    pc = leg_cursor(v, phone)
    p_inv, p_ok = call_setup(v, pc, ASTERISK, SOFTPHONE, lambda e: True,
                              f"INVITE {EXTENSION} relayed to the softphone", lync_style=False)
    if p_inv is not None:
        check_invite_target(v, phone, p_inv, SOFTPHONE, gateway_state)
        v.equal("1", PHONE_LEG, "caller number (+ dropped toward the softphone)", LYNC_NUMBER[1:],
                user_of(p_inv.msg.headers.get("From")), p_inv.frame)
    _after_answer(v, lc, pc, ok, p_ok, timeline)


__all__ = ["LYNC_LEG", "PHONE_LEG", "OutboundSetup", "bye_steps", "call_setup",
           "check_lync_flow", "hold_resume_bye", "outbound_setup", "sdp_events"]

"""The seed's "Outbound Calls": a Lync user or the softphone dials 9501 and reaches Sara
Davis on Google Talk ([gtalk-out]: Dial(Motif/gtalk_account/sara@gmail.test), Busy when
the Dial fails).

The Mediation Server simulator places the Lync user's call (+9501: the seed gives Lync no
rule for 9501, so the number goes to the trunk as Lync would send an E.164 number); the
softphone (SIPp, extension 1000) dials 9501. Asterisk sends Sara a Jingle
session-initiate; she answers (or declines, is offline, or lets it ring until the
softphone gives up), RTP flows between the caller and her through Asterisk, and the caller
hangs up. Before the call, the seed's troubleshooting views are read over AMI (the
connection, the buddy list with Sara's Jingle-capable resource) and, while it is up, the
Motif channel.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from harness.analysis.cursor import any_request, leg_cursor, req, resp
from harness.analysis.legs import LYNC_LEG, Leg, build_leg, lync_trunk, to_events
from harness.analysis.lync_flow import PHONE_LEG
from harness.analysis.rtp_rules import LegTimes, check_leg_media
from harness.analysis.verdict import Verdict
from harness.flows.gtalk_session import (
    GTALK_USER,
    SARA_JID,
    GtalkRun,
    jingle_checks,
    media_address,
)
from harness.flows.run import CallPcap, Simulators, last_call, prepare, verdict_of
from harness.flows.xmpp_account import ACCOUNT, wait_buddy
from harness.gtalk import GtalkError
from harness.gtalk.phone import Answering
from harness.roles import ASTERISK, MEDIATION, SOFTPHONE
from harness.topology.sipp import SippResult

if TYPE_CHECKING:
    from harness.capture.capture import Capture
    from harness.gtalk import GtalkUser
    from harness.topology.topology import Topology

Mode = Literal["answer", "decline", "offline", "ring"]
Caller = Literal["lync", "softphone"]
VIEWS = "views"


@dataclass
class OutRun(GtalkRun):
    mode: Mode = "answer"
    caller: Caller = "lync"
    # the seed's troubleshooting views as read: what, expected, seen
    views: list[tuple[str, str, str, bool]] = field(default_factory=list)


def lync_calls_sara(topology: Topology, pcap: CallPcap, user: GtalkUser, mode: Mode = "answer",
                    talk_ms: int = 2000) -> OutRun:
    """Lync dials 9501; Sara meets the call as ``mode`` says (not ``ring``: the Mediation
    Server simulator does not give up on a call)."""
    return calls_sara(topology, pcap, user, mode, "lync", talk_ms)


def phone_calls_sara(topology: Topology, pcap: CallPcap, user: GtalkUser,
                     mode: Mode = "answer") -> OutRun:
    """The softphone dials 9501 (SIPp: 2 s of talk and its BYE, or 486, or its CANCEL after
    2.5 s of ringing)."""
    return calls_sara(topology, pcap, user, mode, "softphone", 2000)


def calls_sara(topology: Topology, pcap: CallPcap, user: GtalkUser, mode: Mode,
               caller: Caller, talk_ms: int) -> OutRun:
    sims = Simulators.of(topology)
    user.media_address = media_address(topology)
    # before the call is placed: Asterisk's session-initiate may come before _meet waits
    user.meet_incoming(Answering("decline" if mode == "decline" else
                                 "ring" if mode == "ring" else "answer"))
    who = "Lync" if caller == "lync" else "the softphone"
    run = OutRun(f"{'Lync' if caller == 'lync' else 'Softphone'} dials 9501, Sara "
                 + {"answer": "answers", "decline": "declines", "offline": "offline",
                    "ring": "rings, caller gives up"}[mode], pcap, None, None, sims.roles,
                 {"mode": mode, "caller": caller, "talk_ms": talk_ms}, mode=mode,
                 caller=caller, media_host=user.media_address,
                 user_jid=f"{user.jid}/{user.resource}")
    if mode == "offline":
        user.appear_offline()
    try:
        _views_before(topology, run)
        prepare(sims.mediation, hold_after_ms=None, hangup_after_ms=talk_ms,
                hangup_by="mediation")
        results: list[SippResult] = []
        phone = None
        if caller == "lync":
            sims.mediation.place_call("+9501", **{"from": "+14255550150"})
        else:
            scenario = ("softphone_uac_cancel_gtalk.xml" if mode == "ring"
                        else "softphone_uac_call_gtalk.xml")
            phone = threading.Thread(target=lambda: results.append(
                topology.softphone.run(scenario, pcap.label, service="9501", timeout_s=30)))
            phone.start()
        if mode != "offline":
            _meet(topology, user, run)
        if phone is not None:
            phone.join(40)
            run.sipp = results[0] if results else None
            if run.sipp is None or not run.sipp.ok:
                run.problems.append(f"{who}: " + (run.sipp.describe() if run.sipp
                                                   else "SIPp did not finish"))
        else:
            run.mediation_call = last_call(sims.mediation, run.problems,
                                           timeout_s=talk_ms / 1000 + 15)
    finally:
        if mode == "offline":
            user.appear_online()
    pcap.stop()
    return run


def _views_before(topology: Topology, run: OutRun) -> None:
    seen = wait_buddy(topology, SARA_JID, capable=run.mode != "offline")
    state, listed, capable = seen.state, seen.listed, seen.capable
    run.views += [
        ("xmpp show connections", f"{ACCOUNT} Connected", state, state == "Connected"),
        ("xmpp show buddies", f"{SARA_JID} listed", str(listed), listed),
        ("xmpp show buddies", f"a resource of {SARA_JID} Jingle capable: "
         f"{'yes' if run.mode != 'offline' else 'none (offline)'}", str(capable),
         capable == (run.mode != "offline")),
    ]


def _meet(topology: Topology, user: GtalkUser, run: OutRun) -> None:
    try:
        run.jingle = user.wait_incoming(10)
    except GtalkError as exc:
        run.problems.append(f"Sara got no Jingle session-initiate: {exc}")
        return
    if run.mode == "answer":
        if not user.wait_answered(run.jingle, 5):
            run.problems.append("Sara's session-accept did not go through")
        elif not user.wait_media(run.jingle, 5):
            run.problems.append("ICE did not complete within 5 s")
        channels = topology.gateway.adapter().channels_of("Motif")
        run.views.append(("core show channels (seed: gtalk show channels)",
                          "one Motif channel up during the call", ", ".join(channels) or "none",
                          len(channels) == 1))
    if not user.wait_ended(run.jingle, 15):
        run.problems.append("the Jingle session did not end within 15 s")
        user.hangup(run.jingle)


def verify(run: OutRun) -> Verdict:
    def check(capture: Capture) -> Verdict:
        v = Verdict(run.flow, run.pcap.path, family="Google Talk")
        for what, expected, seen, ok in run.views:
            v.check(VIEWS, ASTERISK, what, ok, expected, seen)
        events, _ = to_events(capture.sip_messages(), run.roles)
        if run.caller == "lync":
            leg = lync_trunk(events)
            caller = MEDIATION
        else:
            leg = build_leg(PHONE_LEG, "UDP", (ASTERISK, SOFTPHONE), events)
            caller = SOFTPHONE
        answered = _caller_leg(v, capture, run, leg, caller)
        addresses = {ASTERISK: run.address_of(ASTERISK), GTALK_USER: run.media_host}
        outcome, by, reason = {
            "answer": ("answered", ASTERISK, "success"),
            "decline": ("declined", GTALK_USER, "decline"),
            "offline": ("none", None, None),
            # XEP-0166 7.4: the initiator gives up before the session is accepted
            "ring": ("unanswered", ASTERISK, "cancel"),
        }[run.mode]
        jingle_checks(v, run, capture, initiator=ASTERISK, outcome=outcome,
                      terminated_by=by, reason=reason, addresses=addresses)
        if answered is not None:
            v.note(f"set-up (session-initiate to Sara's first RTP): {run.setup_ms()} ms")
        return v

    return verdict_of(run, check)


def _caller_leg(v: Verdict, capture: Capture, run: OutRun, leg: Leg,
                caller: str) -> float | None:
    """The caller's SIP leg: INVITE 9501; answered (200 OK, RTP both ways, the caller's
    BYE), refused with 486 Busy Here ([gtalk-out]'s Busy; RFC 3261 21.4.24), or ringing
    (Sara's session-info ringing relayed as 180, RFC 3261 21.1.2) until the caller's
    CANCEL (487 for the INVITE, RFC 3261 9.2)."""
    c = leg_cursor(v, leg)
    number = "+9501" if caller == MEDIATION else "9501"
    if caller == SOFTPHONE:  # RFC 3261 22.2: challenged, then sent with credentials
        c.expect("route", "401", resp(401, "INVITE", ASTERISK), "401 to the first INVITE")
    inv = c.expect("route", f"INVITE {number}", req("INVITE", caller),
                   f"INVITE {number} from the {caller}")
    if inv is None:
        return None
    if run.mode in ("decline", "offline"):
        busy = c.expect("busy", "486 Busy Here", resp(486, "INVITE", ASTERISK),
                        "486 Busy Here from Asterisk ([gtalk-out] Busy: RFC 3261 21.4.24)")
        if busy is not None:
            c.expect("busy", "ACK", any_request("ACK"), "ACK of the 486 (RFC 3261 17.1.1.3)")
        return None
    if run.mode == "ring":
        c.expect("ring", "180 Ringing", resp(180, "INVITE", ASTERISK),
                 "180 Ringing: Sara's session-info <ringing/> relayed (RFC 3261 21.1.2)")
        c.expect("ring", "CANCEL", req("CANCEL", caller), "CANCEL from the caller")
        c.expect("ring", "487", resp(487, "INVITE", ASTERISK),
                 "487 Request Terminated for the INVITE (RFC 3261 9.2)")
        return None
    ok = c.expect("answer", "200 OK", resp(200, "INVITE", ASTERISK), "200 OK from Asterisk")
    bye = c.expect("end", "BYE", req("BYE", caller), f"BYE from the {caller}")
    if bye is not None:
        c.expect("end", "200 OK (BYE)", resp(200, "BYE", ASTERISK), "200 OK to the BYE")
    if ok is not None:
        check_leg_media(v, capture, leg, LegTimes(answered=ok.time,
                                                 ended=bye.time if bye else None))
        return ok.time
    return None


__all__ = ["LYNC_LEG", "OutRun", "calls_sara", "lync_calls_sara", "phone_calls_sara",
           "verify"]

"""The seed's Google Talk IVR ("Sample Jabber Interactive Voice Response"), checked from the
chat transcript and the pcap of the Lync trunk.

The menu lines in order; each option's prompts; the call routed to the right number on
the cs-trunk (the Lync trunk) with CALLERID(name) taken from the user's answer; [info]'s
address lines; [conf-center]'s conference id sent after the answer as RFC 4733 digits,
packet by packet; no answer, or an unknown option, ends the call without a trunk call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.analysis.cursor import any_request, expect_invite, leg_cursor, resp
from harness.analysis.legs import LYNC_LEG, lync_trunk, to_events
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.capture.sip import CapturedSip
from harness.media.find import rtp_streams
from harness.roles import ASTERISK, MEDIATION, Roles
from harness.sip.uri import NameAddr

MENU = [
    "Thank you for calling Contoso",
    "Choose one of the following options",
    "1 - Company Directory",
    "2 - Call Employee",
    "3 - Customer Service",
    "4 - Company Info",
    "5 - Conference Center",
]
INFO = ["Contoso", "135 East West Street", "Seattle, WA 84984", "Phone: 456-765-9870",
        "Fax: 456-765-9875"]
# The seed's [globals] (its IVR's "Extension Dial Plan Configuration"), as the fixtures have them.
AA, CSRV, CONFNUM = "18036759999", "18036759992", "18036759990"
CHAT = "XMPP chat"


NO_CHAT = "the XMPP chat is not in the SIP capture"


def check_ivr(transcript: Sequence[tuple[str, str]] | None, captured: Sequence[CapturedSip],
              capture: Capture, roles: Roles, pcap: Path | None, flow: str, option: str | None,
              name: str, number: str, confid: str, *, deployment: bool = False) -> Verdict:
    """`transcript` None: the chat is not at hand (a deployment's SIP capture), so its
    checks are not made. `deployment`: the capture may begin mid-call."""
    v = Verdict(flow, pcap, family="Google Talk", one_leg_ok=deployment)
    said = [text for who, text in transcript or () if who == ASTERISK]
    if transcript is None:
        v.not_checked("menu", CHAT, "menu lines, in order", NO_CHAT, MENU)
    else:
        v.equal("menu", CHAT, "menu lines, in order", MENU, said[:len(MENU)])
    events, _ = to_events(captured, roles)
    lync = lync_trunk(events, mid_dialog=deployment)
    destination = {"1": AA, "2": number, "3": CSRV, "5": CONFNUM}.get(option or "")
    if destination is None:
        after = said[len(MENU):]
        if option == "4" and transcript is None:
            v.not_checked("info", CHAT, "[info] lines, in order", NO_CHAT, INFO)
        elif option == "4":
            v.equal("info", CHAT, "[info] lines, in order", INFO, after[:len(INFO)])
        v.check("route", LYNC_LEG, "no call to Lync", not lync.events,
                "no INVITE on the trunk after "
                + ("[info]" if option == "4" else "option " + repr(option)),
                "none" if not lync.events else lync.events[0].describe())
        return v
    c = leg_cursor(v, lync)
    inv = expect_invite(c, "route", "INVITE", ASTERISK, destination,
                        f"INVITE {destination} on the Lync trunk", initial=True)
    if inv is None and not c.leg_started_before_capture:
        return v
    if inv is not None:
        try:
            display = NameAddr.parse(inv.msg.headers.get("From") or "").display
        except ValueError:
            display = None
        v.equal("route", LYNC_LEG, "CALLERID(name) from the user's answer", name, display,
                inv.frame)
    ok = c.expect("route", "200 OK", resp(200, "INVITE", MEDIATION),
                  "200 OK from the Mediation Server", initial=True)
    if option == "5" and ok is not None and inv is not None:
        _check_dtmf(v, capture, inv.src, inv.dst, ok.time, confid)
    elif option == "5" and deployment:
        v.not_checked("dtmf", LYNC_LEG, "conference id as RFC 4733 digits",
                      "the answer (200 OK) is not in the capture", confid)
    c.expect("end", "BYE", any_request("BYE"), "BYE ending the call")
    return v


def _check_dtmf(v: Verdict, capture: Capture, src: str, dst: str, answered: float,
                confid: str) -> None:
    """Dial's D() option: the conference id as RFC 4733 events from Asterisk after answer."""
    streams = [s for s in rtp_streams(capture) if (s.src, s.dst) == (src, dst)]
    events = sorted((e for s in streams for e in s.dtmf_events()), key=lambda e: e.start_time)
    digits = "".join(e.digit for e in events)
    v.equal("dtmf", LYNC_LEG, "conference id as RFC 4733 digits", confid, digits)
    early = [e for e in events if e.start_time < answered]
    v.check("dtmf", LYNC_LEG, "digits after the answer", not early, "every event after the 200 OK",
            "all after" if not early else f"{len(early)} before it")
    for e in events:
        v.check("dtmf", LYNC_LEG, f"digit {e.digit} (RFC 4733)", not e.violations,
                "marker on the first packet, constant timestamp, growing duration, "
                "three end packets",
                "; ".join(e.violations) or "as RFC 4733 says", e.start_frame)

"""What the Google Talk call flows share: the host address the gateway reaches for media,
the Jingle stanzas of a run (the Google Talk user's c2s stream in the capture), and the
Jingle and media checks of one call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.analysis.cursor import status_of
from harness.analysis.jingle_media import check_jingle_media
from harness.analysis.jingle_rules import (
    JingleSession,
    Stanza,
    StanzaLike,
    check_jingle,
    jingle_actions,
)
from harness.analysis.legs import lync_trunk, to_events
from harness.analysis.rtp_rules import LegTimes, check_leg_media
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.capture.xmpp import xmpp_stanzas
from harness.flows.run import CallRun
from harness.media.find import rtp_streams
from harness.roles import ASTERISK, MEDIATION

if TYPE_CHECKING:
    from harness.gtalk import GtalkUser
    from harness.gtalk.phone import JingleCall
    from harness.topology.topology import Topology

ASTERISK_JID = "asterisk@gmail.test"
SARA_JID = "sara@gmail.test"
GTALK_USER = "Google Talk user"
JID_ROLES = {ASTERISK_JID: ASTERISK, SARA_JID: GTALK_USER}
# A documented difference of chan_motif (both Asterisks), for the tests' gateway_difference
# marks: a call cleared normally (cause 16) ends with <gone/>, the first entry of its reason
# table for that cause, where XEP-0166 7.4 has <success/> (<gone/>: the entity is going
# offline).
MOTIF_GONE = ("chan_motif ends a normally cleared call with <gone/> (cause 16's first entry "
              "in its reason table), not XEP-0166 7.4's <success/>")
MOTIF_GONE_EXPLAINS = ("jingle:session-terminate reason (XEP-0166 7.4)",)
# The same table, for a session the caller cancels before Sara answers: XEP-0166 7.4's
# <cancel/> ("the initiator cancels the session before it is accepted").
MOTIF_CANCEL_GONE = ("chan_motif ends a session its caller cancelled with <gone/>, not "
                     "XEP-0166 7.4's <cancel/>")
GATEWAYS = ("asterisk22-pjsip", "asterisk16-chansip")


def media_address(topology: Topology) -> str:
    """The host as the topology's containers reach it: the bridge's gateway address
    (NET_PREFIX.1). The bot binds ICE there only."""
    return f"{topology.config.net_prefix}.1"


def user_stanzas(capture: Capture, host: str, jid: str) -> list[StanzaLike]:
    """The Google Talk user's stanzas as the XMPP server's capture point saw them on the
    user's c2s connection (the one whose client end is ``host``): clear on every gateway,
    where the gateway's own connection is TLS on some. What the user sent carries no
    ``from`` (the server stamps it on delivery), so its sender is the user's full ``jid``;
    what was delivered to it carries both."""
    out: list[StanzaLike] = []
    for st in xmpp_stanzas(capture):
        if st.src_host == host:
            out.append(Stanza(st.time, jid, st.element.get("to") or "", st.element))
        elif st.dst_host == host:
            out.append(Stanza(st.time, st.element.get("from") or "", jid, st.element))
    return out


@dataclass
class GtalkRun(CallRun):
    """A run with a Jingle call: the user's record of it, and who the user was on the wire
    (its full JID; its address, for both its XMPP connection and its one ICE candidate)."""

    jingle: JingleCall | None = None
    user_jid: str = ""
    # when Asterisk owes the Google Talk user RTP (a far leg answered), if it does
    owes_user_from: float | None = None
    media_host: str = ""

    def address_of(self, role: str) -> str:
        return next((a for a, r in self.roles.by_address.items() if r == role), "")

    def setup_ms(self) -> int | None:
        """session-initiate to the first RTP packet the user received."""
        s = self.jingle.setup_s if self.jingle else None
        return None if s is None else round(s * 1000)


def jingle_checks(v: Verdict, run: GtalkRun, capture: Capture, *, initiator: str,
                  outcome: str, terminated_by: str | None, reason: str | None,
                  addresses: Mapping[str, str], asterisk_owes: bool = True) -> JingleSession:
    """The Jingle exchange as captured, then (for an answered session) ICE and RTP on its
    media."""
    stanzas = user_stanzas(capture, run.media_host, run.user_jid)
    if not stanzas:
        v.note(f"no XMPP stanza of the Google Talk user's connection (from {run.media_host}) "
               "in the capture: was the XMPP server's capture point running?")
    session = check_jingle(v, jingle_actions(stanzas), JID_ROLES, initiator=initiator,
                           outcome=outcome, terminated_by=terminated_by, reason=reason,
                           addresses=addresses)
    if outcome == "answered" and session.accepted is not None:
        owes = {ASTERISK: run.owes_user_from if asterisk_owes else None}
        if initiator == ASTERISK:
            owes = {}
        check_jingle_media(v, capture, session, owes_from=owes or None)
    if run.jingle is not None:
        v.note(f"Jingle session {run.jingle.sid}: {run.jingle.summary()}")
    return session


def trunk_media(v: Verdict, run: CallRun, capture: Capture, *,
                after_digits: bool = False) -> None:
    """RTP both ways on the Lync trunk from the Mediation Server's answer to the BYE, with
    the rules of every leg (rtp_rules): the far half of the Google Talk user's call.
    ``after_digits`` (Dial's D() option): Asterisk's direction is judged from the end of
    the digits it sends after the answer; until then it sends them as a stream of its own
    (its own SSRC and timestamps) and only then relays the Google Talk user's stream."""
    events, _ = to_events(capture.sip_messages(), run.roles)
    lync = lync_trunk(events)
    ok = next((e for e in lync.events if e.method == "INVITE" and e.sender == MEDIATION
               and status_of(e) == 200), None)
    bye = next((e for e in lync.events if e.is_request and e.method == "BYE"), None)
    if ok is None:
        return
    start = ok.time
    if after_digits:
        ends = [float(capture.time[d.last_frame - 1]) for st in rtp_streams(capture)
                if (st.src, st.dst) == (ok.dst, ok.src) for d in st.dtmf_events()]
        if ends:
            start = max(start, max(ends))
            v.note(f"RTP on the Lync trunk judged from {start - ok.time:.2f} s after the "
                   "answer, the end of the conference id's digits (D())")
    check_leg_media(v, capture, lync, LegTimes(answered=start,
                                              ended=bye.time if bye else None))


def settle(user: GtalkUser, call: JingleCall | None, timeout_s: float) -> bool:
    """Waits for the session's end (the gateway's session-terminate)."""
    return call is None or user.wait_ended(call, timeout_s)


def now() -> float:
    return time.time()

"""The media of a Jingle call, from the capture in Asterisk's network namespace: the ICE
connectivity checks between the two parties' candidates (``ice_rules``), then RTP each way
between the RTP (component 1) candidates, with the rules every leg of the suite gets
(``rtp_rules``: 20 ms spacing, sequence +1, timestamp +160, PCMU, one SSRC, nothing after
the end). Sans I/O.

The Jingle leg has no SDP, so its RTP is found heuristically (RTP version 2 on UDP between
the candidates' ports). Each direction is judged from the moment it owes media: the
caller's from the session-accept; Asterisk's toward the Google Talk user from when it has
something to relay (the far leg's answer: the IVR's chat is silent) when the caller says
so.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.analysis.ice_rules import IceParty, check_ice, stun_messages
from harness.analysis.jingle_rules import JingleSession
from harness.analysis.rtp_rules import LegTimes, check_direction, direction_of
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.media.find import rtp_streams

JINGLE_MEDIA = "Jingle media (RTP)"
# The 20 ms rules need a talk window (from the answer and to the end, less rtp_rules'
# 100 ms margins) of some packets; a shorter session (the IVR's [info] hangs up at once)
# is only asked for RTP at all.
MIN_WINDOW_S = 0.6


def check_jingle_media(v: Verdict, capture: Capture, session: JingleSession, *,
                       owes_from: Mapping[str, float | None] | None = None) -> dict[str, int]:
    """ICE and RTP between the session's two parties. ``owes_from``: sender role -> when
    its RTP must have started (default: the session-accept); None for a sender that owes
    none (its direction is then only reported). Returns packets per sender."""
    parties = list(session.transports)
    if session.accepted is None or len(parties) != 2:
        v.check("ice", JINGLE_MEDIA, "ICE parameters of both parties", False,
                "an accepted session with a transport from each side",
                f"accepted={session.accepted is not None}, transports from {parties}")
        return {}
    a, b = (_party(role, session) for role in parties)
    check_ice(v, stun_messages(capture), a, b)
    streams = rtp_streams(capture, heuristic=True)
    counts: dict[str, int] = {}
    for sender, receiver in ((a, b), (b, a)):
        src, dst = sender.address(1), receiver.address(1)
        if src is None or dst is None:
            continue
        d = direction_of([s for s in streams if s.src_port == src[1]], sender.role, src[0],
                         receiver.role, dst)
        counts[sender.role] = len(d.time)
        if len(d.time) and session.initiated is not None:
            # the call's set-up as the wire shows it
            v.note(f"RTP {d.who} on the Jingle leg: first packet "
                   f"{(float(d.time[0]) - session.initiated) * 1000:.0f} ms after the "
                   "session-initiate")
        start = (owes_from or {}).get(sender.role, session.accepted)
        if owes_from is not None and sender.role in owes_from and start is None:
            v.note(f"RTP {d.who} on the Jingle leg: {len(d.time)} packets; none owed (the "
                   "far leg never answered)")
            continue
        end = session.terminated
        if start is not None and end is not None and end - start < MIN_WINDOW_S:
            v.check("7", JINGLE_MEDIA, f"RTP {d.who}", len(d.time) > 0,
                    f"RTP to {dst[0]}:{dst[1]}, the RTP candidate (a {end - start:.2f} s "
                    "session: too short for the 20 ms rules)", f"{len(d.time)} packets")
            continue
        check_direction(v, JINGLE_MEDIA, d, LegTimes(answered=start, ended=end))
    return counts


def _party(role: str, session: JingleSession) -> IceParty:
    ufrag, pwd, cands = session.transports[role]
    return IceParty(role, ufrag, pwd, tuple(cands), controlling=role == session.initiator)

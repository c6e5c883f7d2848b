"""Each call of a load run checked from the capture, with the suite's own rules.

Per call, on both legs: the seed's set-up steps (``lync_flow``'s: INVITE with credentials,
100, 183 and 180 on the trunk, 180 relayed, 200 OK with SDP, the ACK to the Contact), no
2xx sent again once the ACK went out (RFC 3261 13.3.1.4: the UAS retransmits its 200 OK
until the ACK reaches it, so a retransmission after the ACK means the ACK was lost), hold
and resume when asked (``lync_flow``'s steps 8-9), the BYE and its 200 (steps 10-11), the
header rules (``sip_rules``) and the RTP rules (``rtp_rules``: both directions on both
legs, loss, spacing, sequence, timestamps, SSRC, silence while held and after the BYE).
Then the figures: post-dial delay, RTP loss and jitter per direction, and the E-model's
MOS (``emodel``). Sans-I/O: a capture (already read) in, records out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np

from harness.analysis.legs import LYNC_LEG, Leg, build_leg
from harness.analysis.lync_flow import (
    PHONE_LEG,
    bye_steps,
    hold_resume_bye,
    outbound_setup,
)
from harness.analysis.rtp_rules import MediaTimeline, check_call_media
from harness.analysis.sip_rules import check_leg_headers
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.capture.sip import CapturedSip
from harness.load import emodel
from harness.load.correlate import CorrelatedCall
from harness.load.records import CallRecord, Direction, Failure
from harness.media.streams import RtpStream
from harness.media.views import with_streams
from harness.roles import ASTERISK, MEDIATION, SOFTPHONE

# rtp_rules' subjects: "RTP A -> B loss (0x...)", "RTP A -> B sequence", ...
_RTP_CHECK = re.compile(r"RTP (.+ -> .+?) (loss|sequence|timestamp|spacing|payload type|SSRC)"
                        r"(?: after the resume)?(?: \(0x[0-9A-F]+\))?$")
# --hold: a pause this long in one direction is the hold (the talk resumes after it)
HOLD_PAUSE_S = 0.3


def call_media(capture: Capture, streams: list[RtpStream]) -> Capture:
    """The capture as the RTP rules see it for one call: only that call's streams. (The
    softphone sends every call's RTP from one port, so a stream cannot be told from
    another's by the softphone's address and port alone; the gateway's port tells them
    apart, and ``correlate`` picked them by it.)"""
    return with_streams(capture, streams)


def _no_2xx_after_ack(v: Verdict, leg: Leg, invite: CapturedSip | None,
                      callee: str, caller: str) -> None:
    if invite is None:
        return
    cseq = invite.cseq
    acks = [e for e in leg.events if e.is_request and e.method == "ACK" and e.cseq == cseq
            and e.sender == caller]
    if not acks:
        return
    again = [e for e in leg.events if not e.is_request and e.method == "INVITE"
             and e.cseq == cseq and e.sender == callee and e.time > acks[0].time
             and getattr(e.message, "status", 0) == 200]
    v.check("6", leg.name, "200 OK not sent again after the ACK", not again,
            f"no 200 OK from {callee} after {caller}'s ACK (RFC 3261 13.3.1.4: the UAS "
            "retransmits it until the ACK reaches it)",
            "none" if not again else
            f"{len(again)} more 200 OK, the first {again[0].time - acks[0].time:.3f} s after "
            "the ACK: the ACK did not reach it", again[0].frame if again else None)


def check_call(call: CorrelatedCall, capture: Capture, *, hold: bool, title: str) -> Verdict:
    """The verdict of one correlated call (a leg it lacks fails its first step)."""
    v = Verdict(title, None, family="Lync")
    events = call.messages
    lync = build_leg(LYNC_LEG, "TCP", (ASTERISK, MEDIATION), events)
    phone = build_leg(PHONE_LEG, "UDP", (ASTERISK, SOFTPHONE), events)
    timeline = MediaTimeline()
    setup = outbound_setup(v, lync, phone)
    _no_2xx_after_ack(v, phone, setup.phone_invite, ASTERISK, SOFTPHONE)
    _no_2xx_after_ack(v, lync, setup.invite, MEDIATION, ASTERISK)
    if setup.ok is not None:
        timeline.answered_at(LYNC_LEG, setup.ok.time)
    if setup.phone_ok is not None:
        timeline.answered_at(PHONE_LEG, setup.phone_ok.time)
    if hold:
        hold_resume_bye(v, setup.lync, MEDIATION, ASTERISK, passed_on=False, timeline=timeline)
        hold_resume_bye(v, setup.phone, ASTERISK, SOFTPHONE, passed_on=True, timeline=timeline)
    else:
        bye_steps(v, setup.lync, MEDIATION, ASTERISK, timeline)
        bye_steps(v, setup.phone, ASTERISK, SOFTPHONE, timeline)
    for leg in (lync, phone):
        if leg.events:
            check_leg_headers(v, leg, gateway=ASTERISK)
    check_call_media(v, call_media(capture, call.streams), (lync, phone), timeline,
                     relay=ASTERISK)
    return v


def _first_time(events: list[CapturedSip], pred: Callable[[CapturedSip], bool]) -> float | None:
    return next((e.time for e in events if pred(e)), None)


def _delays(call: CorrelatedCall) -> tuple[float | None, float | None, float | None]:
    """RFC 6076 4.1 (Session Request Delay) on the softphone's leg: its first INVITE to
    the first provisional other than 100; the answer (200 OK) and the talk (to the BYE)."""
    if call.phone is None:
        return None, None, None
    events = call.phone.messages
    invite = _first_time(events, lambda e: e.is_request and e.method == "INVITE")
    if invite is None:
        return None, None, None

    def status(e: CapturedSip) -> int:
        return int(getattr(e.message, "status", 0))
    ring = _first_time(events, lambda e: not e.is_request and e.method == "INVITE"
                       and 100 < status(e) < 200)
    answer = _first_time(events, lambda e: not e.is_request and e.method == "INVITE"
                         and status(e) == 200)
    bye = _first_time(events, lambda e: e.is_request and e.method == "BYE")
    pdd = round((ring - invite) * 1000, 2) if ring is not None else None
    ans = round((answer - invite) * 1000, 2) if answer is not None else None
    talk = round(bye - answer, 3) if bye is not None and answer is not None else None
    return pdd, ans, talk


def _held_expected(s: RtpStream) -> int:
    """Packets expected in a stream that pauses for a hold: each talk segment (split where
    no packet came for HOLD_PAUSE_S) from its first sequence number to its last, so the
    numbers a relay skips over the withheld packets do not count as lost."""
    ext = s.extended_seq()
    if ext.size == 0:
        return 0
    cuts = np.flatnonzero(np.diff(s.time) > HOLD_PAUSE_S) + 1
    return sum(int(seg.max() - seg.min() + 1) for seg in np.split(ext, cuts))


def _directions(call: CorrelatedCall, roles: dict[str, str], hold: bool) -> list[Direction]:
    out: dict[tuple[str, str, str], Direction] = {}
    for s in call.streams:
        sender, receiver = roles.get(s.src, s.src), roles.get(s.dst, s.dst)
        leg = LYNC_LEG if MEDIATION in (sender, receiver) else PHONE_LEG
        st = s.stats()
        expected = _held_expected(s) if hold else st.expected
        lost = expected - st.packets if hold else st.lost
        key = (leg, sender, receiver)
        d = out.get(key)
        if d is None:
            out[key] = Direction(leg, sender, receiver, st.packets, expected, lost,
                                 round(st.mean_jitter_ms, 3), round(st.max_jitter_ms, 3))
        else:  # another SSRC on the same direction: its packets count too
            d.packets += st.packets
            d.expected += expected
            d.lost += lost
            d.jitter_mean_ms = max(d.jitter_mean_ms, round(st.mean_jitter_ms, 3))
            d.jitter_max_ms = max(d.jitter_max_ms, round(st.max_jitter_ms, 3))
    return sorted(out.values(), key=lambda d: (d.leg, d.sender))


def _quality(dirs: list[Direction]) -> emodel.Quality | None:
    """The worse of the two ends' listening quality: each end hears the other's stream
    over both hops (its loss compounded, the larger jitter sizing the buffer)."""
    by = {(d.sender, d.receiver): d for d in dirs}
    paths = (((SOFTPHONE, ASTERISK), (ASTERISK, MEDIATION)),
             ((MEDIATION, ASTERISK), (ASTERISK, SOFTPHONE)))
    found: list[emodel.Quality] = []
    for first, second in paths:
        a, b = by.get(first), by.get(second)
        if a is None or b is None:
            return None
        found.append(emodel.quality(emodel.combined_loss(a.loss_fraction, b.loss_fraction),
                                    max(a.jitter_mean_ms, b.jitter_mean_ms)))
    return min(found, key=lambda q: q.r)


def _loss_only(verdict: Verdict) -> bool:
    """Every failed check is one a missing RTP packet fails: each failing direction has a
    failed loss count (``rtp_rules``), and its other failures are the sequence and
    timestamp checks, which a skipped packet fails with it."""
    failures = verdict.failures
    if not failures:
        return False
    by_direction: dict[str, set[str]] = {}
    for r in failures:
        m = _RTP_CHECK.match(r.subject)
        if m is None:
            return False
        by_direction.setdefault(m.group(1), set()).add(m.group(2))
    return all("loss" in kinds and kinds <= {"loss", "sequence", "timestamp"}
               for kinds in by_direction.values())


def record_of(index: int, call: CorrelatedCall, verdict: Verdict,
              roles: dict[str, str], *, hold: bool = False,
              received: Mapping[str, int] | None = None) -> CallRecord:
    """``received``: the Mediation Server's count of RTP packets received, by Call-ID."""
    failures = verdict.failures
    first = failures[0] if failures else None
    pdd, answer, talk = _delays(call)
    dirs = _directions(call, roles, hold)
    q = _quality(dirs)
    return CallRecord(
        index=index, start=round(call.start, 6),
        phone_call_id=call.phone.call_id if call.phone else None,
        lync_call_id=call.lync.call_id if call.lync else None,
        joined_by=call.joined_by, verified=verdict.ok,
        failure=Failure(first.step, first.leg, first.subject, first.expected, first.actual,
                        first.frame) if first else None,
        failures=len(failures), checks=len(verdict.results),
        pdd_ms=pdd, answer_ms=answer, duration_s=talk, directions=dirs,
        r=q.r if q else None, mos=q.mos if q else None, loss_only=_loss_only(verdict),
        mediation_rtp_received=(received or {}).get(call.lync.call_id) if call.lync else None)

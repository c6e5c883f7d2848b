"""The calls of a load capture: each softphone leg joined to its Lync leg across the gateway.

Measured on Asterisk 22 (PJSIP, direct_media=no): the gateway gives the trunk leg its own
Call-ID and relays no header of the softphone's INVITE (an X- header stays on the
softphone's leg; From is the endpoint's callerid), and every call dials the same number. It
does relay each stream's RTP SSRC: the softphone's SSRC arrives at Lync unchanged, and
Lync's at the softphone. So two legs whose RTP at the gateway shares an SSRC are one call
(``ssrc``). Legs without media to go by (a call that failed before the answer) are joined
in time order (``time``): the gateway places the trunk's INVITE after the softphone's
INVITE with credentials, and within ``JOIN_WINDOW_S`` of it. A leg left over is a call of
one leg (``one-leg``): a call the gateway never passed on, or one the capture cut.

Sans-I/O: SIP records and RTP streams in, calls out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from harness.capture.sip import CapturedSip
from harness.media.streams import RtpStream
from harness.roles import ASTERISK, MEDIATION, SOFTPHONE

JOIN_WINDOW_S = 2.0
STREAM_SLACK_S = 1.0  # a leg's media may start or end this long outside its signalling


@dataclass
class LegMessages:
    """One INVITE dialog of one side of the gateway (messages named by role)."""

    call_id: str
    side: str  # "phone" or "lync"
    messages: list[CapturedSip] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.messages[0].time

    @property
    def end(self) -> float:
        return self.messages[-1].time

    @property
    def placed_at(self) -> float:
        """When the gateway had what it needs to place the next leg: the last initial
        INVITE (the one with credentials) on the softphone's leg, the first on Lync's."""
        invites = [m.time for m in self.messages if m.is_request and m.method == "INVITE"
                   and m.msg.to_tag is None]
        if not invites:
            return self.start
        return invites[-1] if self.side == "phone" else invites[0]

    def gateway_rtp_offer(self) -> tuple[int, float] | None:
        """The port the gateway offered or answered for RTP on this leg (its first SDP),
        and when that SDP went out."""
        for m in self.messages:
            if m.sender != ASTERISK or not m.msg.body:
                continue
            try:
                sdp = m.msg.sdp()
            except ValueError:
                continue
            if sdp is not None and sdp.audio is not None:
                return sdp.audio.port, m.time
        return None


@dataclass
class CorrelatedCall:
    phone: LegMessages | None
    lync: LegMessages | None
    joined_by: str  # "ssrc", "time" or "one-leg"
    streams: list[RtpStream] = field(default_factory=list)  # both legs' RTP at the gateway

    @property
    def start(self) -> float:
        return min(leg.start for leg in (self.phone, self.lync) if leg is not None)

    @property
    def end(self) -> float:
        return max(leg.end for leg in (self.phone, self.lync) if leg is not None)

    @property
    def messages(self) -> list[CapturedSip]:
        legs = [leg for leg in (self.phone, self.lync) if leg is not None]
        out = [m for leg in legs for m in leg.messages]
        out.sort(key=lambda m: (m.time, m.frame))
        return out


def dialog_legs(messages: Iterable[CapturedSip]) -> list[LegMessages]:
    """The INVITE dialogs between the softphone and the gateway, and between the gateway
    and the Mediation Server (``messages`` named by role), in order of their first
    message. OPTIONS, REGISTER and a dialog whose initial INVITE the capture does not hold
    (the tail of an earlier run: a late BYE, a 408 sent again) are left out."""
    legs: dict[tuple[str, str], LegMessages] = {}
    with_invite: set[tuple[str, str]] = set()
    for m in messages:
        if m.message is None:
            continue
        pair = {m.sender, m.receiver}
        side = ("phone" if pair == {ASTERISK, SOFTPHONE} else
                "lync" if pair == {ASTERISK, MEDIATION} else None)
        if side is None:
            continue
        key = (side, m.msg.call_id or "")
        legs.setdefault(key, LegMessages(key[1], side)).messages.append(m)
        if m.is_request and m.method == "INVITE" and m.msg.to_tag is None:
            with_invite.add(key)
    return sorted((leg for key, leg in legs.items() if key in with_invite),
                  key=lambda leg: leg.start)


class _StreamIndex:
    """RTP streams by the gateway's (address, port) they were sent from or to, and which
    leg owns a port when: the gateway reuses its RTP ports, so a port belongs to the leg
    whose SDP announced it last (a stream that starts after a later leg announced the same
    port is that leg's, even within this leg's slack)."""

    def __init__(self, streams: Sequence[RtpStream], gateway: str,
                 legs: Sequence[LegMessages]) -> None:
        self.by_port: dict[int, list[RtpStream]] = defaultdict(list)
        for s in streams:
            if s.dst == gateway:
                self.by_port[s.dst_port].append(s)
            elif s.src == gateway:
                self.by_port[s.src_port].append(s)
        self.offers = {id(leg): leg.gateway_rtp_offer() for leg in legs}
        self.announced: dict[int, list[float]] = defaultdict(list)
        for offer in self.offers.values():
            if offer is not None:
                self.announced[offer[0]].append(offer[1])
        for times in self.announced.values():
            times.sort()

    def of(self, leg: LegMessages) -> list[RtpStream]:
        offer = self.offers.get(id(leg))
        if offer is None:
            return []
        port, at = offer
        later = next((t for t in self.announced[port] if t > at), float("inf"))
        lo, hi = leg.start - STREAM_SLACK_S, leg.end + STREAM_SLACK_S
        return [s for s in self.by_port.get(port, [])
                if lo <= float(s.time[0]) < later and float(s.time[-1]) <= hi]


def correlate(messages: Iterable[CapturedSip], streams: Sequence[RtpStream],
              gateway_address: str) -> list[CorrelatedCall]:
    """The calls of a load capture, in order of their first message."""
    legs = dialog_legs(messages)
    index = _StreamIndex(streams, gateway_address, legs)
    media = {id(leg): index.of(leg) for leg in legs}
    phones = [leg for leg in legs if leg.side == "phone"]
    lyncs = [leg for leg in legs if leg.side == "lync"]
    calls: list[CorrelatedCall] = []
    # By SSRC: the streams the gateway relays keep their SSRC from one leg to the other.
    lync_by_ssrc: dict[int, list[LegMessages]] = defaultdict(list)
    for leg in lyncs:
        for ssrc in {s.ssrc for s in media[id(leg)]}:
            lync_by_ssrc[ssrc].append(leg)
    joined: set[int] = set()
    for phone in phones:
        found = {id(x): x for s in media[id(phone)] for x in lync_by_ssrc.get(s.ssrc, [])}
        if len(found) == 1:
            lync = next(iter(found.values()))
            if id(lync) not in joined:
                joined |= {id(phone), id(lync)}
                calls.append(CorrelatedCall(phone, lync, "ssrc"))
    # In time order, what is left: each trunk INVITE with the latest softphone INVITE
    # before it that is not yet taken.
    free_phones = [p for p in phones if id(p) not in joined]
    free_phones.sort(key=lambda leg: leg.placed_at)
    taken: set[int] = set()
    for lync in sorted((x for x in lyncs if id(x) not in joined), key=lambda x: x.placed_at):
        t = lync.placed_at
        best = None
        for phone in free_phones:
            if id(phone) in taken:
                continue
            if phone.placed_at > t:
                break
            if t - phone.placed_at <= JOIN_WINDOW_S:
                best = phone
                break  # the earliest free one: the gateway keeps its callers' order
        if best is not None:
            taken.add(id(best))
            calls.append(CorrelatedCall(best, lync, "time"))
        else:
            calls.append(CorrelatedCall(None, lync, "one-leg"))
    calls += [CorrelatedCall(p, None, "one-leg") for p in free_phones if id(p) not in taken]
    for call in calls:
        call.streams = [s for leg in (call.phone, call.lync) if leg is not None
                        for s in media[id(leg)]]
    calls.sort(key=lambda c: c.start)
    return calls

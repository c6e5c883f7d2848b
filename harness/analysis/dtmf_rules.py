"""DTMF across the gateway: RFC 4733 digits on the leg they enter by and on the leg they
leave by, checked from one capture (sans-I/O).

The seed configures every peer with dtmfmode=rfc2833 (X-Lite's [1000], the [to_lync]
trunk, the Skype SIP profile): a digit pressed on X-Lite's or Skype's dial pad reaches
Lync's Response Group IVR as RFC 4733 telephone events, payload type 101. On each leg:

* the payload type is the one both sides put in their SDP for telephone-event (101);
* the digits, in order, are the ones sent, and the egress leg repeats the ingress leg's;
* each event: the marker bit on its first packet (RFC 4733 2.5.1.1), one timestamp
  (2.5.1.2), durations that never go down and end above zero (2.5.1.3), the E bit and
  the final packet sent three times (2.5.1.4), a volume a DTMF receiver detects.

The events and their rule breaks are ``harness.media.dtmf``'s; here they are grouped
by leg and rule, so a failure names the leg, the direction and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.analysis.cursor import resp
from harness.analysis.legs import Leg, build_leg, lync_trunk, to_events
from harness.analysis.sdp_rules import sdp_events
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.media.dtmf import MIN_END_PACKETS, DtmfEvent, dtmf_events
from harness.media.find import rtp_streams
from harness.media.streams import RtpStream
from harness.roles import ASTERISK, MEDIATION, SKYPE, SOFTPHONE, Roles

Kind = Literal["softphone", "skype"]  # who keys the digits
PHONE_LEG = "softphone (UDP)"
SKYPE_LEG = "Skype for SIP (UDP)"
STEP = "7"  # the seed's step 7: the call is up, media flows (the digits go with it)
SEED_EVENT_PT = 101  # the seed's SDP: a=rtpmap:101 telephone-event/8000
# -dBm0: DTMF receivers are specified down to about -36 dBm0 per tone pair (ITU-T Q.24's
# ranges lie above it); a weaker event is one an IVR may not hear.
WEAKEST_VOLUME = 36

# Which ``harness.media.dtmf`` violation belongs to which rule (words its text holds).
RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("marker", "marker bit on the first packet (RFC 4733 2.5.1.1)", ("no marker bit",)),
    ("timestamp", "one RTP timestamp per event (RFC 4733 2.5.1.2)", ("timestamp moved",)),
    ("durations", "durations never go down (RFC 4733 2.5.1.3)", ("duration went down",)),
    ("end", f"E bit set, the final packet sent {MIN_END_PACKETS} times (RFC 4733 2.5.1.4)",
     ("end packet", "E bit")),
    ("overlap", "an event starts after the previous one ended (RFC 4733 2.5.1.5)",
     ("overlaps",)),
)


@dataclass(frozen=True)
class Direction:
    """One leg's media in one direction: who sends the digits to whom."""

    leg: Leg
    sender: str  # role names, as the leg's events carry them
    receiver: str
    label: str  # "Softphone -> Asterisk"


@dataclass
class LegDigits:
    """What one direction of one leg carried."""

    direction: Direction
    sender_pt: int | None  # telephone-event in the sender's SDP
    receiver_pt: int | None  # ... and in the receiver's: the one the sender must use
    streams: list[RtpStream] = field(default_factory=list)
    events: list[DtmfEvent] = field(default_factory=list)

    @property
    def digits(self) -> str:
        return "".join(e.digit for e in self.events)


def _event_pt(leg: Leg, sender: str) -> tuple[int | None, tuple[str | None, int | None]]:
    """The telephone-event payload type of `sender`'s last SDP on the leg, and where it
    asks for RTP (its c= address and m= port)."""
    pt: int | None = None
    target: tuple[str | None, int | None] = (None, None)
    for s in sdp_events(leg):
        if s.event.sender != sender or s.sdp.audio is None:
            continue
        target = s.rtp_target
        pt = next((p for p, enc, _c, _n in s.sdp.audio.codecs()
                   if enc.lower() == "telephone-event"), None)
    return pt, target


def leg_digits(capture: Capture, direction: Direction) -> LegDigits:
    """The RFC 4733 events `direction.sender` sent on the leg, read with the receiver's
    telephone-event payload type (what the sender was told to use)."""
    leg = direction.leg
    sender_pt, (sender_addr, _p) = _event_pt(leg, direction.sender)
    receiver_pt, (receiver_addr, receiver_port) = _event_pt(leg, direction.receiver)
    # The media addresses come from the SDP; the signalling addresses stand in without it.
    src = sender_addr or next((e.src for e in leg.events if e.sender == direction.sender), None)
    dst = receiver_addr or next((e.src for e in leg.events if e.sender == direction.receiver),
                                None)
    streams = [s for s in rtp_streams(capture) if (s.src, s.dst) == (src, dst)
               and (receiver_port is None or s.dst_port == receiver_port)]
    pts = [receiver_pt] if receiver_pt is not None else None
    events = sorted((e for s in streams for e in dtmf_events(s, pts)),
                    key=lambda e: (e.start_time, e.start_frame))
    return LegDigits(direction, sender_pt, receiver_pt, streams, events)


def check_direction(v: Verdict, got: LegDigits, digits: str, step: str = STEP) -> None:
    """The checks of one direction of one leg: payload type, digits, each RFC 4733 rule."""
    d = got.direction
    name, label = d.leg.name, d.label
    v.equal(step, name, f"telephone-event payload type in {d.sender}'s SDP ({label})",
            SEED_EVENT_PT, got.sender_pt)
    v.equal(step, name, f"telephone-event payload type in {d.receiver}'s SDP ({label})",
            SEED_EVENT_PT, got.receiver_pt)
    used = sorted({e.pt for e in got.events})
    first = got.events[0].start_frame if got.events else None
    v.check(step, name, f"RFC 4733 payload type {label}",
            bool(used) and used == [got.receiver_pt],
            "events sent with the telephone-event type of the receiver's SDP"
            f" ({got.receiver_pt if got.receiver_pt is not None else 'it names none'})",
            ", ".join(map(str, used)) or "no telephone events", first)
    info = info_digits(d.leg, d.sender)
    v.equal(step, name, f"RFC 4733 digits {label}", digits,
            got.digits or ("none" + (f" (sent as SIP INFO instead: {info})" if info else "")),
            first)
    if not got.events:
        # the digits' check above fails; the rules of events that never came are moot
        for key, rule, _w in RULES:
            v.not_checked(step, name, f"RFC 4733 {key} {label}", "no RFC 4733 events", rule)
        return
    for key, rule, words in RULES:
        bad = [(e, x) for e in got.events for x in e.violations if any(w in x for w in words)]
        v.check(step, name, f"RFC 4733 {key} {label}", not bad, rule,
                _describe(bad) if bad else _figures(key, got.events),
                bad[0][0].start_frame if bad else first)
    short = [e for e in got.events if e.duration <= 0]
    v.check(step, name, f"RFC 4733 final duration {label}", not short,
            "each event lasts (final duration above 0)",
            _describe([(e, "duration 0") for e in short]) if short
            else _figures("durations", got.events), first)
    weak = [e for e in got.events if e.volume > WEAKEST_VOLUME]
    v.check(step, name, f"RFC 4733 volume {label}", not weak,
            f"volume 0 to {WEAKEST_VOLUME} (-dBm0), a level DTMF receivers detect",
            _describe([(e, f"volume -{e.volume} dBm0") for e in weak]) if weak
            else _figures("volume", got.events), first)


def check_relayed(v: Verdict, ingress: LegDigits, egress: LegDigits,
                  step: str = STEP) -> None:
    """The egress leg carries the ingress leg's digits, in order, each after it came in."""
    name = egress.direction.leg.name
    label = f"{ingress.direction.label} relayed as {egress.direction.label}"
    v.equal(step, name, f"same digits in order ({label})", ingress.digits or "none",
            egress.digits or "none",
            egress.events[0].start_frame if egress.events else None)
    early = [f"digit {o.digit} at frame {o.start_frame} before frame {i.start_frame}"
             for i, o in zip(ingress.events, egress.events, strict=False)
             if o.start_time < i.start_time]
    v.check(step, name, f"digits follow their ingress ({label})", not early,
            "each egress event starts after the ingress event it relays",
            "; ".join(early) or "each after its ingress event")


def check_dtmf_path(v: Verdict, capture: Capture, ingress: Direction, egress: Direction,
                    digits: str, step: str = STEP) -> tuple[LegDigits, LegDigits]:
    """`digits` sent on `ingress`, relayed by the gateway on `egress`: both checked."""
    got_in, got_out = leg_digits(capture, ingress), leg_digits(capture, egress)
    for got in (got_in, got_out):
        if not got.direction.leg.events:
            v.check(step, got.direction.leg.name, f"RFC 4733 digits {got.direction.label}",
                    False, digits, "no call on this leg in the capture")
            continue
        check_direction(v, got, digits, step)
    check_relayed(v, got_in, got_out, step)
    for got in (got_in, got_out):
        v.note(f"{got.direction.label}: {summary(got.events)}")
    return got_in, got_out


_SIGNAL = re.compile(rb"^\s*Signal\s*=\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def info_digits(leg: Leg, sender: str) -> str:
    """Digits `sender` sent as SIP INFO on the leg (application/dtmf-relay's Signal=, a
    gateway set to dtmf_mode=info/dtmfmode=info): what a leg without RFC 4733 carried."""
    out = []
    for e in leg.events:
        if e.is_request and e.method == "INFO" and e.sender == sender:
            m = _SIGNAL.search(e.msg.body)
            if m:
                out.append(m.group(1).decode("ascii", "replace"))
    return "".join(out)


def summary(events: Sequence[DtmfEvent]) -> str:
    """'1 (100 ms, 7 packets, 3 end), # (...)': the figures of a report's note."""
    if not events:
        return "no RFC 4733 events"
    return ", ".join(f"{e.digit} ({e.duration_ms:.0f} ms, {e.packets} packets, "
                     f"{e.end_packets} end, pt {e.pt}, volume {e.volume})" for e in events)


def _describe(bad: Sequence[tuple[DtmfEvent, str]]) -> str:
    shown = [f"digit {e.digit} at frame {e.start_frame}: {why}" for e, why in bad[:4]]
    more = f" (and {len(bad) - 4} more)" if len(bad) > 4 else ""
    return "; ".join(shown) + more


def _figures(key: str, events: Sequence[DtmfEvent]) -> str:
    if not events:
        return "no RFC 4733 events"
    if key == "end":
        return "end packets " + ", ".join(f"{e.digit}:{e.end_packets}" for e in events)
    if key == "durations":
        return "durations " + ", ".join(f"{e.digit}:{e.duration_ms:.0f} ms" for e in events)
    if key == "volume":
        return "volumes " + ", ".join(f"{e.digit}:-{e.volume} dBm0" for e in events)
    if key == "timestamp":
        return "timestamps " + ", ".join(f"{e.digit}:{e.rtp_timestamp}" for e in events)
    return f"all {len(events)} events"


def check_dtmf_call(capture: Capture, roles: Roles, pcap: Path | None, flow: str, kind: Kind,
                    digits: str) -> Verdict:
    """The call of `kind`'s caller to Lync in the capture: answered on both legs, and
    `digits` keyed by the caller checked on its leg and on the Lync trunk."""
    v = Verdict(flow, pcap, family="DTMF")
    events, problems = to_events(capture.sip_messages(), roles)
    for p in problems:
        v.note(p)
    lync = lync_trunk(events)
    peer, name, leg_name = ((SOFTPHONE, "Softphone", PHONE_LEG) if kind == "softphone"
                            else (SKYPE, "Skype", SKYPE_LEG))
    caller = build_leg(leg_name, "UDP", (ASTERISK, peer), events)
    for leg in (caller, lync):
        _answered(v, leg)
    check_dtmf_path(v, capture, Direction(caller, peer, ASTERISK, f"{name} -> Asterisk"),
                    Direction(lync, ASTERISK, MEDIATION, "Asterisk -> Mediation Server"),
                    digits)
    return v


def _answered(v: Verdict, leg: Leg) -> None:
    callee = next((e.receiver for e in leg.events if e.is_request and e.method == "INVITE"), "")
    ok = next((e for e in leg.events if resp(200, "INVITE", callee)(e)), None)
    v.check("5", leg.name, "200 OK to the INVITE", ok is not None,
            "the call answered on this leg (the digits follow the answer)",
            ok.describe() if ok is not None else "no 200 OK", ok.frame if ok else None)

"""SDP rules over a leg: offers and answers (RFC 3264), the seed's codec set, o= versions.

- codecs: PCMU (0) and telephone-event 101 with fmtp 0-16, ptime 20, in what the gateway
  and the Mediation Server send (the seed's SDP, steps 1, 5, 8 and 9);
- o=: the session id constant per sender, the version +1 for each changed SDP; an
  unchanged SDP keeps its version or takes the next (RFC 3264 section 8 asks the +1 of a
  change and an identical SDP under an unchanged version; libre, baresip's stack, counts
  every SDP it writes);
- directions: the answer follows RFC 3264 section 6.1 (sendonly -> recvonly or inactive,
  recvonly -> sendonly or inactive, inactive -> inactive, sendrecv -> any).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from harness.analysis.cursor import status_of
from harness.analysis.legs import Leg
from harness.analysis.verdict import Verdict
from harness.capture.sip import CapturedSip
from harness.sip.sdp import SessionDescription

ALLOWED_ANSWERS = {
    "sendrecv": {"sendrecv", "sendonly", "recvonly", "inactive"},
    "sendonly": {"recvonly", "inactive"},
    "recvonly": {"sendonly", "inactive"},
    "inactive": {"inactive"},
}


@dataclass(frozen=True)
class SdpEvent:
    event: CapturedSip
    sdp: SessionDescription

    @property
    def direction(self) -> str:
        audio = self.sdp.audio
        return audio.direction if audio is not None else self.sdp.direction

    @property
    def rtp_target(self) -> tuple[str | None, int | None]:
        """Where this side wants RTP: the audio c= (media level, else session) and m= port."""
        audio = self.sdp.audio
        if audio is None:
            return None, None
        conn = audio.effective_connection
        return (conn.address if conn else None), audio.port


@dataclass(frozen=True)
class OfferAnswer:
    offer: SdpEvent
    answer: SdpEvent | None


def sdp_events(leg: Leg) -> list[SdpEvent]:
    out: list[SdpEvent] = []
    for e in leg.events:
        try:
            sdp = e.msg.sdp()
        except ValueError:
            sdp = None
        if sdp is not None:
            out.append(SdpEvent(e, sdp))
    return out


def offer_answers(leg: Leg) -> list[OfferAnswer]:
    """INVITE/re-INVITE offers paired with the 2xx answer to the same transaction (the
    reliable answer; an SDP in a 183 is early media and is not paired here)."""
    sdps = sdp_events(leg)
    pairs: list[OfferAnswer] = []
    for s in sdps:
        e = s.event
        if e.is_request and e.method in ("INVITE", "UPDATE"):
            answer = next((a for a in sdps if not a.event.is_request
                           and a.event.msg.cseq == e.msg.cseq and a.event.sender == e.receiver
                           and 200 <= (status_of(a.event) or 0) < 300), None)
            pairs.append(OfferAnswer(s, answer))
    return pairs


SEED_FORMATS = ("0", "101")  # PCMU, then telephone-event


def check_codecs(v: Verdict, leg: Leg, senders: tuple[str, ...], step: str = "SDP") -> None:
    for s in sdp_events(leg):
        if s.event.sender not in senders:
            continue
        audio = s.sdp.audio
        what = s.event.describe()
        if not v.check(step, leg.name, "m=audio", audio is not None, "an audio stream",
                       "none" if audio is None else
                       f"m=audio {audio.port} {' '.join(audio.formats)}",
                       s.event.frame):
            continue
        assert audio is not None
        rtpmap = audio.rtpmap()
        pcmu = rtpmap.get(0)
        v.check(step, leg.name, "PCMU",
                "0" in audio.formats and (pcmu is None or pcmu[0].upper() == "PCMU"),
                "payload 0 PCMU/8000 offered or answered", f"{what}: formats {audio.formats}, "
                f"rtpmap 0 {pcmu}", s.event.frame)
        # Exactly what the configuration allows, in every offer and answer: disallow=all,
        # allow=ulaw and dtmfmode=rfc2833 on both [to_lync] and [1000]. (The seed's step-1
        # trace of Asterisk 1.6.2.7 lists "0 3 8 101", which that configuration does not
        # send: the configuration the reader deploys is the rule.)
        v.check(step, leg.name, "codec set", audio.formats == list(SEED_FORMATS),
                f"m=audio formats {' '.join(SEED_FORMATS)} exactly (seed: disallow=all, "
                "allow=ulaw, dtmfmode=rfc2833)", f"{what}: {' '.join(audio.formats)}",
                s.event.frame)
        event_pts = [pt for pt, (enc, *_rest) in rtpmap.items() if enc.lower() == "telephone-event"]
        fmtp = audio.fmtp()
        v.check(step, leg.name, "telephone-event", event_pts == [101] and fmtp.get(101) == "0-16",
                "telephone-event/8000 as payload 101 with a=fmtp:101 0-16",
                f"{what}: telephone-event payloads {event_pts}, "
                f"fmtp {fmtp.get(101) if event_pts else None!r}",
                s.event.frame)
        v.equal(step, leg.name, "a=ptime", 20, audio.ptime, s.event.frame)


def check_origin_versions(v: Verdict, leg: Leg, step: str = "SDP") -> None:
    for sender in leg.roles:
        mine = [s for s in sdp_events(leg) if s.event.sender == sender]
        for prev, cur in itertools.pairwise(mine):
            if (cur.event.msg.cseq == prev.event.msg.cseq
                    and cur.event.msg.serialize() == prev.event.msg.serialize()):
                continue  # a retransmission
            o1, o2 = prev.sdp.origin, cur.sdp.origin
            v.check(step, leg.name, f"o= session id ({sender})", o1.sess_id == o2.sess_id,
                    f"constant {o1.sess_id}", f"{o2.sess_id} in {cur.event.describe()}",
                    cur.event.frame)
            changed = _without_origin(prev.sdp) != _without_origin(cur.sdp)
            after = o1.sess_version
            if changed:
                ok = o2.sess_version == after + 1
                want = f"{after + 1} (changed SDP after version {after})"
            else:
                ok = o2.sess_version in (after, after + 1)
                want = f"{after} or {after + 1} (unchanged SDP after version {after}, RFC 3264 8)"
            v.check(step, leg.name, f"o= version ({sender})", ok, want,
                    f"{o2.sess_version} in {cur.event.describe()}", cur.event.frame)


def _without_origin(sdp: SessionDescription) -> list[str]:
    return [line for line in sdp.serialize().splitlines() if line and not line.startswith("o=")]


def check_directions(v: Verdict, leg: Leg, step: str = "SDP",
                     answerers: tuple[str, ...] | None = None) -> None:
    """Each 2xx answer's direction; `answerers`: only the answers these roles sent (the
    softphone's are checked, and named, with its SDP: phone_rules)."""
    for pair in offer_answers(leg):
        offer = pair.offer
        if pair.answer is None or (answerers is not None
                                   and pair.answer.event.sender not in answerers):
            continue
        allowed = ALLOWED_ANSWERS.get(offer.direction, set())
        v.check(step, leg.name, "answer direction (RFC 3264 6.1)", pair.answer.direction in allowed,
                f"one of {sorted(allowed)} to an a={offer.direction} offer "
                f"({offer.event.describe()})",
                f"a={pair.answer.direction} in {pair.answer.event.describe()}",
                pair.answer.event.frame)

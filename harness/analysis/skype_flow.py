"""The seed's Skype flows, checked from one capture.

- registration: `register => 99051000107808:<password>@sip.skype.com/99051000107808`:
  challenge (401), answer with the profile's credentials, 200 with the expiry granted,
  and a refresh before that expiry;
- Lync dials 1001 (seed: "Testing Calls from Lync Server to Skype for SIP"): the caller ID
  set to the profile number, the test number in E.164, Skype's 407 answered, a codec from
  the seed's list (G.729, PCMU, PCMA), and the RTP echoed back by the test number;
- Lync dials 1002: the withdrawn Skype for Asterisk's echo123, emulated;
- Skype calls the profile number and reaches Lync (+14255550150): no challenge
  (insecure=invite), and the caller identity Lync is shown.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.analysis.cursor import (
    Cursor,
    any_request,
    auth_param,
    expect_invite,
    has_header,
    leg_cursor,
    parsed_events,
    req,
    resp,
    response_of,
    ruri_user,
    status_of,
    user_of,
)
from harness.analysis.legs import LYNC_LEG, Leg, build_leg, lync_trunk, to_events, uri_of
from harness.analysis.verdict import Verdict
from harness.capture.capture import Capture
from harness.capture.sip import CapturedSip
from harness.media.find import rtp_streams
from harness.media.streams import RtpStream
from harness.roles import ASTERISK, MEDIATION, SKYPE, Roles

SKYPE_LEG = "Skype for SIP (UDP)"
PROFILE = "99051000107808"
TEST_NUMBER = "+17606604690"
SEED_CODECS = {18: "G.729", 0: "PCMU", 8: "PCMA"}
SFA_LEG = "Skype for Asterisk (UDP)"
# chan_skype.conf: "exten = 14255550150", the number a Skype call to the business account
# takes in its context
SFA_NUMBER = "14255550150"
PROFILE_FORMATS = ("0", "8", "18", "101")  # ulaw, alaw, g729, telephone-event
SFA_FORMATS = ("0", "101")
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
ECHO_MATCH = 0.9  # share of echoed packets that must carry a payload the gateway sent
ECHO_DELAY_S = 0.1


def _legs(captured: Sequence[CapturedSip], roles: Roles, v: Verdict,
          peer_leg: str = SKYPE_LEG) -> tuple[Leg, Leg]:
    events = parsed_events(v, captured, roles)
    late = v.one_leg_ok
    return (lync_trunk(events, mid_dialog=late),
            build_leg(peer_leg, "UDP", (ASTERISK, SKYPE), events, mid_dialog=late))


def _warning(e: CapturedSip) -> str:
    msg = response_of(e)
    w = msg.headers.get("Warning")
    return f"{msg.status} {msg.reason}" + (f" ({w})" if w else "")


def _answered_challenge(v: Verdict, c: Cursor, step: str, method: str, header: str,
                        expected: str, initial: bool = False) -> CapturedSip | None:
    """The request again with credentials (`header`) from Asterisk, and the profile number
    as the digest username."""
    answer = c.expect(step, f"{method} with credentials", req(method, ASTERISK, has_header(header)),
                      expected, initial=initial)
    if answer is not None:
        v.equal(step, c.leg.name, "digest username", PROFILE,
                auth_param(answer.msg.headers.get(header), "username"), answer.frame)
    return answer


def check_registration(captured: Sequence[CapturedSip], roles: Roles, pcap: Path | None,
                       granted_s: int, flow: str = "Skype for SIP registration", *,
                       deployment: bool = False) -> Verdict:
    """`deployment`: a capture from elsewhere, which may begin inside a registration (its
    checks start at the first REGISTER without credentials) and end before the refresh."""
    v = Verdict(flow, pcap, family="Skype", one_leg_ok=deployment)
    events, _ = to_events(captured, roles)
    regs = [e for e in events if e.method == "REGISTER" and {e.sender, e.receiver} == {ASTERISK,
                                                                                       SKYPE}]
    # `pjsip send register` first removes the binding (Expires: 0): those transactions
    # are not the registration under test.
    removing = {e.msg.cseq for e in regs
                if e.is_request and (e.msg.headers.get("Expires") or "").strip() == "0"}
    leg = Leg(SKYPE_LEG, "UDP", (ASTERISK, SKYPE), [e for e in regs if e.msg.cseq not in removing])
    if deployment and not _from_first_challenge(v, leg):
        return v
    c = leg_cursor(v, leg)
    first = c.expect("REGISTER", "REGISTER", req("REGISTER", ASTERISK),
                     "REGISTER from Asterisk to sip.skype.com (seed: register =>)")
    if first is None:
        return v
    v.equal("REGISTER", SKYPE_LEG, "To (the profile's address of record)",
            f"sip:{PROFILE}@sip.skype.com", str(uri_of(first.msg.headers.get("To"))), first.frame)
    v.equal("REGISTER", SKYPE_LEG, "Contact user (the part after '/')", PROFILE,
            user_of(first.msg.headers.get("Contact")), first.frame)
    challenge = c.expect("401", "401 challenge", resp(401, "REGISTER", SKYPE),
                         "401 Unauthorized with a digest challenge")
    if challenge is not None:
        realm = auth_param(challenge.msg.headers.get("WWW-Authenticate"), "realm")
        v.equal("401", SKYPE_LEG, "challenge realm", "sip.skype.com", realm, challenge.frame)
    _answered_challenge(v, c, "auth", "REGISTER", "Authorization",
                        "REGISTER answering the challenge")
    ok = c.expect("200", "200 OK", resp(200, "REGISTER", SKYPE), "200 OK: registered")
    if ok is None:
        return v
    contact = ok.msg.headers.get("Contact") or ""
    expires = re.search(r"expires=(\d+)", contact) or re.search(r"(\d+)",
                                                                ok.msg.headers.get("Expires") or "")
    v.equal("200", SKYPE_LEG, "expiry granted", granted_s,
            int(expires.group(1)) if expires else None,
            ok.frame)
    last = captured[-1] if captured else ok
    if deployment and c.leg.find(req("REGISTER", ASTERISK), c.at)[1] is None \
            and last.time < ok.time + granted_s:
        v.not_checked("refresh", SKYPE_LEG, "refresh REGISTER",
                      f"the capture ends at frame {last.frame}, before the registration expires",
                      f"a new REGISTER within the {granted_s} s granted")
        return v
    refresh = c.expect("refresh", "refresh REGISTER", req("REGISTER", ASTERISK),
                       f"a new REGISTER within the {granted_s} s granted")
    if refresh is not None:
        delay = refresh.time - ok.time
        v.check("refresh", SKYPE_LEG, "refresh time", 1.0 <= delay < granted_s,
                f"before the registration expires ({granted_s} s after frame {ok.frame}), "
                "and not at once (a storm of REGISTERs)", f"{delay:.3f} s after", refresh.frame)
        c.expect("refresh", "refresh 200 OK", resp(200, "REGISTER", SKYPE), "200 OK to the refresh")
    return v


def _from_first_challenge(v: Verdict, leg: Leg) -> bool:
    """A capture that begins inside a registration: its checks start at the first REGISTER
    without credentials. False when there is none to start from."""
    start = next((i for i, e in enumerate(leg.events) if e.is_request
                  and e.msg.headers.get("Authorization") is None), len(leg.events))
    if start:
        first = leg.events[0].frame
        v.not_checked("REGISTER", SKYPE_LEG, "REGISTER transaction",
                      f"the capture starts at frame {first}, inside a registration"
                      + (f"; checked from frame {leg.events[start].frame}"
                         if start < len(leg.events) else ""))
        del leg.events[:start]
        return bool(leg.events)
    return True


def check_lync_to_skype(captured: Sequence[CapturedSip], capture: Capture, roles: Roles,
                        pcap: Path | None, flow: str, dialled: str, target: str,
                        via_profile: bool, *, deployment: bool = False,
                        refused: int | None = None) -> Verdict:
    """Lync (the Mediation Server) dials `dialled`; Asterisk must reach `target` at Skype.
    `deployment`: a capture from elsewhere (one leg only, or begun mid-call). `refused`:
    the status Skype was asked to refuse the call with (no channel left): the refusal is
    then the expected outcome, and Lync must get a final error in its turn."""
    v = Verdict(flow, pcap, family="Skype", one_leg_ok=deployment)
    peer_leg = SKYPE_LEG if via_profile else SFA_LEG
    lync, skype = _legs(captured, roles, v, peer_leg)
    lc = leg_cursor(v, lync)
    expect_invite(lc, "1", "INVITE", MEDIATION, dialled, f"INVITE {dialled} from Lync",
                  initial=True)
    sc = leg_cursor(v, skype)
    out, final = _call_to_skype(v, sc, peer_leg, target, via_profile)
    # On a capture that began after the set-up, the call's end is still checked.
    go_on = sc.leg_started_before_capture and (final is None or status_of(final) == 200)
    if refused is not None:
        _check_refusal(v, lc, sc, peer_leg, final, refused)
        return v
    if final is None or not v.check("4", peer_leg, "call accepted", status_of(final) == 200,
                                    "200 OK from Skype", _warning(final), final.frame):
        if go_on:
            v.not_checked("echo", peer_leg, "RTP echo", "the answer (200 OK) is not in the capture")
            _expect_bye(sc)
        return v
    sdp = final.msg.sdp()
    audio = sdp.audio if sdp else None
    chosen = (int(audio.formats[0]) if audio and audio.formats and audio.formats[0].isdigit()
              else None)
    codec = SEED_CODECS.get(chosen, chosen) if chosen is not None else None
    v.check("4", peer_leg, "codec chosen", chosen in SEED_CODECS,
            "one of G.729 (18), PCMU (0), PCMA (8) (seed: allow=ulaw, alaw, g729)",
            f"{codec} ({chosen})", final.frame)
    offer = out.msg.sdp() if out is not None else None
    offered = offer.audio if offer else None
    v.note(f"codec chosen by Skype: {codec}; Asterisk offered "
           f"{offered.formats if offered else '?'}")
    sc.expect("4", "ACK", req("ACK", ASTERISK), "ACK from Asterisk", initial=True)
    _check_echo(v, capture, skype, peer_leg)
    _expect_bye(sc)
    return v


def _check_refusal(v: Verdict, lc: Cursor, sc: Cursor, peer_leg: str,
                   final: CapturedSip | None, refused: int) -> None:
    """Skype refuses with `refused`, and Asterisk ACKs it (RFC 3261 17.1.1.3). The seed's
    1001 answers Lync first (1001,1,Answer), so the failed Dial ends Lync's call with
    Asterisk's BYE (1001,n,Hangup), after the refusal, answered by the Mediation Server."""
    if final is None:
        return
    if not v.check("4", peer_leg, "call refused", status_of(final) == refused,
                   f"{refused} from Skype (the refusal asked of it)", _warning(final),
                   final.frame):
        return
    cseq = final.cseq
    sc.expect("4", "ACK", lambda e: req("ACK", ASTERISK)(e) and e.cseq == cseq,
              "ACK from Asterisk to the refusal")
    bye = lc.expect("5", "BYE", req("BYE", ASTERISK),
                    "BYE from Asterisk once the Dial failed (seed: 1001,n,Hangup)")
    if bye is not None:
        v.check("5", lc.leg.name, "BYE after the refusal", bye.frame > final.frame,
                f"after Skype's {refused} (frame {final.frame})", f"frame {bye.frame}",
                bye.frame)
        lc.expect("5", "200 OK to BYE", lambda e: resp(200, "BYE", MEDIATION)(e)
                  and e.cseq == bye.cseq, "200 OK to the BYE from the Mediation Server")


def _check_offer(v: Verdict, out: CapturedSip, peer_leg: str, via_profile: bool) -> None:
    """Asterisk offers exactly what the peer's section allows, in its order, with RFC 2833
    events: Skype for SIP's allow=ulaw, alaw, g729; chan_skype.conf's allow=ulaw."""
    expected, source = ((PROFILE_FORMATS, "[Skype SIP profile]: allow = ulaw, alaw, g729")
                        if via_profile else (SFA_FORMATS, "chan_skype.conf: allow = ulaw"))
    sdp = out.msg.sdp()
    formats = sdp.audio.formats if sdp is not None and sdp.audio is not None else []
    v.check("2", peer_leg, "codec set", formats == list(expected),
            f"m=audio formats {' '.join(expected)} in that order (seed {source}; "
            "dtmfmode = rfc2833)", " ".join(formats) or "no audio offer", out.frame)


def _call_to_skype(v: Verdict, sc: Cursor, peer_leg: str, target: str,
                   via_profile: bool) -> tuple[CapturedSip | None, CapturedSip | None]:
    """Steps 2-4 on the Skype leg: the INVITE (after Skype's challenge answered) and Skype's
    final response to it (None when a step is missing)."""
    out = expect_invite(sc, "2", "INVITE to Skype", ASTERISK, target,
                        f"INVITE {target} from Asterisk", initial=True)
    if out is None:
        return None, None
    if via_profile:
        v.check("2", peer_leg, "E.164 destination", bool(E164.match(ruri_user(out) or "")),
                "+ and 8-15 digits (seed: 'The number you are calling must be in the E164 format')",
                ruri_user(out), out.frame)
        v.equal("2", peer_leg, "caller ID (seed: 'set the caller ID to your Skype for SIP number')",
                PROFILE, user_of(out.msg.headers.get("From")), out.frame)
        challenge = sc.expect("3", "407 challenge", resp(407, "INVITE", SKYPE),
                              "407 Proxy Authentication Required from Skype", initial=True)
        if challenge is not None:
            out = _answered_challenge(v, sc, "3", "INVITE", "Proxy-Authorization",
                                      "the INVITE again with Proxy-Authorization", initial=True)
    if out is None:
        return None, None
    _check_offer(v, out, peer_leg, via_profile)
    cseq = out.cseq
    return out, sc.expect("4", "final response", lambda e: resp(tuple(range(200, 700)), "INVITE",
                                                           SKYPE)(e)
                     and e.cseq == cseq, "a final response from Skype", initial=True)


def _expect_bye(c: Cursor, step: str = "5") -> None:
    """The call's end on the Skype leg: a BYE from either side, and its 200 OK."""
    bye = c.expect(step, "BYE", any_request("BYE"), "BYE on the Skype leg")
    if bye is not None:
        c.expect(step, "200 OK to BYE", lambda e: resp(200, "BYE",
                                                       bye.receiver)(e) and e.cseq == bye.cseq,
                 "200 OK to the BYE")


def _streams_between(capture: Capture, a: str, b: str) -> list[RtpStream]:
    return [s for s in rtp_streams(capture) if (s.src, s.dst) == (a, b)]


def _check_echo(v: Verdict, capture: Capture, leg: Leg, leg_name: str) -> None:
    """Every packet the echo returns carries a payload the gateway sent, shortly before."""
    gw = next((e.src for e in leg.events if e.sender == ASTERISK), None)
    peer = next((e.src for e in leg.events if e.sender != ASTERISK), None)
    if gw is None or peer is None:
        return
    sent = _streams_between(capture, gw, peer)
    back = _streams_between(capture, peer, gw)
    n_sent = sum(len(s) for s in sent)
    n_back = sum(len(s) for s in back)
    if not v.check("echo", leg_name, "RTP both ways", n_sent > 0 and n_back > 0,
                   "RTP to the echo and back", f"{n_sent} packets sent, {n_back} returned"):
        return
    # A tone repeats its packets (once a second for a whole-hertz tone): an echo belongs
    # to the latest packet with its payload sent before it arrived.
    when: dict[bytes, list[float]] = {}
    for s in sent:
        for i in range(len(s)):
            when.setdefault(s.payload(i), []).append(float(s.time[i]))
    for times in when.values():
        times.sort()
    delays: list[float] = []
    matched = 0
    for s in back:
        for i in range(len(s)):
            sent_at = when.get(s.payload(i), [])
            t = float(s.time[i])
            k = bisect.bisect_right(sent_at, t)
            if k:
                matched += 1
                delays.append(t - sent_at[k - 1])
    share = matched / n_back
    v.check("echo", leg_name, "echoed payloads", share >= ECHO_MATCH,
            f"at least {ECHO_MATCH:.0%} of the returned packets carry a payload the gateway sent",
            f"{matched} of {n_back} ({share:.0%})")
    if delays:
        d = np.array(delays)
        v.check("echo", leg_name, "echo delay", float(np.median(d)) <= ECHO_DELAY_S,
                f"median <= {ECHO_DELAY_S * 1000:.0f} ms from the original to its echo",
                f"median {np.median(d) * 1000:.1f} ms, min {d.min() * 1000:.1f} ms, "
                f"max {d.max() * 1000:.1f} ms")
    for s in back:
        st = s.stats()
        v.check("echo", leg_name, f"echo RTP spacing (0x{st.ssrc:08X})",
                abs(st.mean_delta_ms - 20) <= 2,
                "20 ms", f"mean {st.mean_delta_ms:.2f} ms, max {st.max_delta_ms:.2f} ms, "
                f"{st.lost} lost of {st.packets}", st.first_frame)


def check_skype_to_lync(captured: Sequence[CapturedSip], capture: Capture, roles: Roles,
                        pcap: Path | None, flow: str, anonymous: bool, *,
                        deployment: bool = False, via_profile: bool = True) -> Verdict:
    """A Skype user calls Lync: through the Skype for SIP profile (its number, seed
    insecure=invite) or, `via_profile=False`, through Skype for Asterisk (chan_skype.conf's
    exten = 14255550150 in context default). `deployment`: a capture from elsewhere (one
    leg only, or begun mid-call)."""
    v = Verdict(flow, pcap, family="Skype", one_leg_ok=deployment)
    peer_leg = SKYPE_LEG if via_profile else SFA_LEG
    lync, skype = _legs(captured, roles, v, peer_leg)
    sc = leg_cursor(v, skype)
    number, why = ((PROFILE, "the profile number") if via_profile
                   else (SFA_NUMBER, "chan_skype.conf's exten"))
    inv = expect_invite(sc, "1", "INVITE from Skype", SKYPE, number,
                        f"INVITE {number} from Skype",
                        user_subject=f"Request-URI user ({why})", initial=True)
    if inv is None and not (sc.leg_started_before_capture or not sc.captured):
        return v
    if inv is not None:
        challenged = [e for e in skype.events if status_of(e) in (401, 407)]
        v.check("1", peer_leg, "no challenge (seed: insecure=invite)" if via_profile else
                "no challenge (chan_skype's own calls)", not challenged,
                "Asterisk takes Skype's INVITE without 401/407",
                "not challenged" if not challenged else challenged[0].describe(),
                challenged[0].frame if challenged else None)
    lc = leg_cursor(v, lync)
    out = expect_invite(lc, "2", "INVITE to Lync", ASTERISK, "+14255550150",
                        "INVITE +14255550150 to the Mediation Server", initial=True)
    if out is not None:
        shown = uri_of(out.msg.headers.get("From"))
        from_value = out.msg.headers.get("From") or ""
        v.note(f"caller identity presented to Lync: {from_value}")
        if anonymous:
            is_anon = "anonymous" in from_value.lower()
            v.check("2", LYNC_LEG, "caller identity (seed: Lync shows 'Anonymous Caller')", is_anon,
                    "an anonymous From, so Lync shows Anonymous Caller",
                    f"From {from_value}", out.frame)
        else:
            v.check("2", LYNC_LEG, "caller identity", shown is not None and bool(shown.user),
                    "the Skype caller's number", f"From {from_value}", out.frame)
    ok = sc.expect("3", "200 OK to Skype", resp(200, "INVITE", ASTERISK), "200 OK from Asterisk",
                   initial=True)
    if ok is not None:
        sc.expect("3", "ACK", req("ACK", SKYPE), "ACK from Skype", initial=True)
    gw_lync = next((e.src for e in lync.events if e.sender == ASTERISK), None)
    med = next((e.src for e in lync.events if e.sender == MEDIATION), None)
    if deployment and lync.initial_invite is None and gw_lync and med:
        # The RTP is counted over the call: a capture begun after the answer has part of it.
        v.not_checked("4", LYNC_LEG, "RTP", "the answer (200 OK) is not in the capture")
    elif gw_lync and med:
        for a, b, who in ((med, gw_lync, "Mediation Server -> Asterisk"),
                          (gw_lync, med, "Asterisk -> Mediation Server")):
            n = sum(len(s) for s in _streams_between(capture, a, b))
            v.check("4", LYNC_LEG, f"RTP {who}", n >= 10, "media once answered", f"{n} packets")
    _expect_bye(sc)
    return v

"""The softphone's side of the Lync flows, held to what the RFCs let a real phone do.

A scripted UA (SIPp) does exactly what its scenario says; a real phone (X-Lite in the seed,
baresip here) does what RFC 3261, 3264 and 4733 allow. These checks hold the softphone, and
the gateway's INVITE to it, to those RFCs and to the seed's configuration of the phone
(sip.conf [1000]: transport=udp, disallow=all, allow=ulaw, dtmfmode=rfc2833), not to one
scenario's choices:

- the inbound INVITE goes to the Contact the softphone registered (RFC 3261 10.3 and 16.5),
  as the capture's REGISTER exchange or the gateway's own registration state gives it;
- the softphone as UAS owes a 100 Trying only where RFC 3261 17.2.1 asks for one;
- the softphone's own SDP: PCMU, telephone-event covering the DTMF events 0-15 (RFC 4733),
  a=ptime 20 when given, and its answers' directions (RFC 3264 6.1). Failures name the
  softphone ("softphone's SDP ..."), not the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from harness.analysis.cursor import Cursor, request_of, resp, response_of, status_of, user_of
from harness.analysis.legs import Leg
from harness.analysis.sdp_rules import ALLOWED_ANSWERS, SdpEvent, sdp_events
from harness.analysis.verdict import Verdict
from harness.capture.sip import CapturedSip
from harness.sip.sdp_media import MediaDescription
from harness.sip.uri import NameAddr, SipUri

# The seed's extension for the softphone (sip.conf [1000]).
EXTENSION = "1000"
# RFC 3261 17.2.1: a UAS sends 100 Trying unless it responds otherwise within 200 ms.
TRYING_WINDOW_S = 0.2
# RFC 4733 section 3.2: the DTMF events are 0-9, *, #, A-D (codes 0-15); 16 is reserved
# (RFC 2833's flash), so Asterisk's and Lync's "0-16" is more than DTMF needs.
DTMF_EVENTS = frozenset(range(16))
# RFC 4733 section 7.1.1: without an events list, events 0-15 are assumed.
DEFAULT_EVENTS = "0-15"
SEED_PTIME_MS = 20  # the seed's SDP (steps 1, 5, 8, 9); also PCMU's default (RFC 3551)
DYNAMIC_PTS = range(96, 128)  # RFC 3551 section 3
# RFC 3261 19.1.4: these URI parameters must match when either URI has them; any other
# parameter counts only when both have it.
_MUST_MATCH_PARAMS = frozenset({"user", "ttl", "method", "maddr", "transport"})


def uri_equivalent(a: SipUri, b: SipUri) -> bool:
    """RFC 3261 19.1.4: userinfo case-sensitive, the rest case-insensitive, escapes
    decoded, an omitted port unlike an explicit 5060, parameters as above, headers all."""

    def text(value: str | None) -> str | None:
        return unquote(value) if value is not None else None

    def params(uri: SipUri) -> dict[str, str | None]:
        return {k.lower(): (text(v) or "").lower() if v is not None else None
                for k, v in uri.params.items()}

    if (a.scheme, text(a.user), text(a.password), a.port) != (
            b.scheme, text(b.user), text(b.password), b.port):
        return False
    if text(a.host.lower()) != text(b.host.lower()):
        return False
    pa, pb = params(a), params(b)
    for name in pa.keys() | pb.keys():
        if name in pa and name in pb:
            if pa[name] != pb[name]:
                return False
        elif name in _MUST_MATCH_PARAMS:
            return False
    heads_a = {k.lower(): text(v) for k, v in a.headers.items()}
    return heads_a == {k.lower(): text(v) for k, v in b.headers.items()}


# ----------------------------------------------------------------------------- step 1


@dataclass(frozen=True)
class Registration:
    """Where the gateway may send calls for the extension: the bound Contact URIs, and
    where they were read (a REGISTER exchange in the capture, or the gateway's state)."""

    contacts: tuple[SipUri, ...]
    source: str


def gateway_registration(contact: str) -> Registration:
    """The Contact the gateway holds for the extension (``sip:...`` or ``<sip:...>``).
    ValueError, naming the value and the form expected, when it is not a SIP URI."""
    try:
        uri = NameAddr.parse(contact).uri
    except ValueError as exc:
        raise ValueError(
            f"registered_contact {contact!r} is not a SIP URI ({exc}): give the Contact the "
            f"gateway holds for {EXTENSION}, e.g. sip:{EXTENSION}@192.168.100.40:5060") from None
    return Registration((uri,), "the gateway's registration state")


def _bound(e: CapturedSip) -> list[SipUri]:
    """The Contacts a REGISTER or its 2xx binds (RFC 3261 10.2.1, 10.3): a wildcard, or a
    Contact whose expiry (its parameter, else the Expires header) is 0, binds nothing."""
    default = (e.msg.headers.get("Expires") or "").strip()
    out: list[SipUri] = []
    for value in e.msg.headers.values("Contact"):
        if value.strip() == "*":
            continue
        try:
            addr = NameAddr.parse(value)
        except ValueError:
            continue
        expires = addr.param("expires")
        if (expires if expires is not None else default).strip() != "0":
            out.append(addr.uri)
    return out


def captured_registration(leg: Leg, phone: str, before: float,
                          user: str = EXTENSION) -> Registration | None:
    """The last registration of ``user`` by ``phone`` that the gateway accepted (2xx)
    before ``before``: the REGISTER's Contacts and those the 2xx lists as bound (RFC 3261
    10.3 step 8). None when the capture holds no such exchange."""
    requests: dict[tuple[str | None, int], CapturedSip] = {}
    found: Registration | None = None
    for e in sorted(leg.events + leg.others, key=lambda m: (m.time, m.frame)):
        if e.time > before or e.method != "REGISTER":
            continue
        if e.is_request:
            if e.sender == phone and user_of(e.msg.headers.get("To")) == user:
                requests[(e.msg.call_id, e.cseq)] = e
            continue
        request = requests.get((e.msg.call_id, e.cseq))
        if request is None or e.receiver != phone or not 200 <= (status_of(e) or 0) < 300:
            continue
        contacts: list[SipUri] = []
        for uri in _bound(request) + _bound(e):
            if not any(uri_equivalent(uri, c) for c in contacts):
                contacts.append(uri)
        found = Registration(tuple(contacts), f"the REGISTER at frame {request.frame} and "
                                              f"its {status_of(e)} at frame {e.frame}")
    return found


def check_invite_target(v: Verdict, leg: Leg, invite: CapturedSip, phone: str,
                        gateway_state: Registration | None, user: str = EXTENSION) -> None:
    """Step 1 on the softphone's leg: the gateway sends the call for ``user`` to a
    Contact the softphone registered (RFC 3261 10.3, 16.5: a per-instance Contact user
    such as baresip's ``1000-0x...`` is as good as SIPp's ``1000``); the To names the
    extension, or that Contact when the gateway addresses it to the Request-URI (RFC 3261
    8.1.1.1 lets a UAC do so)."""
    known = [r for r in (captured_registration(leg, phone, invite.time, user), gateway_state)
             if r is not None]
    contacts = [c for r in known for c in r.contacts]
    request = request_of(invite)
    try:
        target: SipUri | None = request.sip_uri
    except ValueError:
        target = None
    unknown = (f"no REGISTER of {user} from the {phone} accepted before the INVITE in the "
               "capture, and no registered Contact given from the gateway")
    if not known:
        v.not_checked("1", leg.name, "Request-URI", unknown,
                      "the Contact the softphone registered (RFC 3261 10.3, 16.5)")
    else:
        bindings = "; ".join(f"{', '.join(map(str, r.contacts)) or 'none bound'} "
                             f"({r.source})" for r in known)
        v.check("1", leg.name, "Request-URI",
                target is not None and any(uri_equivalent(target, c) for c in contacts),
                f"the Contact the softphone registered: {bindings} (RFC 3261 10.3, 16.5)",
                request.uri, invite.frame)
    users = [user] + sorted({c.user for c in contacts if c.user and c.user != user})
    to_user = user_of(invite.msg.headers.get("To"))
    expected = f"{user} (the extension dialled)" + (
        f", or {', '.join(users[1:])}, the user of the Contact it registered (the gateway may "
        "address the To to the Request-URI, RFC 3261 8.1.1.1)" if len(users) > 1 else "")
    if not known and to_user != user and target is not None and to_user == target.user:
        # Asterisk addresses the To to the Contact it calls: that the user is the
        # softphone's own (baresip's 1000-0x...) takes the registration to tell.
        v.not_checked("1", leg.name, "To user",
                      f"the To names the Request-URI's user {to_user}; {unknown}", expected)
        return
    v.check("1", leg.name, "To user", to_user in users, expected, to_user, invite.frame)


# ----------------------------------------------------------------------------- step 2


def check_uas_trying(c: Cursor, invite: CapturedSip, uas: str) -> None:
    """Step 2 where the softphone is the UAS: its 100 Trying, unless its first other
    response to the INVITE came within 200 ms (RFC 3261 17.2.1: a UAS sends 100 only when
    it will not answer otherwise within 200 ms)."""
    expected = (f"100 Trying from {uas}, unless its first response to the INVITE comes "
                f"within {TRYING_WINDOW_S * 1000:.0f} ms (RFC 3261 17.2.1)")

    def trying(e: CapturedSip) -> bool:
        return resp(100, "INVITE", uas)(e) and e.cseq == invite.cseq

    if c.leg.find(trying, c.at)[1] is not None:
        c.expect("2", "100 Trying", trying, expected, advance=False, initial=True)
        return
    _, first = c.leg.find(lambda e: resp(range(101, 700), "INVITE", uas)(e)
                          and e.cseq == invite.cseq, c.at)
    if first is None:
        c.v.check("2", c.leg.name, "100 Trying", False, expected,
                  "not found, and no other response to the INVITE")
        return
    answer = response_of(first)
    delay_ms = (first.time - invite.time) * 1000
    within = delay_ms <= TRYING_WINDOW_S * 1000
    c.v.check("2", c.leg.name, "100 Trying", within, expected,
              f"{answer.status} {answer.reason} after {delay_ms:.1f} ms: no 100 needed "
              "(RFC 3261 17.2.1)" if within else
              f"not found; the first response, {answer.status} {answer.reason} at frame "
              f"{first.frame}, came {delay_ms:.1f} ms after the INVITE", first.frame)


# ----------------------------------------------------------------------------- the SDP

SUBJECT = "softphone's SDP"
_DTMF_CONFIG = "RFC 4733; seed sip.conf [1000]: dtmfmode=rfc2833"


@dataclass(frozen=True)
class _Role:
    """One SDP the softphone sent: an offer, the answer to ``offer``, or (its transaction
    begun before the capture) either."""

    sdp: SdpEvent
    kind: Literal["offer", "answer", "unknown"]
    offer: SdpEvent | None = None


def _roles(leg: Leg, phone: str) -> list[_Role]:
    """The softphone's SDPs (a retransmission once), each an offer or the answer to the
    other side's offer (RFC 3264: an INVITE's SDP is answered in its response; a response's
    SDP to an INVITE without one is an offer, answered in the ACK)."""
    sdps = sdp_events(leg)
    out: list[_Role] = []
    sent: set[tuple[int, bytes]] = set()
    for s in sdps:
        e = s.event
        key = (e.cseq, e.msg.serialize())
        if e.sender != phone or key in sent:
            continue
        sent.add(key)
        if e.is_request and e.method != "ACK":
            out.append(_Role(s, "offer"))
            continue
        # The other side's message of the same transaction: the request a response answers,
        # or the 2xx an ACK acknowledges.
        method = "INVITE" if e.is_request else e.method
        other = next((o for o in leg.events if o.sender != phone and o.cseq == e.cseq
                      and o.method == method and o.is_request == (not e.is_request)
                      and (o.is_request or 200 <= (status_of(o) or 0) < 300)), None)
        theirs = next((t for t in sdps if t.event is other), None)
        if theirs is not None:
            out.append(_Role(s, "answer", theirs))
        elif other is not None and not e.is_request:
            out.append(_Role(s, "offer"))  # a 2xx's offer to an INVITE without SDP
        else:
            out.append(_Role(s, "unknown"))
    return out


def _events(fmtp: str | None) -> set[int] | None:
    """The event codes of a telephone-event fmtp (``0-15,66``); None when unreadable."""
    codes: set[int] = set()
    for item in (fmtp if fmtp is not None else DEFAULT_EVENTS).split(","):
        low, _, high = item.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        codes.update(range(int(low), int(high or low) + 1))
    return codes


def _telephone_events(audio: MediaDescription) -> dict[int, tuple[int, str | None]]:
    """Listed telephone-event payload types -> (clock rate, fmtp events text)."""
    fmtp = audio.fmtp()
    return {pt: (clock, fmtp.get(pt)) for pt, (enc, clock, _ch) in audio.rtpmap().items()
            if enc.lower() == "telephone-event" and str(pt) in audio.formats}


def _check_telephone_event(v: Verdict, leg: Leg, role: _Role, audio: MediaDescription,
                           what: str) -> None:
    frame = role.sdp.event.frame
    try:
        mine = _telephone_events(audio)
        offered = (_telephone_events(role.offer.sdp.audio)
                   if role.offer is not None and role.offer.sdp.audio is not None else None)
    except ValueError as exc:
        v.check("SDP", leg.name, f"{SUBJECT} telephone-event", False,
                "readable a=rtpmap and a=fmtp lines", f"{what}: {exc}", frame)
        return
    if offered is not None:
        wanted = sorted(pt for pt, (clock, _ev) in offered.items() if clock == 8000)
        if not wanted:
            return  # nothing to answer: the offer had no telephone-event/8000
        number = (f"as payload {' or '.join(map(str, wanted))} (the offer's number, "
                  "RFC 3264 6.1)")
    else:  # an offer, or an SDP whose offer is not in the capture
        wanted = list(DYNAMIC_PTS)
        number = "on a dynamic payload type (96-127)"
    ok = any(pt in wanted and clock == 8000 and DTMF_EVENTS <= (_events(events) or set())
             for pt, (clock, events) in mine.items())
    seen = ", ".join(f"{pt} at {clock} Hz, events "
                     f"{events if events is not None else f'not listed ({DEFAULT_EVENTS})'}"
                     for pt, (clock, events) in mine.items()) or "none"
    v.check("SDP", leg.name, f"{SUBJECT} telephone-event", ok,
            f"telephone-event/8000 {number} with events covering 0-15, the DTMF digits "
            f"({_DTMF_CONFIG})", f"{what}: telephone-event {seen}", frame)


def _own_state(roles: list[_Role], upto: _Role, known: bool) -> str | None:
    """The direction of the softphone's own latest offer before ``upto``: what it wants for
    itself, e.g. a hold it placed. With no offer of its own, sendrecv if the dialog is
    captured from its start (``known``), else None: not known."""
    state = "sendrecv" if known else None
    for r in roles:
        if r is upto:
            break
        if r.kind == "offer":
            state = r.sdp.direction
    return state


def _check_answer_direction(v: Verdict, leg: Leg, roles: list[_Role], role: _Role) -> None:
    offer = role.offer
    assert offer is not None
    answer = role.sdp
    # RFC 3264 6.1: to sendrecv the answerer may pick any direction, as its own state has
    # it: a softphone that holds nothing itself answers sendrecv.
    own = (_own_state(roles, role, not (v.one_leg_ok and leg.started_before_capture))
           if offer.direction == "sendrecv" else None)
    if own is not None:
        allowed = {own}
        why = ("the softphone holding nothing itself" if own == "sendrecv" else
               f"the softphone's own offer of a={own} standing")
        expected = (f"a={own} to an a=sendrecv offer ({offer.event.describe()}), {why} "
                    "(RFC 3264 6.1)")
    else:
        allowed = ALLOWED_ANSWERS.get(offer.direction, set())
        expected = (f"one of {sorted(allowed)} to an a={offer.direction} offer "
                    f"({offer.event.describe()})")
    v.check("SDP", leg.name, f"{SUBJECT} answer direction (RFC 3264 6.1)",
            answer.direction in allowed, expected,
            f"a={answer.direction} in {answer.event.describe()}", answer.event.frame)


def check_phone_sdp(v: Verdict, leg: Leg, phone: str) -> None:
    """Every SDP the softphone sent, offer or answer (to the INVITE and to each re-INVITE):
    an audio stream, PCMU (the gateway's allow=ulaw), telephone-event for the DTMF digits
    (dtmfmode=rfc2833), a=ptime 20 when given, an answer's direction (RFC 3264 6.1)."""
    roles = _roles(leg, phone)
    for role in roles:
        e = role.sdp.event
        what = e.describe()
        audio = role.sdp.sdp.audio
        if not v.check("SDP", leg.name, f"{SUBJECT} m=audio",
                       audio is not None and audio.port != 0,
                       "an audio stream, not refused (port 0)",
                       "none" if audio is None else
                       f"{what}: m=audio {audio.port} {' '.join(audio.formats)}", e.frame):
            continue
        assert audio is not None
        try:
            pcmu: tuple[str, int, int] | None = audio.rtpmap().get(0)
        except ValueError:
            pcmu = ("unreadable a=rtpmap", 0, 0)
        v.check("SDP", leg.name, f"{SUBJECT} PCMU",
                "0" in audio.formats and (pcmu is None or (pcmu[0].upper(), pcmu[1]) == ("PCMU",
                                                                                        8000)),
                "payload 0 PCMU/8000 offered or answered (seed sip.conf [1000]: allow=ulaw)",
                f"{what}: formats {audio.formats}, rtpmap 0 {pcmu}", e.frame)
        _check_telephone_event(v, leg, role, audio, what)
        try:
            ptime: int | str | None = audio.ptime
        except ValueError as exc:
            ptime = str(exc)
        v.check("SDP", leg.name, f"{SUBJECT} a=ptime", ptime in (None, SEED_PTIME_MS),
                f"{SEED_PTIME_MS} when given (without it, {SEED_PTIME_MS} ms is PCMU's "
                "default, RFC 3551)", f"{what}: " + ("absent" if ptime is None else str(ptime)),
                e.frame)
        if role.kind == "answer":
            _check_answer_direction(v, leg, roles, role)


__all__ = [
    "EXTENSION",
    "Registration",
    "captured_registration",
    "check_invite_target",
    "check_phone_sdp",
    "check_uas_trying",
    "gateway_registration",
    "uri_equivalent",
]

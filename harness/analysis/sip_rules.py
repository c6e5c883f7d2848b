"""Header rules of RFC 3261 checked over every message of a leg's dialog.

Via (transport, branch magic cookie, rport on the gateway's requests), Max-Forwards, From
tag constant, To tag constant from the first tagged response on, one Call-ID per leg,
CSeq (ACK carries the INVITE's number, later requests higher), Contact transport,
Content-Length equal to the body.
"""

from __future__ import annotations

from harness.analysis.cursor import status_of
from harness.analysis.legs import Leg, uri_of
from harness.analysis.verdict import Verdict
from harness.capture.sip import CapturedSip
from harness.sip.uri import parse_via

STEP = "headers"


def check_leg_headers(v: Verdict, leg: Leg, gateway: str = "Asterisk") -> None:
    if not leg.events:
        return
    # A deployment's capture that began mid-dialog has no initial INVITE to take the
    # tags and the first CSeq from.
    late = v.one_leg_ok and leg.started_before_capture
    _content_length(v, leg)
    _via_and_max_forwards(v, leg, gateway)
    _call_id(v, leg, late)
    if late and leg.initial_invite is None:
        _tags_mid_dialog(v, leg)
    else:
        _tags(v, leg)
    _cseq(v, leg, late)
    _contact_transport(v, leg, gateway)


def _content_length(v: Verdict, leg: Leg) -> None:
    bad = [e for e in leg.events if e.msg.content_length is not None
           and e.msg.content_length != len(e.msg.body)]
    missing = [e for e in leg.events if e.msg.content_length is None and leg.transport == "TCP"]
    first = next(iter(bad or missing), None)
    v.check(STEP, leg.name, "Content-Length", first is None,
            "equal to the body's length on every message (mandatory over TCP)",
            "all equal" if first is None else
            f"{first.describe()}: Content-Length {first.msg.content_length}, "
            f"body {len(first.msg.body)} bytes",
            first.frame if first else None)


def _via_and_max_forwards(v: Verdict, leg: Leg, gateway: str) -> None:
    wrong_transport, no_cookie, no_rport, bad_mf = [], [], [], []
    for e in leg.requests():
        top = e.msg.headers.get("Via")
        try:
            via = parse_via(top.split(",")[0]) if top else None
        except ValueError:
            via = None
        if via is None or via.transport.upper() != leg.transport:
            wrong_transport.append((e, via.transport if via else top))
        if via is None or not (via.branch or "").startswith("z9hG4bK"):
            no_cookie.append((e, via.branch if via else None))
        if e.sender == gateway and (via is None or not via.has_param("rport")):
            no_rport.append(e)
        mf = e.msg.headers.get("Max-Forwards")
        if mf is None or not mf.strip().isdigit() or not 0 < int(mf) <= 70:
            bad_mf.append((e, mf))
    for subject, items, expected in (
        ("Via transport", wrong_transport, f"SIP/2.0/{leg.transport} on every request"),
        ("Via branch", no_cookie, "the RFC 3261 magic cookie z9hG4bK on every request"),
    ):
        first = items[0] if items else None
        v.check(STEP, leg.name, subject, first is None, expected,
                "as expected" if first is None else f"{first[0].describe()}: {first[1]}",
                first[0].frame if first else None)
    v.check(STEP, leg.name, "Via rport", not no_rport,
            f"rport on every request from {gateway} (RFC 3581)",
            "present" if not no_rport else f"missing on {no_rport[0].describe()}",
            no_rport[0].frame if no_rport else None)
    first_mf = bad_mf[0] if bad_mf else None
    v.check(STEP, leg.name, "Max-Forwards", first_mf is None, "present, 1 to 70, on every request",
            "as expected" if first_mf is None else f"{first_mf[0].describe()}: {first_mf[1]!r}",
            first_mf[0].frame if first_mf else None)


def _call_id(v: Verdict, leg: Leg, started_late: bool = False) -> None:
    invites = {e.msg.call_id for e in leg.events + leg.others
               if e.is_request and e.method == "INVITE"}
    if started_late and not invites:
        invites = {leg.call_id}  # every INVITE of the call came before the capture
    v.check(STEP, leg.name, "Call-ID", len(invites) == 1, "one Call-ID for the call on this leg",
            ", ".join(sorted(i or "?" for i in invites)))


def _tags(v: Verdict, leg: Leg) -> None:
    caller = leg.caller
    initial = [e for e in leg.requests("INVITE", caller) if e.msg.to_tag is None]
    from_tag = initial[0].msg.from_tag if initial else None
    v.check(STEP, leg.name, "From tag", bool(from_tag), "a tag on the INVITE's From",
            from_tag or "none", initial[0].frame if initial else None)
    # The dialog's To tag: the first 101-299 response to the last initial INVITE (the one
    # after any 401/407 challenge; a non-2xx final response creates no dialog).
    start = initial[-1] if initial else None
    idx, tagged = leg.find(lambda e: start is not None and not e.is_request
                           and e.msg.cseq == start.msg.cseq and 100 < (status_of(e) or 0) < 300
                           and e.msg.to_tag is not None)
    to_tag = tagged.msg.to_tag if tagged else None
    broken: list[tuple[CapturedSip, str, str | None, str | None]] = []
    for n, e in enumerate(leg.events):
        callers_view = ((e.is_request and e.sender == caller)
                        or (not e.is_request and e.receiver == caller))
        caller_tag, callee_tag = ((e.msg.from_tag, e.msg.to_tag) if callers_view
                                  else (e.msg.to_tag, e.msg.from_tag))
        if caller_tag != from_tag:
            broken.append((e, "caller's tag", from_tag, caller_tag))
        elif tagged is not None and n >= idx and callee_tag != to_tag:
            broken.append((e, "callee's tag", to_tag, callee_tag))
    v.check(STEP, leg.name, "To tag", to_tag is not None,
            "a tag on the first 18x/2xx to the INVITE", to_tag or "none",
            tagged.frame if tagged else None)
    first = broken[0] if broken else None
    v.check(STEP, leg.name, "From/To tags constant", first is None,
            f"caller's tag {from_tag} throughout; "
            f"callee's tag {to_tag} from the first tagged response on",
            "constant" if first is None else
            f"{first[0].describe()}: {first[1]} {first[3]!r} instead of {first[2]!r}",
            first[0].frame if first else None)


def _tags_mid_dialog(v: Verdict, leg: Leg) -> None:
    """Without the initial INVITE: the tags of the first message that carries both stay
    the same (either way round) on every later message."""
    reason = f"the initial INVITE is not in the capture (it starts at frame {leg.events[0].frame})"
    v.not_checked(STEP, leg.name, "From tag", reason, "a tag on the INVITE's From")
    v.not_checked(STEP, leg.name, "To tag", reason, "a tag on the first 18x/2xx to the INVITE")
    idx, ref = leg.find(lambda e: e.msg.from_tag is not None and e.msg.to_tag is not None)
    if ref is None:
        return
    pair = {ref.msg.from_tag, ref.msg.to_tag}
    broken = next((e for e in leg.events[idx:] if {e.msg.from_tag, e.msg.to_tag} != pair), None)
    v.check(STEP, leg.name, "From/To tags constant", broken is None,
            f"the tags {ref.msg.from_tag} and {ref.msg.to_tag} of frame {ref.frame} throughout",
            "constant" if broken is None else
            f"{broken.describe()}: From tag {broken.msg.from_tag!r}, To tag {broken.msg.to_tag!r}",
            broken.frame if broken else None)


def _cseq(v: Verdict, leg: Leg, started_late: bool = False) -> None:
    problems: list[tuple[CapturedSip, str]] = []
    for side in leg.roles:
        last: int | None = None
        last_invite: CapturedSip | None = None
        sent: set[tuple[int, str, str | None]] = set()
        for e in leg.requests(sender=side):
            number, method = e.msg.cseq
            if method != e.msg.method:
                problems.append((e, f"CSeq method {method} on a {e.msg.method}"))
            transaction = (number, method, e.msg.via_branch)
            if method != "ACK" and transaction in sent:
                # A retransmission (RFC 3261 17.1.1.2, 17.1.2.2: timers A and E), of a BYE
                # as much as of an INVITE: the same transaction, not a later request.
                continue
            sent.add(transaction)
            if method == "ACK":
                if last_invite is None and started_late:
                    continue  # the ACK of an INVITE sent before the capture began
                # RFC 3261 13.2.2.4 / 17.1.1.3: the ACK carries the INVITE's number.
                if last_invite is None or number != last_invite.cseq:
                    want = last_invite.cseq if last_invite else "?"
                    problems.append((e, f"ACK CSeq {number}, INVITE's was {want}"))
                continue
            if method == "CANCEL":
                continue
            if last is not None and number <= last:
                problems.append((e, f"CSeq {number} after {last}"))
            last = max(last or number, number)
            if method == "INVITE":
                last_invite = e
    first = problems[0] if problems else None
    v.check(STEP, leg.name, "CSeq", first is None,
            "ACK with the INVITE's number; each side's later requests higher",
            "as expected" if first is None else f"{first[0].describe()}: {first[1]}",
            first[0].frame if first else None)


def _contact_transport(v: Verdict, leg: Leg, gateway: str) -> None:
    want = leg.transport.lower()
    wrong = []
    for e in leg.events:
        if e.sender != gateway or e.msg.headers.get("Contact") is None:
            continue
        uri = uri_of(e.msg.headers.get("Contact"))
        transport = (uri.param("transport") or "udp").lower() if uri else None
        if transport != want:
            wrong.append((e, transport))
    first = wrong[0] if wrong else None
    v.check(STEP, leg.name, "Contact transport", first is None,
            f"transport={want} in {gateway}'s Contact", "as expected" if first is None else
            f"{first[0].describe()}: {first[1]}", first[0].frame if first else None)

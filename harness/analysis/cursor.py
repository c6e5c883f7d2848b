"""What every flow's checks share: a cursor that walks a leg step by step, the predicates
that find a request or a response on it, and typed access to the parsed message.

A step is looked for after the previous one; a step that is missing is a failed check
that says what came instead (or, on a deployment's capture that began after it, a check
not made).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from harness.analysis.legs import Leg, to_events, uri_of
from harness.analysis.verdict import Verdict
from harness.capture.sip import CapturedSip
from harness.roles import Roles
from harness.sip.message import Request, Response

Predicate = Callable[[CapturedSip], bool]


@dataclass
class Cursor:
    """Walks a leg in order: each step is looked for after the previous one.

    ``leg_started_before_capture`` (a deployment's capture that began mid-dialog): until
    the cursor has matched its first message, a message that is not found is not checked
    rather than failed; a step of the call's set-up (``initial=True``) is not checked
    when the capture does not hold the call's INVITE.
    """

    v: Verdict
    leg: Leg
    at: int = -1
    leg_started_before_capture: bool = False
    matched: bool = False
    # False: the leg is not in the capture at all, which was reported once for the whole
    # leg (leg_cursor); its steps are then neither checked nor reported one by one.
    captured: bool = True

    def expect(
        self, step: str, subject: str, pred: Predicate, expected: str, advance: bool = True,
        initial: bool = False,
    ) -> CapturedSip | None:
        if not self.captured:
            return None
        late = self.leg_started_before_capture
        first = self.leg.events[0].frame if self.leg.events else None
        if late and initial and self.leg.initial_invite is None:
            # A 200 or an ACK seen without its INVITE may as well answer a re-INVITE.
            self.v.not_checked(step, self.leg.name, subject,
                               f"the capture starts at frame {first}, after the call's INVITE",
                               expected)
            return None
        idx, event = self.leg.find(pred, self.at)
        # The set-up may have begun before the capture even when a later INVITE of it (the
        # one with credentials) is in it.
        if event is None and late and (initial or not self.matched):
            self.v.not_checked(step, self.leg.name, subject,
                               f"the capture starts at frame {first}, after this message",
                               expected)
            return None
        if event is None:
            # What came instead: the next three distinct messages (retransmissions once).
            rest: list[str] = []
            labels: set[str] = set()
            for e in self.leg.events[self.at + 1 :]:
                if e.label() not in labels and len(rest) < 3:
                    labels.add(e.label())
                    rest.append(e.describe())
            self.v.check(
                step,
                self.leg.name,
                subject,
                False,
                expected,
                "not found"
                + (
                    f"; next on this leg: {', '.join(rest)}"
                    if rest
                    else "; nothing more on this leg"
                ),
            )
            return None
        self.matched = True
        self.v.check(step, self.leg.name, subject, True, expected, event.describe(), event.frame)
        if advance:
            self.at = idx
        return event


def leg_cursor(v: Verdict, leg: Leg) -> Cursor:
    """The cursor for a flow's leg. On a deployment's capture (``v.one_leg_ok``) a leg with
    no message is one not-checked result, and a leg whose capture began mid-dialog is
    walked with that tolerance; on the suite's captures it is a plain cursor."""
    if not v.one_leg_ok:
        return Cursor(v, leg)
    if not leg.events:
        leg_not_captured(v, leg)
        return Cursor(v, leg, captured=False)
    return Cursor(v, leg, leg_started_before_capture=leg.started_before_capture)


def leg_not_captured(v: Verdict, leg: Leg) -> None:
    v.not_checked("leg", leg.name, "messages", f"{leg.name}: not captured")


def request_of(e: CapturedSip) -> Request:
    """The event's request (the caller found it with :func:`req` or checked ``is_request``)."""
    msg = e.msg
    if not isinstance(msg, Request):
        raise ValueError(f"{e.describe()} is not a request")
    return msg


def response_of(e: CapturedSip) -> Response:
    """The event's response (the caller found it with :func:`resp`)."""
    msg = e.msg
    if not isinstance(msg, Response):
        raise ValueError(f"{e.describe()} is not a response")
    return msg


def status_of(e: CapturedSip) -> int | None:
    """The status code of a response; None for a request."""
    return e.message.status if isinstance(e.message, Response) else None


def expect_invite(c: Cursor, step: str, subject: str, sender: str, user: str, expected: str,
                  user_subject: str = "Request-URI user",
                  initial: bool = False) -> CapturedSip | None:
    """The next INVITE from `sender` (a step), and its Request-URI user checked to be
    `user`."""
    invite = c.expect(step, subject, req("INVITE", sender), expected, initial=initial)
    if invite is not None:
        c.v.equal(step, c.leg.name, user_subject, user, ruri_user(invite), invite.frame)
    return invite


def req(method: str, sender: str, pred: Predicate | None = None) -> Predicate:
    return lambda e: (
        isinstance(e.message, Request)
        and e.message.method == method
        and e.sender == sender
        and (pred is None or pred(e))
    )


def resp(status: int | Iterable[int], method: str, sender: str) -> Predicate:
    wanted = (status,) if isinstance(status, int) else tuple(status)
    return lambda e: (
        isinstance(e.message, Response)
        and e.message.status in wanted
        and e.method == method
        and e.sender == sender
    )


def any_request(method: str) -> Predicate:
    """A request of ``method`` from either side."""
    return lambda e: isinstance(e.message, Request) and e.message.method == method


def direction_is(*dirs: str) -> Predicate:
    def pred(e: CapturedSip) -> bool:
        try:
            sdp = e.msg.sdp()
        except ValueError:
            return False
        audio = sdp.audio if sdp else None
        return audio is not None and audio.direction in dirs

    return pred


def has_header(name: str) -> Predicate:
    return lambda e: e.msg.headers.get(name) is not None


def has_credentials(e: CapturedSip) -> bool:
    """Digest credentials, as a challenge is answered: Authorization after a 401,
    Proxy-Authorization after a 407 (RFC 3261 22.2, 22.3; chan_sip and PJSIP challenge an
    INVITE either way, depending on version and settings)."""
    return has_header("Authorization")(e) or has_header("Proxy-Authorization")(e)


def user_of(value: str | None) -> str | None:
    uri = uri_of(value)
    return uri.user if uri else None


def ruri_user(e: CapturedSip) -> str | None:
    """The user part of a request's Request-URI."""
    return request_of(e).sip_uri.user


def auth_param(value: str | None, name: str) -> str | None:
    """A parameter of a digest challenge or credentials header (``realm``, ``username``)."""
    if not value:
        return None
    m = re.search(rf'{name}="?([^",]*)"?', value)
    return m.group(1) if m else None


def parsed_events(v: Verdict, captured: Iterable[CapturedSip], roles: Roles) -> list[CapturedSip]:
    """The capture's parsed messages named by role; each one that does not parse is a
    failed check."""
    events, problems = to_events(captured, roles)
    for p in problems:
        v.check("capture", "-", "SIP parse", False, "every SIP message in the pcap parses", p)
    return events

"""Calls, legs and dialogs from the SIP messages of one capture.

A leg is the signalling between two hosts named by role (the Lync trunk between Asterisk
and the Mediation Server; the softphone's leg between the softphone and Asterisk). On a
leg, the call is the dialog of the first INVITE; OPTIONS (qualify) and REGISTER are
other transactions and are set apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.capture.sip import CapturedSip
from harness.roles import ASTERISK, MEDIATION, Roles
from harness.sip.uri import NameAddr, SipUri

# The trunk every family's flows cross: Asterisk <-> the Mediation Server, over TCP.
LYNC_LEG = "Lync trunk (TCP)"


@dataclass
class Leg:
    name: str
    transport: str
    roles: tuple[str, str]
    # A leg's events are the capture's SIP messages with their hosts named by role.
    events: list[CapturedSip] = field(default_factory=list)  # the call's dialog, in order
    others: list[CapturedSip] = field(default_factory=list)  # OPTIONS, REGISTER, other calls

    @property
    def call_id(self) -> str | None:
        return self.events[0].msg.call_id if self.events else None

    @property
    def caller(self) -> str | None:
        first = next((e for e in self.events if e.is_request and e.method == "INVITE"), None)
        return first.sender if first else None

    def find(self, pred: Callable[[CapturedSip], bool],
             after: int = -1) -> tuple[int, CapturedSip | None]:
        """The first event past index `after` that matches, with its index (or -1, None)."""
        for i in range(after + 1, len(self.events)):
            if pred(self.events[i]):
                return i, self.events[i]
        return -1, None

    @property
    def started_before_capture(self) -> bool:
        """The leg's first captured message is not its initial INVITE (no To tag yet): the
        capture began after the call was set up, or during its set-up."""
        first = self.events[0] if self.events else None
        return first is not None and not (first.is_request and first.method == "INVITE"
                                           and first.msg.to_tag is None)

    @property
    def initial_invite(self) -> CapturedSip | None:
        """The first INVITE outside the dialog (no To tag yet), if the capture holds it."""
        return next((e for e in self.events if e.is_request and e.method == "INVITE"
                     and e.msg.to_tag is None), None)

    def requests(self, method: str | None = None, sender: str | None = None) -> list[CapturedSip]:
        return [e for e in self.events if e.is_request
                and (method is None or e.method == method)
                and (sender is None or e.sender == sender)]

    def responses_to(self, request: CapturedSip) -> list[CapturedSip]:
        return [e for e in self.events if not e.is_request
                and e.msg.cseq == request.msg.cseq and e.sender == request.receiver]


# Transactions that are not a call's dialog (qualify, registration, presence).
NOT_CALLS = ("OPTIONS", "REGISTER", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE")


def build_leg(name: str, transport: str, roles: tuple[str, str],
              events: Iterable[CapturedSip], mid_dialog: bool = False) -> Leg:
    """The leg's call: the dialog of the first INVITE. `mid_dialog` (a capture that may
    begin after the last INVITE): else the dialog of the first message of another call's
    method (an ACK, a BYE)."""
    leg = Leg(name, transport, roles)
    mine = [e for e in events if {e.sender, e.receiver} == set(roles)]
    call_id = next((e.msg.call_id for e in mine if e.is_request and e.method == "INVITE"), None)
    if call_id is None and mid_dialog:
        call_id = next((e.msg.call_id for e in mine if e.method not in NOT_CALLS), None)
    for e in mine:
        if call_id is not None and e.msg.call_id == call_id:
            leg.events.append(e)
        else:
            leg.others.append(e)
    return leg


def lync_trunk(events: Iterable[CapturedSip], mid_dialog: bool = False) -> Leg:
    """The Lync trunk's call: Asterisk <-> Mediation Server, over TCP."""
    return build_leg(LYNC_LEG, "TCP", (ASTERISK, MEDIATION), events, mid_dialog)


def to_events(captured: Iterable[CapturedSip],
              roles: Roles) -> tuple[list[CapturedSip], list[str]]:
    """The parsed messages named by role; unparsable ones become problems to report."""
    events: list[CapturedSip] = []
    problems: list[str] = []
    for c in captured:
        if c.message is None:
            problems.append(f"frame {c.frame}: SIP message that does not parse: {c.error}")
            continue
        events.append(c.with_roles(roles))
    return events, problems


def uri_of(value: str | None) -> SipUri | None:
    """The SIP URI in a Contact/From/To value (RFC 3261 20.10: in a bare addr-spec the
    parameters after the first ';' belong to the header, not the URI)."""
    if not value:
        return None
    try:
        return NameAddr.parse(value).uri
    except ValueError:
        return None

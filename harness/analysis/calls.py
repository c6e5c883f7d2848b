"""The calls of a deployment's capture: INVITE dialogs joined across the gateway, and the
flow each one follows.

A leg is one INVITE dialog between two hosts (its Call-ID on that pair of hosts; the same
Call-ID on another pair is another leg, since a B2BUA may keep it). Legs through the gateway
are joined into one call when the gateway's outgoing leg starts while the incoming one is
up, the leg with the same dialled number (digits only: the gateway may add or strip '+')
first, else the nearest in time (Skype's legs carry other numbers than Lync's). REGISTER,
OPTIONS and other out-of-dialog traffic never make a call; it rides with the nearest call
of the same hosts, except the gateway's registration at Skype with no call about it, which
is the Skype registration flow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.analysis.recognise import Recognition
from harness.capture.sip import CapturedSip
from harness.roles import ASTERISK, MEDIATION, ROLE_ORDER, SKYPE, SOFTPHONE, XMPP
from harness.sip import Request
from harness.sip.uri import NameAddr, SipUri

FLOWS: Mapping[str, str] = {
    "outbound": "outbound: softphone -> Asterisk -> Lync",
    "inbound": "inbound: Lync -> Asterisk -> softphone",
    "lync-to-skype": "Lync dials a Skype number (Skype)",
    "skype-to-lync": "Skype calls Lync",
    "skype-registration": "Skype for SIP registration",
    "gtalk-ivr": "Google Talk IVR",
    "unknown": "a call of no known flow",
}
# Who called the gateway, and whom the gateway called -> the flow.
_THROUGH_GATEWAY: Mapping[tuple[str | None, str | None], str] = {
    (SOFTPHONE, MEDIATION): "outbound",
    (MEDIATION, SOFTPHONE): "inbound",
    (MEDIATION, SKYPE): "lync-to-skype",
    (SKYPE, MEDIATION): "skype-to-lync",
    (SOFTPHONE, None): "outbound",
    (SKYPE, None): "skype-to-lync",
    (None, SOFTPHONE): "inbound",
    (None, SKYPE): "lync-to-skype",
}
# Methods of an INVITE dialog: a Call-ID that carries one of them is a call's leg.
_DIALOG_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "PRACK", "UPDATE", "INFO"})
# Out-of-dialog traffic this close to a call (seconds) is shown with it: the softphone's
# REGISTER just before Lync calls it, the gateway's qualify OPTIONS during the call.
AROUND_S = 60.0
_EPS = 0.5  # legs that begin in the same half second overlap (a capture cut mid-call)


@dataclass(frozen=True)
class DeploymentCall:
    flow: str  # a FLOWS key
    messages: tuple[CapturedSip, ...]  # every leg's SIP (roles applied) and traffic around it
    call_ids: tuple[str, ...]  # one per leg seen
    legs_seen: tuple[tuple[str, str], ...]  # role pairs with a dialog in the capture
    number: str | None  # the dialled number as the first INVITE carries it
    start: float  # epoch seconds of its first message
    end: float
    starts_mid_dialog: bool  # no initial INVITE for some leg (the capture began late)

    @property
    def title(self) -> str:
        """The flow's name as the suite's verdicts spell it (Lync's Skype calls by number)."""
        if self.flow == "lync-to-skype" and self.number:
            return f"Lync dials {self.number.lstrip('+')} (Skype)"
        return FLOWS[self.flow]


@dataclass
class _Leg:
    call_id: str
    hosts: frozenset[str]
    messages: list[CapturedSip] = field(default_factory=list)

    @property
    def start(self) -> float:
        return self.messages[0].time

    @property
    def end(self) -> float:
        return self.messages[-1].time

    @property
    def initial(self) -> CapturedSip | None:
        return next((m for m in self.messages if _is_initial_invite(m)), None)

    @property
    def caller(self) -> str | None:
        """The host that placed the call: the initial INVITE's sender, else the sender of
        an ACK before any re-INVITE (so the ACK of the initial INVITE's 2xx)."""
        if (first := self.initial) is not None:
            return first.src
        for m in self.messages:
            if m.is_request and m.method in ("ACK", "INVITE"):
                return m.src if m.method == "ACK" else None
        return None

    def other(self, host: str) -> str:
        return next(iter(self.hosts - {host}), host)

    @property
    def number(self) -> str | None:
        """The dialled number: the initial INVITE's Request-URI user, else the To user of a
        request from the caller."""
        first = self.initial
        if first is not None and isinstance(first.msg, Request):
            return _user(first.msg.uri)
        caller = self.caller
        sent = next((m for m in self.messages if m.is_request and m.src == caller), None)
        return _to_user(sent) if sent else None


def _is_initial_invite(m: CapturedSip) -> bool:
    return m.is_request and m.method == "INVITE" and m.msg.to_tag is None


def _user(uri: str) -> str | None:
    try:
        return SipUri.parse(uri).user
    except ValueError:
        return None


def _to_user(m: CapturedSip) -> str | None:
    value = m.msg.headers.get("To")
    try:
        return NameAddr.parse(value).uri.user if value else None
    except ValueError:
        return None


def _caller_name(m: CapturedSip | None) -> str | None:
    value = m.msg.headers.get("From") if m else None
    try:
        return (NameAddr.parse(value).display or None) if value else None
    except ValueError:
        return None


def _digits(number: str | None) -> str:
    return re.sub(r"\D", "", number or "")


def _dialog_call_ids(messages: Iterable[CapturedSip]) -> set[tuple[str, frozenset[str]]]:
    return {(m.msg.call_id or "", frozenset((m.src, m.dst))) for m in messages
            if m.message is not None and m.method in _DIALOG_METHODS}


def _legs(messages: Sequence[CapturedSip]) -> tuple[list[_Leg], list[CapturedSip]]:
    """The INVITE dialogs (in order of their first message), and everything else."""
    dialogs = _dialog_call_ids(messages)
    legs: dict[tuple[str, frozenset[str]], _Leg] = {}
    rest: list[CapturedSip] = []
    for m in messages:
        key = (m.msg.call_id or "", frozenset((m.src, m.dst))) if m.message else None
        if key is not None and key in dialogs:
            legs.setdefault(key, _Leg(*key)).messages.append(m)
        else:
            rest.append(m)
    return sorted(legs.values(), key=lambda leg: leg.start), rest


def _join(legs: list[_Leg], gateway: str | None) -> list[list[_Leg]]:
    """Legs grouped into calls: each leg the gateway placed goes with the leg it was placed
    for (same number first, else the latest one begun before it)."""
    group = list(range(len(legs)))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for o, out in enumerate(legs):
        if gateway not in out.hosts or out.caller not in (gateway, None):
            continue
        best: tuple[bool, bool, float, int] | None = None
        for i, inc in enumerate(legs):
            if (i == o or gateway not in inc.hosts or inc.caller == gateway
                    or root(i) == root(o) or inc.hosts == out.hosts
                    or not inc.start - _EPS <= out.start <= inc.end + _EPS):
                continue
            joined = any(root(j) == root(i) for j in range(len(legs)) if j != i)
            key = (_digits(inc.number) != _digits(out.number), joined, out.start - inc.start, i)
            if best is None or key < best:
                best = key
        if best is not None:
            group[root(o)] = root(best[3])
    calls: dict[int, list[_Leg]] = {}
    for i, leg in enumerate(legs):
        calls.setdefault(root(i), []).append(leg)
    return list(calls.values())


def _flow(legs: list[_Leg], gateway: str | None, recognition: Recognition) -> str:
    role = recognition.roles.name
    known = {e.role for e in recognition.evidence}
    called_by: str | None = None  # the role that called the gateway
    called: str | None = None  # the role the gateway called
    for leg in legs:
        if gateway not in leg.hosts:
            called_by, called = role(leg.caller or ""), role(leg.other(leg.caller or ""))
            continue
        peer = role(leg.other(gateway))
        if leg.caller == gateway:
            called = peer
        elif leg.caller is not None or called is not None:
            called_by = peer
        else:
            called = peer
    if called_by == MEDIATION and called is None:
        return "lync-to-skype" if SKYPE in known and SOFTPHONE not in known else "inbound"
    if called == MEDIATION and called_by is None:
        out = next((leg.initial for leg in legs if leg.caller == gateway), None)
        if XMPP in known and _caller_name(out):
            return "gtalk-ivr"
        return "skype-to-lync" if SKYPE in known and SOFTPHONE not in known else "outbound"
    return _THROUGH_GATEWAY.get((called_by, called), "unknown")


def _pair(a: str, b: str) -> tuple[str, str]:
    order = {r: i for i, r in enumerate(ROLE_ORDER)}
    first, second = sorted((a, b), key=lambda r: (order.get(r, len(order)), r))
    return first, second


def _call(flow: str, legs: list[_Leg], around: list[CapturedSip],
          recognition: Recognition) -> DeploymentCall:
    own = [m for leg in legs for m in leg.messages] + around
    own.sort(key=lambda m: (m.time, m.frame))
    named = tuple(m.with_roles(recognition.roles) for m in own)
    name = recognition.roles.name
    pairs = tuple(dict.fromkeys(_pair(*(name(h) for h in sorted(leg.hosts))) for leg in legs))
    return DeploymentCall(
        flow=flow,
        messages=named,
        call_ids=tuple(leg.call_id for leg in legs),
        legs_seen=pairs,
        number=legs[0].number if flow != "skype-registration" else None,
        start=own[0].time,
        end=own[-1].time,
        starts_mid_dialog=flow != "skype-registration" and any(leg.initial is None for leg in legs),
    )


def _nearest(m: CapturedSip, spans: list[tuple[float, float, frozenset[str]]]) -> int | None:
    """The call (index into `spans`) of the same hosts closest in time to `m`, if near."""
    best: tuple[float, int] | None = None
    for i, (start, end, hosts) in enumerate(spans):
        if {m.src, m.dst} <= hosts:
            gap = max(start - m.time, m.time - end, 0.0)
            if gap <= AROUND_S and (best is None or gap < best[0]):
                best = (gap, i)
    return best[1] if best else None


def find_calls(messages: Sequence[CapturedSip], recognition: Recognition) -> list[DeploymentCall]:
    """The calls in `messages` (a capture's SIP records, in capture order), sorted by start."""
    gateway = recognition.address_of(ASTERISK)
    legs, rest = _legs(messages)
    groups = _join(legs, gateway)
    spans = [(g[0].start, max(leg.end for leg in g), frozenset().union(*(leg.hosts for leg in g)))
             for g in groups]
    around: list[list[CapturedSip]] = [[] for _ in groups]
    registrations: dict[str, _Leg] = {}
    skype = recognition.address_of(SKYPE)
    for m in rest:
        i = _nearest(m, spans)
        if i is not None:
            around[i].append(m)
        elif (m.message is not None and m.method == "REGISTER" and gateway is not None
              and {m.src, m.dst} == {gateway, skype}):
            cid = m.msg.call_id or ""
            registrations.setdefault(cid, _Leg(cid, frozenset((m.src, m.dst)))).messages.append(m)
    calls = [_call(_flow(g, gateway, recognition), g, extra, recognition)
             for g, extra in zip(groups, around, strict=True)]
    calls += [_call("skype-registration", [leg], [], recognition)
              for leg in registrations.values()]
    return sorted(calls, key=lambda c: c.start)

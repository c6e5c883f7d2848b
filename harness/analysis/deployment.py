"""The suite's flow checks on any capture: one engine for ``harness check`` and the suite.

    from harness.analysis.deployment import check_capture, CaptureCheckError

    result = check_capture("call.pcap")                  # roles recognised, flows picked
    result = check_capture("call.pcap", roles={"10.0.0.5": "Mediation Server"},
                           flow="outbound")              # named roles win, flow forced
    for checked in result.calls:
        print(checked.call.flow, checked.verdict.report())
    result.ok                                            # every checked call passed

The capture is read, its hosts mapped to roles (``recognise``), its calls found
(``find_calls``) and each call checked by the suite's own check function for its flow, with
the tolerances of a deployment's capture (a capture started mid-call, one leg only: "not
checked", never a false failure). The suite runs the same path with ``deployment=False``:
its whole capture is one call of the flow it drove, and its verdicts are the strict ones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.analysis import skype_flow
from harness.analysis.calls import FLOWS, DeploymentCall, find_calls
from harness.analysis.lync_flow import check_lync_flow
from harness.analysis.recognise import ROLE_KEYS, Recognition, recognise, xmpp_servers
from harness.analysis.verdict import Verdict
from harness.analysis.xmpp_flow import AA, CONFNUM, CSRV, check_ivr
from harness.capture import Capture, CapturedSip, CaptureError, open_capture
from harness.media.find import rtp_streams
from harness.media.views import windowed
from harness.roles import ASTERISK, MEDIATION, SKYPE, SOFTPHONE, Roles
from harness.sip.message import Request

# The roles each flow's checks name: a call cannot be checked without them.
FLOW_ROLES: Mapping[str, tuple[str, ...]] = {
    "outbound": (ASTERISK, MEDIATION, SOFTPHONE),
    "inbound": (ASTERISK, MEDIATION, SOFTPHONE),
    "lync-to-skype": (ASTERISK, MEDIATION, SKYPE),
    "skype-to-lync": (ASTERISK, MEDIATION, SKYPE),
    "skype-registration": (ASTERISK, SKYPE),
    "gtalk-ivr": (ASTERISK, MEDIATION),
}
# What recognition looked for, said when a role is missing.
LOOKED_FOR: Mapping[str, str] = {
    MEDIATION: "no `Server: ...MediationServer`, no SIP over TCP to port 5068",
    ASTERISK: "no `User-Agent: Asterisk...`, no host talking SIP with the Mediation Server "
              "and others, no host answering REGISTER",
    SOFTPHONE: "no REGISTER to the gateway, no UDP peer of the gateway placing or answering "
               "calls",
    SKYPE: "no challenge with realm sip.skype.com, no REGISTER or INVITE for sip.skype.com",
}
# The IVR's destinations (the fixture's [globals]) -> the menu option that dials them.
IVR_OPTIONS: Mapping[str, str] = {AA: "1", CSRV: "3", CONFNUM: "5"}
_PHONE_NUMBER = re.compile(r"^\+?[0-9]+$")
# Requests outside any call: counted for the notes.
_DIALOG_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "PRACK", "UPDATE", "INFO",
                             "REFER"})


class CaptureCheckError(Exception):
    """The capture or the options cannot be used; the message (one line) names what and
    how to fix it."""


@dataclass(frozen=True)
class CheckedCall:
    call: DeploymentCall
    verdict: Verdict


@dataclass(frozen=True)
class CaptureCheck:
    path: Path | None
    recognition: Recognition
    calls: tuple[CheckedCall, ...]
    notes: tuple[str, ...]  # what the capture holds besides its calls, its read warnings

    @property
    def ok(self) -> bool:
        """Every checked call passed (a capture without a call is ok: nothing failed)."""
        return all(c.verdict.ok for c in self.calls)


def check_capture(capture: Capture | str | Path, roles: Mapping[str, str] | None = None,
                  flow: str = "auto", *, deployment: bool = True,
                  title: str | None = None, registered_contact: str | None = None,
                  ) -> CaptureCheck:
    """The verdict of every call in ``capture``.

    ``roles``: address -> role display name (``harness.roles``), winning over recognition.
    ``flow``: ``"auto"`` (each call's own) or a key of ``FLOWS``, forced for every call.
    ``deployment=False`` is the suite's strict mode: the whole capture is one call of
    ``flow`` (not ``"auto"``) and ``title`` names its verdict. ``registered_contact``: the
    Contact the gateway holds for the softphone (the Lync flows). Raises CaptureCheckError.
    """
    if flow != "auto" and flow not in FLOW_ROLES:
        raise CaptureCheckError(_unknown_flow(flow))
    if not deployment and flow == "auto":
        raise ValueError("check_capture(deployment=False) needs the flow the suite drove")
    if not isinstance(capture, Capture):
        try:
            capture = open_capture(capture)
        except CaptureError as exc:
            raise CaptureCheckError(
                f"{exc.path or capture}: {exc.reason}: give a pcap or pcapng file "
                "(e.g. from `tcpdump -i any -w call.pcap` on the gateway)") from None
    path = Path(capture.path)
    messages = capture.sip_messages()
    recognition = recognise(messages, roles, xmpp_hosts=xmpp_servers(capture))
    notes = [f"capture: {w}" for w in capture.warnings]
    if not deployment:
        calls = [whole_capture_call(messages, recognition.roles, flow)]
    else:
        calls = _deployment_calls(messages, recognition, flow, path)
    for call in calls:
        _require_roles(call, recognition, path, strict=not deployment)
    known = [c for c in calls if c.flow in FLOW_ROLES]
    notes += [_unknown_call_note(c) for c in calls if c.flow not in FLOW_ROLES]
    checked = tuple(CheckedCall(c, check_call(c, _media_of(capture, known, i, deployment),
                                              recognition.roles, deployment=deployment,
                                              title=title,
                                              registered_contact=registered_contact))
                    for i, c in enumerate(known))
    traffic = _traffic_note(messages, bool(checked)) if deployment else None
    if traffic:
        notes.append(traffic)
    return CaptureCheck(path, recognition, checked, tuple(notes))


def _deployment_calls(messages: Sequence[CapturedSip], recognition: Recognition, flow: str,
                      path: Path) -> list[DeploymentCall]:
    calls = find_calls(messages, recognition)
    if flow == "auto":
        if any(c.flow not in FLOW_ROLES for c in calls) or (not calls and _has_invite(messages)):
            # INVITEs, but no call in a known flow: a role the flows need may be unknown.
            for role in (ASTERISK, MEDIATION):
                _require_role(role, recognition, path)
        return calls
    calls = [replace(c, flow=flow) for c in calls]
    registers = flow == "skype-registration" and any(
        isinstance(m.message, Request) and m.message.method == "REGISTER" for m in messages)
    if not calls and (_has_invite(messages) or registers):
        # The user named the flow: check the capture's dialogs as that flow's one call.
        calls = [whole_capture_call(messages, recognition.roles, flow)]
    return calls


def check_call(call: DeploymentCall, capture: Capture, roles: Roles, *, deployment: bool = True,
               title: str | None = None, registered_contact: str | None = None) -> Verdict:
    """One call checked by the suite's check function of its flow (``call.flow``), with
    the flow's parameters read from the call. ``title``: the verdict's flow name (default:
    the suite's name of the flow)."""
    key, msgs, path = call.flow, call.messages, Path(capture.path)
    named = [m.with_roles(roles) for m in msgs if m.message is not None]
    if key in ("outbound", "inbound"):
        return check_lync_flow(msgs, capture, roles, path, key, title or FLOWS[key],
                               deployment=deployment, registered_contact=registered_contact)
    if key == "lync-to-skype":
        dialled = call.number or _invite_user(named, MEDIATION, ASTERISK) or "?"
        target = _invite_user(named, ASTERISK, SKYPE) or "?"
        name = title or f"Lync dials {dialled.lstrip('+')} (Skype)"
        # A phone number goes out through the Skype for SIP profile; a Skype name (echo123)
        # through Skype for Asterisk, which has no profile, challenge or E.164 rule.
        return skype_flow.check_lync_to_skype(msgs, capture, roles, path, name, dialled, target,
                                              bool(_PHONE_NUMBER.match(target)),
                                              deployment=deployment)
    if key == "skype-to-lync":
        caller = _first_invite(named, SKYPE, ASTERISK)
        from_value = caller.msg.headers.get("From") or "" if caller is not None else ""
        return skype_flow.check_skype_to_lync(msgs, capture, roles, path, title or FLOWS[key],
                                              "anonymous" in from_value.lower(),
                                              deployment=deployment)
    if key == "skype-registration":
        granted = granted_expiry(named)
        return skype_flow.check_registration(msgs, roles, path, granted_s=granted or 0,
                                             flow=title or FLOWS[key], deployment=deployment)
    if key == "gtalk-ivr":
        return _check_ivr(call, named, capture, roles, path, title, deployment)
    raise CaptureCheckError(_unknown_flow(key))


def _check_ivr(call: DeploymentCall, named: Sequence[CapturedSip], capture: Capture,
               roles: Roles, path: Path, title: str | None, deployment: bool) -> Verdict:
    """The IVR's trunk call: the option from the number it dialled, the caller name from
    its From (the chat that chose them is not in a capture)."""
    invite = _first_invite(named, ASTERISK, MEDIATION)
    number = _ruri_user(invite) if invite is not None else call.number
    option = IVR_OPTIONS.get(number or "", "2")
    name = ""
    if invite is not None and invite.message is not None:
        addr = invite.message.from_addr
        name = (addr.display or "") if addr is not None else ""
    # The conference id the user typed is not in the capture: the digits sent are checked
    # against RFC 4733 and the answer time, not against a given id.
    confid = _dtmf_digits(capture, invite) if option == "5" else ""
    return check_ivr(None, call.messages, capture, roles, path,
                     title or f"Google Talk IVR, option {option}", option, name,
                     number or "", confid, deployment=deployment)


def whole_capture_call(messages: Sequence[CapturedSip], roles: Roles,
                       flow: str) -> DeploymentCall:
    """Every SIP message of the capture as one call of ``flow`` (the suite's captures hold
    the one call it drove)."""
    named = [m.with_roles(roles) for m in messages]
    parsed = [m for m in named if m.message is not None]
    invites = [m for m in parsed if m.is_request and m.method == "INVITE"]
    call_ids = tuple(dict.fromkeys(m.msg.call_id or "" for m in invites))
    legs = tuple(dict.fromkeys((m.sender, m.receiver) for m in invites
                               if m.message is not None and m.message.to_tag is None))
    times = [m.time for m in named]
    return DeploymentCall(
        flow=flow, messages=tuple(named), call_ids=call_ids, legs_seen=legs,
        number=_ruri_user(invites[0]) if invites else None,
        start=min(times, default=0.0), end=max(times, default=0.0),
        starts_mid_dialog=False)


def granted_expiry(named: Sequence[CapturedSip]) -> int | None:
    """The expiry Skype granted: the first 200 OK to a REGISTER that binds (not Expires: 0),
    from its Contact's expires or its Expires header."""
    removing = {m.cseq for m in named if m.is_request and m.method == "REGISTER"
                and (m.msg.headers.get("Expires") or "").strip() == "0"}
    for m in named:
        if (m.is_request or m.method != "REGISTER" or m.sender != SKYPE
                or getattr(m.message, "status", 0) != 200 or m.cseq in removing):
            continue
        contact = m.msg.headers.get("Contact") or ""
        found = re.search(r"expires=(\d+)", contact) or re.search(
            r"(\d+)", m.msg.headers.get("Expires") or "")
        if found:
            return int(found.group(1))
    return None


def missing_role_message(role: str, path: Path | None) -> str:
    key = next((k for k, name in ROLE_KEYS.items() if name == role), role.lower())
    where = f" in {path}" if path is not None else ""
    looked = f" ({LOOKED_FOR[role]})" if role in LOOKED_FOR else ""
    return f"no {role} found{where}{looked}: name it with --roles {key}=ADDRESS"


def _require_roles(call: DeploymentCall, recognition: Recognition, path: Path | None, *,
                   strict: bool) -> None:
    """The roles the call's flow names must be known. In a deployment's capture a role
    may be missing when no host of the call is left unnamed: that leg was not captured
    (its checks say so); a host with no role means the role is there but not recognised."""
    named = recognition.roles.by_address
    unnamed = any(m.src not in named or m.dst not in named for m in call.messages
                  if m.message is not None)
    for role in FLOW_ROLES.get(call.flow, ()):
        if strict or unnamed or role in (ASTERISK, MEDIATION):
            _require_role(role, recognition, path)


def _media_of(capture: Capture, calls: Sequence[DeploymentCall], index: int,
              deployment: bool) -> Capture:
    """A deployment call's media: the streams that start between its first message and
    the next call's (a capture of many calls between the same hosts)."""
    if not deployment or len(calls) < 2:
        return capture
    # From the call's first dialog message, not from REGISTER/OPTIONS read with it.
    starts = [_dialog_start(c) for c in calls]
    start = starts[index]
    later = [t for t in starts if t > start]
    return windowed(capture, start, min(later, default=float("inf")))


def _dialog_start(call: DeploymentCall) -> float:
    return min((m.time for m in call.messages
                if m.message is not None and m.method in _DIALOG_METHODS), default=call.start)


def _require_role(role: str, recognition: Recognition, path: Path | None) -> None:
    if recognition.address_of(role) is None:
        raise CaptureCheckError(missing_role_message(role, path))


def _has_invite(messages: Sequence[CapturedSip]) -> bool:
    return any(isinstance(m.message, Request) and m.message.method == "INVITE"
               for m in messages)


def _unknown_flow(flow: str) -> str:
    return f"unknown flow {flow!r}: use one of auto, {', '.join(FLOW_ROLES)}"


def _unknown_call_note(call: DeploymentCall) -> str:
    legs = ", ".join(f"{a} <-> {b}" for a, b in call.legs_seen) or "no leg"
    number = f" to {call.number}" if call.number else ""
    return (f"a call{number} ({legs}) follows none of the flows the harness checks: "
            "not checked (name its flow with --flow)")


def _traffic_note(messages: Sequence[CapturedSip], has_calls: bool) -> str | None:
    """What the capture holds outside its calls, e.g. "3 REGISTER transactions, no call"."""
    if not messages:
        return "no SIP messages in the capture" + ("" if has_calls else ": no call")
    seen: Counter[str] = Counter()
    keys: set[tuple[str | None, int, str]] = set()
    for m in messages:
        msg = m.message
        if not isinstance(msg, Request) or msg.method in _DIALOG_METHODS:
            continue
        key = (msg.call_id, msg.cseq[0], msg.method)
        if key not in keys:  # retransmissions once
            keys.add(key)
            seen[msg.method] += 1
    parts = [f"{n} {method} transaction{'s' if n != 1 else ''}"
             for method, n in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))]
    if not has_calls:
        invites = sum(1 for m in messages if isinstance(m.message, Request)
                      and m.message.method == "INVITE")
        parts.append("no call" if not invites else
                     f"no call in a flow the harness checks ({invites} INVITE requests)")
    if not parts:
        return None
    return ", ".join(parts) if not has_calls else "the capture also holds " + ", ".join(parts)


def _first_invite(named: Sequence[CapturedSip], sender: str,
                  receiver: str) -> CapturedSip | None:
    return next((m for m in named if isinstance(m.message, Request)
                 and m.message.method == "INVITE" and m.message.to_tag is None
                 and (m.sender, m.receiver) == (sender, receiver)), None)


def _ruri_user(m: CapturedSip) -> str | None:
    msg = m.message
    if not isinstance(msg, Request):
        return None
    try:
        return msg.sip_uri.user
    except ValueError:
        return None


def _invite_user(named: Sequence[CapturedSip], sender: str, receiver: str) -> str | None:
    invite = _first_invite(named, sender, receiver)
    return _ruri_user(invite) if invite is not None else None


def _dtmf_digits(capture: Capture, invite: CapturedSip | None) -> str:
    if invite is None:
        return ""
    streams = [s for s in rtp_streams(capture) if (s.src, s.dst) == (invite.src, invite.dst)]
    events = sorted((e for s in streams for e in s.dtmf_events()), key=lambda e: e.start_time)
    return "".join(e.digit for e in events)

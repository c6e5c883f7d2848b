"""The Jingle exchange of one call, judged from its XMPP stanzas: XEP-0166 session
management, XEP-0167 RTP descriptions and XEP-0176 ICE-UDP transports. Sans I/O.

The stanzas come from wherever they were seen (``StanzaLike``: time, src, dst and the
top-level element): the flows read the Google Talk user's c2s stream from the capture
(``harness.flows.gtalk_session.user_stanzas`` over ``harness.capture.xmpp``), never the
bot's own record, so the checks do not trust the code they judge. Who sent a stanza is
its ``from`` attribute, else its ``src``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.analysis.verdict import Verdict

JINGLE = "urn:xmpp:jingle:1"
RTP = "urn:xmpp:jingle:apps:rtp:1"
RTP_INFO = "urn:xmpp:jingle:apps:rtp:info:1"
ICE_UDP = "urn:xmpp:jingle:transports:ice-udp:1"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
JINGLE_LEG = "Jingle (XMPP)"
STEP = "jingle"
#: What the seed's [guest]/[account] allow (disallow=all, allow=ulaw), with the RFC 4733
#: events every RTP offer of the topology carries (name, clock rate), in order.
SEED_PAYLOADS = (("PCMU", 8000), ("telephone-event", 8000))
#: Candidate attributes XEP-0176 5.2 requires.
CANDIDATE_ATTRS = ("component", "foundation", "generation", "id", "ip", "port", "priority",
                   "protocol", "type")


class StanzaLike(Protocol):
    """A top-level XMPP stanza as seen somewhere: harness.capture.xmpp.XmppStanza's shape."""

    @property
    def time(self) -> float: ...
    @property
    def src(self) -> str: ...
    @property
    def dst(self) -> str: ...
    @property
    def element(self) -> ET.Element: ...


@dataclass(frozen=True)
class Stanza:
    time: float
    src: str
    dst: str
    element: ET.Element


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def bare(jid: str | None) -> str:
    return (jid or "").split("/", 1)[0]


@dataclass
class JingleAction:
    """One ``<iq type='set'><jingle/></iq>`` and the IQ that answered it."""

    time: float
    sender: str  # full JID
    receiver: str
    iq_id: str
    jingle: ET.Element
    ack: str | None = None  # result or error
    ack_time: float | None = None
    ack_condition: str | None = None

    @property
    def action(self) -> str:
        return self.jingle.get("action") or ""

    @property
    def sid(self) -> str:
        return self.jingle.get("sid") or ""

    def payloads(self) -> list[tuple[str, int, int]]:
        """(name, clock rate, id) of the RTP description's payload types."""
        out = []
        for pt in self.jingle.iter(f"{{{RTP}}}payload-type"):
            try:
                out.append((pt.get("name") or "", int(pt.get("clockrate") or 0),
                            int(pt.get("id") or -1)))
            except ValueError:
                out.append((pt.get("name") or "", -1, -1))
        return out

    def transports(self) -> list[ET.Element]:
        return list(self.jingle.iter(f"{{{ICE_UDP}}}transport"))

    def reason(self) -> str | None:
        r = self.jingle.find(f"{{{JINGLE}}}reason")
        if r is None:
            return None
        return next((local(c.tag) for c in r if local(c.tag) != "text"), None)


def jingle_actions(stanzas: Iterable[StanzaLike]) -> list[JingleAction]:
    """The Jingle IQs in time order, each with its answer (matched by IQ id, RFC 6120
    8.2.3: a result or error from the receiver)."""
    actions: list[JingleAction] = []
    by_id: dict[str, JingleAction] = {}
    for st in sorted(stanzas, key=lambda s: s.time):
        el = st.element
        if local(el.tag) != "iq":
            continue
        iq_id, iq_type = el.get("id") or "", el.get("type")
        jingle = el.find(f"{{{JINGLE}}}jingle")
        if iq_type == "set" and jingle is not None:
            a = JingleAction(st.time, el.get("from") or st.src, el.get("to") or st.dst, iq_id,
                             jingle)
            actions.append(a)
            by_id[iq_id] = a
        elif iq_type in ("result", "error") and iq_id in by_id and by_id[iq_id].ack is None:
            a = by_id[iq_id]
            a.ack, a.ack_time = iq_type, st.time
            if iq_type == "error":
                err = el.find("{*}error")
                a.ack_condition = next((local(c.tag) for c in err or []
                                        if c.tag.startswith(f"{{{STANZAS}}}")), "error")
    return actions


@dataclass
class JingleSession:
    """What the checks found out about the session, for the ICE and RTP checks."""

    sid: str | None = None
    initiator: str | None = None  # role name
    initiated: float | None = None
    accepted: float | None = None
    terminated: float | None = None
    # role -> (ufrag, pwd, [(component, ip, port)])
    transports: dict[str, tuple[str, str, list[tuple[int, str, int]]]] = field(
        default_factory=dict)


def check_jingle(v: Verdict, actions: Sequence[JingleAction], roles: Mapping[str, str], *,
                 initiator: str, outcome: str, terminated_by: str | None,
                 reason: str | None, addresses: Mapping[str, str] | None = None
                 ) -> JingleSession:
    """``roles``: bare JID -> role name. ``outcome``: answered, declined, unanswered or
    none (no session may start: the callee cannot be reached). ``terminated_by``/``reason``:
    who ends the session and with which XEP-0166 7.4 reason (None: not checked).
    ``addresses``: role -> the one address its candidates may carry."""
    out = JingleSession()
    initiates = [a for a in actions if a.action == "session-initiate"]
    if outcome == "none":
        v.check(STEP, JINGLE_LEG, "no session-initiate", not initiates,
                "none: the callee has no resource that speaks Jingle",
                f"{len(initiates)} sent" if initiates else "none")
        return out
    if not v.check(STEP, JINGLE_LEG, "session-initiate", bool(initiates),
                   f"from {initiator} (XEP-0166 6.2)", f"{len(initiates)} seen"):
        return out
    init = initiates[0]
    out.sid, out.initiated = init.sid, init.time
    out.initiator = roles.get(bare(init.sender), init.sender)
    mine = [a for a in actions if a.sid == init.sid]
    v.equal(STEP, JINGLE_LEG, "session-initiate sender", initiator, out.initiator)
    v.check(STEP, JINGLE_LEG, "session-initiate attributes",
            bool(init.sid) and init.jingle.get("initiator") == init.sender,
            "a sid and initiator= the sender's full JID (XEP-0166 7.1)",
            f"sid={init.sid!r} initiator={init.jingle.get('initiator')!r}")
    _acks(v, mine, roles)
    _offer(v, init)
    _transports(v, mine, roles, out)
    accepts = [a for a in mine if a.action == "session-accept"]
    terms = [a for a in mine if a.action == "session-terminate"]
    if outcome == "answered":
        if v.check(STEP, JINGLE_LEG, "session-accept", bool(accepts),
                   "from the responder (XEP-0166 6.5)", f"{len(accepts)} seen"):
            acc = accepts[0]
            out.accepted = acc.time
            v.check(STEP, JINGLE_LEG, "session-accept sender", bare(acc.sender) != bare(
                init.sender), "the responder, not the initiator",
                roles.get(bare(acc.sender), acc.sender))
            _answer(v, init, acc)
            _credentials(v, out, sorted({roles.get(bare(init.sender), init.sender),
                                         roles.get(bare(acc.sender), acc.sender)}),
                         addresses or {})
    else:
        v.check(STEP, JINGLE_LEG, "no session-accept", not accepts,
                f"none ({outcome})", f"{len(accepts)} seen")
    if terms:
        out.terminated = terms[0].time
    if terminated_by is not None:
        if v.check(STEP, JINGLE_LEG, "session-terminate", bool(terms),
                   f"from {terminated_by} (XEP-0166 6.7)", f"{len(terms)} seen"):
            t = terms[0]
            v.equal(STEP, JINGLE_LEG, "session-terminate sender", terminated_by,
                    roles.get(bare(t.sender), t.sender))
            if reason is not None:
                v.equal(STEP, JINGLE_LEG, "session-terminate reason (XEP-0166 7.4)", reason,
                        t.reason())
            # The terminator's later actions, and the other party's sent after it
            # acknowledged the terminate (before that, they may have crossed it).
            seen = t.ack_time if t.ack_time is not None else t.time
            after = [a for a in mine if a is not t and (
                a.time > seen if bare(a.sender) != bare(t.sender) else a.time > t.time)]
            v.check(STEP, JINGLE_LEG, "nothing after session-terminate", not after,
                    "no further action on the session once it is acknowledged (XEP-0166 6.7)",
                    ", ".join(a.action for a in after) or "none")
    elif outcome == "unanswered":
        v.check(STEP, JINGLE_LEG, "ringing", any(
            a.action == "session-info" and a.jingle.find(f"{{{RTP_INFO}}}ringing") is not None
            for a in mine), "session-info <ringing/> from the callee (XEP-0167 7)",
            "seen" if any(a.action == "session-info" for a in mine) else "none")
    return out


def _acks(v: Verdict, mine: Sequence[JingleAction], roles: Mapping[str, str]) -> None:
    bad = [a for a in mine if a.ack != "result"]
    v.check(STEP, JINGLE_LEG, "IQ results", not bad,
            "every Jingle action acknowledged with an IQ result (XEP-0166 7.2)",
            "all acknowledged" if not bad else "; ".join(
                f"{a.action} from {roles.get(bare(a.sender), a.sender)}: "
                f"{a.ack or 'no answer'}{' ' + a.ack_condition if a.ack_condition else ''}"
                for a in bad))


def _offer(v: Verdict, init: JingleAction) -> None:
    contents = init.jingle.findall(f"{{{JINGLE}}}content")
    descs = [c.find(f"{{{RTP}}}description") for c in contents]
    media = [d.get("media") if d is not None else None for d in descs]
    v.equal(STEP, JINGLE_LEG, "session-initiate content", ["audio"], media)
    names = [c.get("name") for c in contents]
    v.check(STEP, JINGLE_LEG, "content name", all(names), "a name on every content "
            "(XEP-0166 7.3)", names)
    offered = [(n, r) for n, r, _ in init.payloads()]
    v.equal(STEP, JINGLE_LEG, "offered payload types", list(SEED_PAYLOADS), offered)
    ids = {n: i for n, _, i in init.payloads()}
    v.check(STEP, JINGLE_LEG, "PCMU payload id", ids.get("PCMU") == 0,
            "0, PCMU's static type (RFC 3551 6)", ids.get("PCMU"))


def _answer(v: Verdict, init: JingleAction, acc: JingleAction) -> None:
    offered = {(n, r, i) for n, r, i in init.payloads()}
    answered = acc.payloads()
    v.check(STEP, JINGLE_LEG, "answered payload types",
            bool(answered) and all(p in offered for p in answered)
            and any(n == "PCMU" for n, _, _ in answered),
            "PCMU, and only types of the offer (XEP-0167 6.2)",
            ", ".join(f"{i} {n}/{r}" for n, r, i in answered) or "none")
    names = [c.get("name") for c in acc.jingle.findall(f"{{{JINGLE}}}content")]
    offered_names = [c.get("name") for c in init.jingle.findall(f"{{{JINGLE}}}content")]
    v.equal(STEP, JINGLE_LEG, "session-accept content name (XEP-0166 7.3)", offered_names,
            names)


def _transports(v: Verdict, mine: Sequence[JingleAction], roles: Mapping[str, str],
                out: JingleSession) -> None:
    """Each side's ICE-UDP credentials and candidates, from any of its actions."""
    for a in mine:
        role = roles.get(bare(a.sender), a.sender)
        for t in a.transports():
            ufrag, pwd, cands = out.transports.get(role, ("", "", []))
            ufrag, pwd = t.get("ufrag") or ufrag, t.get("pwd") or pwd
            for c in t.findall(f"{{{ICE_UDP}}}candidate"):
                missing = [n for n in CANDIDATE_ATTRS if not c.get(n)]
                if missing:
                    v.check(STEP, JINGLE_LEG, f"{role} candidate", False,
                            "every attribute XEP-0176 5.2 requires",
                            f"missing {', '.join(missing)}")
                    continue
                cands.append((int(c.get("component") or 0), c.get("ip") or "",
                              int(c.get("port") or 0)))
            out.transports[role] = (ufrag, pwd, cands)


def _credentials(v: Verdict, out: JingleSession, parties: Iterable[str],
                 addresses: Mapping[str, str]) -> None:
    """Each party of an answered session gave ICE credentials and candidates for RTP and
    RTCP, at the address the topology gives it."""
    for role in parties:
        ufrag, pwd, cands = out.transports.get(role, ("", "", []))
        v.check(STEP, JINGLE_LEG, f"{role} ICE credentials", len(ufrag) >= 4 and len(pwd) >= 22,
                "ufrag of 4 or more characters, pwd of 22 or more (XEP-0176 5.1, RFC 8445 "
                "5.3)", f"ufrag {len(ufrag)}, pwd {len(pwd)} characters")
        comps = sorted({c for c, _, _ in cands})
        v.equal(STEP, JINGLE_LEG, f"{role} candidate components (XEP-0176 5.2)", [1, 2], comps)
        if role in addresses:
            ips = sorted({ip for _, ip, _ in cands})
            v.equal(STEP, JINGLE_LEG, f"{role} candidate addresses", [addresses[role]], ips)

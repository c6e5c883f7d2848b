"""Jingle on the wire, sans I/O: the ``<jingle/>`` element of XEP-0166 session management
with XEP-0167 RTP descriptions and XEP-0176 ICE-UDP transports, built and parsed as
``xml.etree.ElementTree`` elements (slixmpp's stanzas are ElementTree underneath; a
capture's stanzas parse the same way). No sockets, no clock.

Only what the seed's calls need: one audio content, payload types, ICE candidates, the
session-info ``<ringing/>``, and a session-terminate's reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

JINGLE_NS = "urn:xmpp:jingle:1"  # XEP-0166
RTP_NS = "urn:xmpp:jingle:apps:rtp:1"  # XEP-0167
RTP_INFO_NS = "urn:xmpp:jingle:apps:rtp:info:1"  # XEP-0167 section 7 (session-info)
ICE_UDP_NS = "urn:xmpp:jingle:transports:ice-udp:1"  # XEP-0176
ERRORS_NS = "urn:xmpp:jingle:errors:1"  # XEP-0166 section 10
#: What a client that speaks Jingle audio over ICE-UDP says in disco#info (XEP-0030),
#: as XEP-0166 section 11, XEP-0167 section 11 and XEP-0176 section 14 ask.
FEATURES = (JINGLE_NS, RTP_NS, f"{RTP_NS[:-2]}:audio", ICE_UDP_NS)

#: XEP-0166 section 7.2: the actions this module knows.
ACTIONS = (
    "content-accept", "content-add", "content-modify", "content-reject", "content-remove",
    "description-info", "security-info", "session-accept", "session-info",
    "session-initiate", "session-terminate", "transport-accept", "transport-info",
    "transport-reject", "transport-replace",
)
#: XEP-0166 section 7.4: the reasons a session-terminate may give.
REASONS = (
    "alternative-session", "busy", "cancel", "connectivity-error", "decline", "expired",
    "failed-application", "failed-transport", "general-error", "gone",
    "incompatible-parameters", "media-error", "security-error", "success", "timeout",
    "unsupported-applications", "unsupported-transports",
)


class JingleError(ValueError):
    """A ``<jingle/>`` element this module cannot read; ``str()`` names what is wrong."""


def q(ns: str, name: str) -> str:
    """ElementTree's qualified name."""
    return f"{{{ns}}}{name}"


@dataclass(frozen=True)
class PayloadType:
    """XEP-0167 section 5: ``<payload-type id name clockrate channels/>``."""

    id: int
    name: str
    clockrate: int = 8000
    channels: int = 1

    def describe(self) -> str:
        return f"{self.id} {self.name}/{self.clockrate}"


#: The seed's only codec ([guest] and [account]: disallow=all, allow=ulaw): RFC 3551's PCMU.
PCMU = PayloadType(0, "PCMU", 8000, 1)
#: RFC 4733 events beside it, as every SIP side of the topology offers them (0 101): what
#: allow=ulaw gives a call in Asterisk, which adds telephone-event 101 to every RTP offer.
TELEPHONE_EVENT = PayloadType(101, "telephone-event", 8000, 1)
#: What the Google Talk user offers and accepts.
AUDIO = (PCMU, TELEPHONE_EVENT)


@dataclass(frozen=True)
class Candidate:
    """XEP-0176 section 5.2: one ``<candidate/>`` (all the attributes it requires)."""

    component: int
    foundation: str
    ip: str
    port: int
    priority: int
    type: str = "host"
    protocol: str = "udp"
    generation: int = 0
    id: str = ""
    network: int = 0

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class Transport:
    """XEP-0176 section 5.1: ``<transport ufrag pwd>`` and its candidates (none in
    chan_motif's session-initiate and session-accept: its candidates come in a
    transport-info)."""

    ufrag: str | None = None
    pwd: str | None = None
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class Content:
    """XEP-0166 section 7.3: one ``<content/>`` with an RTP description and an ICE-UDP
    transport (either may be absent, as in a transport-info)."""

    name: str
    creator: str = "initiator"
    media: str | None = None
    payloads: tuple[PayloadType, ...] = ()
    transport: Transport | None = None
    transport_ns: str | None = None  # the transport's namespace as received


@dataclass(frozen=True)
class Jingle:
    """One ``<jingle/>`` element, read."""

    action: str
    sid: str
    initiator: str | None = None
    responder: str | None = None
    contents: tuple[Content, ...] = ()
    reason: str | None = None  # session-terminate's condition (XEP-0166 section 7.4)
    reason_text: str | None = None
    info: tuple[str, ...] = field(default=())  # session-info payloads, e.g. ("ringing",)

    @property
    def payloads(self) -> tuple[PayloadType, ...]:
        return tuple(p for c in self.contents for p in c.payloads)

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return tuple(x for c in self.contents if c.transport for x in c.transport.candidates)

    @property
    def transport(self) -> Transport | None:
        """The first content's ICE-UDP transport, if any."""
        return next((c.transport for c in self.contents if c.transport is not None), None)


# -- building ------------------------------------------------------------------------------


def jingle_element(action: str, sid: str, *, initiator: str | None = None,
                   responder: str | None = None, contents: Sequence[Content] = (),
                   reason: str | None = None, info: str | None = None) -> ET.Element:
    """The ``<jingle/>`` child of an ``<iq type='set'>`` (XEP-0166 section 7.1)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown Jingle action {action!r} (XEP-0166 7.2: one of {ACTIONS})")
    if reason is not None and reason not in REASONS:
        raise ValueError(f"unknown Jingle reason {reason!r} (XEP-0166 7.4: one of {REASONS})")
    el = ET.Element(q(JINGLE_NS, "jingle"), {"action": action, "sid": sid})
    if initiator:
        el.set("initiator", initiator)
    if responder:
        el.set("responder", responder)
    for content in contents:
        el.append(content_element(content))
    if reason is not None:
        r = ET.SubElement(el, q(JINGLE_NS, "reason"))
        ET.SubElement(r, q(JINGLE_NS, reason))
    if info is not None:
        ET.SubElement(el, q(RTP_INFO_NS, info))
    return el


def content_element(content: Content) -> ET.Element:
    el = ET.Element(q(JINGLE_NS, "content"), {"creator": content.creator, "name": content.name})
    if content.media is not None:
        desc = ET.SubElement(el, q(RTP_NS, "description"), {"media": content.media})
        for p in content.payloads:
            ET.SubElement(desc, q(RTP_NS, "payload-type"), {
                "id": str(p.id), "name": p.name, "clockrate": str(p.clockrate),
                "channels": str(p.channels)})
    if content.transport is not None:
        t = content.transport
        attrs = {k: v for k, v in (("ufrag", t.ufrag), ("pwd", t.pwd)) if v is not None}
        tr = ET.SubElement(el, q(ICE_UDP_NS, "transport"), attrs)
        for c in t.candidates:
            ET.SubElement(tr, q(ICE_UDP_NS, "candidate"), {
                "component": str(c.component), "foundation": c.foundation,
                "generation": str(c.generation), "id": c.id or f"c{c.component}{c.port}",
                "ip": c.ip, "network": str(c.network), "port": str(c.port),
                "priority": str(c.priority), "protocol": c.protocol, "type": c.type})
    return el


def audio_content(payloads: Iterable[PayloadType], transport: Transport | None,
                  creator: str = "initiator", name: str = "audio") -> Content:
    """The one audio content of the seed's calls."""
    return Content(name, creator, "audio", tuple(payloads), transport)


# -- parsing -------------------------------------------------------------------------------


def find_jingle(stanza: ET.Element) -> ET.Element | None:
    """The ``<jingle/>`` child of an ``<iq/>``, if it has one."""
    return stanza.find(q(JINGLE_NS, "jingle"))


def parse_jingle(el: ET.Element) -> Jingle:
    """Reads a ``<jingle/>`` element; JingleError when it lacks what XEP-0166 requires."""
    if el.tag != q(JINGLE_NS, "jingle"):
        raise JingleError(f"not a Jingle element: {el.tag} (expected {{{JINGLE_NS}}}jingle)")
    action, sid = el.get("action"), el.get("sid")
    if not action:
        raise JingleError("<jingle/> without the action attribute XEP-0166 7.1 requires")
    if not sid:
        raise JingleError(f"<jingle action='{action}'/> without the sid XEP-0166 7.1 requires")
    contents = tuple(_content(c) for c in el.findall(q(JINGLE_NS, "content")))
    reason = reason_text = None
    r = el.find(q(JINGLE_NS, "reason"))
    if r is not None:
        for child in r:
            if child.tag == q(JINGLE_NS, "text"):
                reason_text = child.text
            elif child.tag.startswith(f"{{{JINGLE_NS}}}"):
                reason = child.tag.split("}", 1)[1]
    info = tuple(c.tag.split("}", 1)[1] for c in el if c.tag.startswith(f"{{{RTP_INFO_NS}}}"))
    return Jingle(action, sid, el.get("initiator"), el.get("responder"), contents, reason,
                  reason_text, info)


def _content(el: ET.Element) -> Content:
    name = el.get("name")
    if not name:
        raise JingleError("<content/> without the name XEP-0166 7.3 requires")
    media = None
    payloads: list[PayloadType] = []
    desc = el.find(q(RTP_NS, "description"))
    if desc is not None:
        media = desc.get("media")
        for p in desc.findall(q(RTP_NS, "payload-type")):
            payloads.append(_payload(p))
    transport = None
    transport_ns = None
    for child in el:
        if child.tag.endswith("}transport"):
            transport_ns = child.tag[1:].split("}", 1)[0]
            if transport_ns == ICE_UDP_NS:
                transport = Transport(child.get("ufrag"), child.get("pwd"), tuple(
                    _candidate(c) for c in child.findall(q(ICE_UDP_NS, "candidate"))))
    return Content(name, el.get("creator") or "initiator", media, tuple(payloads), transport,
                   transport_ns)


def _int(el: ET.Element, name: str, what: str, default: int | None = None) -> int:
    raw = el.get(name)
    if raw is None:
        if default is not None:
            return default
        raise JingleError(f"{what} without the {name} attribute")
    try:
        return int(raw)
    except ValueError:
        raise JingleError(f"{what}: {name}={raw!r} is not a number") from None


def _payload(el: ET.Element) -> PayloadType:
    pid = _int(el, "id", "<payload-type/> (XEP-0167 5)")
    return PayloadType(pid, el.get("name") or "", _int(el, "clockrate", "<payload-type/>", 8000),
                       _int(el, "channels", "<payload-type/>", 1))


def _candidate(el: ET.Element) -> Candidate:
    what = "<candidate/> (XEP-0176 5.2)"
    for name in ("foundation", "ip", "protocol", "type"):
        if not el.get(name):
            raise JingleError(f"{what} without the {name} attribute")
    return Candidate(_int(el, "component", what), el.get("foundation") or "", el.get("ip") or "",
                     _int(el, "port", what), _int(el, "priority", what), el.get("type") or "",
                     el.get("protocol") or "", _int(el, "generation", what, 0), el.get("id") or "",
                     _int(el, "network", what, 0))


# -- negotiation ---------------------------------------------------------------------------


def common_payloads(offered: Iterable[PayloadType],
                    ours: Iterable[PayloadType]) -> tuple[PayloadType, ...]:
    """The offered payload types we also support, in the offer's order (XEP-0167 6.2: the
    responder answers with a subset), matched by name and clock rate, with the offer's id."""
    wanted = {(p.name.upper(), p.clockrate) for p in ours}
    return tuple(p for p in offered if (p.name.upper(), p.clockrate) in wanted)

"""The Google Talk user's phone, on the loop: Jingle sessions (XEP-0166) over the slixmpp
client, with an RTP description (XEP-0167: PCMU, as the seed's [guest] allow=ulaw, and
RFC 4733 events) and an ICE-UDP transport (XEP-0176) whose media ``harness.gtalk.media``
carries.

slixmpp has no Jingle plugin: ``<iq type='set'><jingle xmlns='urn:xmpp:jingle:1'/></iq>``
is handled here, acknowledged at once (XEP-0166 7.2: every action gets an IQ result) and
then acted on. How incoming calls are met is ``Answering``: answer (after ringing),
decline, or ring and never answer.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from harness.gtalk.errors import GtalkError, GtalkTimeout
from harness.gtalk.jingle import (
    AUDIO,
    ERRORS_NS,
    FEATURES,
    JINGLE_NS,
    Content,
    Jingle,
    JingleError,
    PayloadType,
    Transport,
    audio_content,
    common_payloads,
    find_jingle,
    jingle_element,
    parse_jingle,
)
from harness.gtalk.media import CallMedia

Mode = Literal["answer", "decline", "ring"]
STANZAS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"


@dataclass(frozen=True)
class Answering:
    """How the user meets an incoming session: ``answer`` (session-info ringing, then
    session-accept after ``ring_s``), ``decline`` (session-terminate with <decline/>), or
    ``ring`` (ringing only, until the caller gives up)."""

    mode: Mode = "answer"
    ring_s: float = 0.3

    def __post_init__(self) -> None:
        if self.mode not in ("answer", "decline", "ring"):
            raise ValueError(f"unknown answering mode {self.mode!r}: answer, decline or ring")


@dataclass
class JingleCall:
    """One Jingle session as this user saw it: times are wall clock (``time.time()``)."""

    sid: str
    direction: Literal["outgoing", "incoming"]
    peer: str  # the other party's full JID
    initiated: float
    offered: tuple[PayloadType, ...] = ()  # the session-initiate's payload types
    answered_with: tuple[PayloadType, ...] = ()  # the session-accept's
    local: Transport | None = None
    remote_candidates: list[Any] = field(default_factory=list)
    # transports the peer sent before our media existed (a transport-info while ringing)
    pending: list[Transport] = field(default_factory=list)
    ringing: float | None = None
    accepted: float | None = None
    terminated: float | None = None
    terminated_by: Literal["us", "peer"] | None = None
    reason: str | None = None
    error: str | None = None  # an IQ error or a Jingle we could not read
    media: CallMedia | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def setup_s(self) -> float | None:
        """session-initiate to the first RTP packet received (seconds)."""
        first = self.media.stats.first_received if self.media else None
        return None if first is None else first - self.initiated

    def summary(self) -> dict[str, Any]:
        s = self.media.stats if self.media else None
        return {
            "sid": self.sid, "direction": self.direction, "peer": self.peer,
            "offered": [p.describe() for p in self.offered],
            "answered_with": [p.describe() for p in self.answered_with],
            "accepted": self.accepted is not None, "reason": self.reason,
            "terminated_by": self.terminated_by, "error": self.error,
            "ice": None if s is None else (s.ice_error or (s.selected and "completed")),
            "selected": None if s is None else s.selected,
            "rtp_sent": 0 if s is None else s.packets_sent,
            "rtp_received": 0 if s is None else s.packets_received,
            "setup_ms": None if self.setup_s is None else round(self.setup_s * 1000),
            "ice_ms": _ms(s.ice_completed if s else None, self.initiated),
            "first_rtp_sent_ms": _ms(s.first_sent if s else None, self.initiated),
        }


def _ms(when: float | None, since: float) -> int | None:
    return None if when is None else round((when - since) * 1000)


@dataclass
class JinglePhone:
    """The Jingle sessions of one XMPP client. ``media_address``: the host address the
    gateway can reach (the topology's bridge), where ICE offers its one candidate."""

    media_address: str | None = None
    answering: Answering = field(default_factory=Answering)
    # outgoing: candidates in a transport-info after the initiate instead of in it. Off:
    # measured against chan_motif, the transport-info then meets the dialplan's first
    # JabberSend and Asterisk's XMPP connection breaks more often (see the report).
    trickle: bool = False
    log: Callable[[str], None] = field(default=lambda text: None)
    calls: dict[str, JingleCall] = field(default_factory=dict)
    incoming: asyncio.Queue[JingleCall] | None = None
    _client: slixmpp.ClientXMPP | None = None

    def attach(self, client: slixmpp.ClientXMPP) -> None:
        """Says Jingle in disco#info (res_xmpp asks each resource that sends XEP-0115 caps:
        chan_motif calls only a resource that has urn:xmpp:jingle:1) and takes the IQs."""
        self._client = client
        self.incoming = asyncio.Queue()
        for feature in FEATURES:
            client.plugin["xep_0030"].add_feature(feature)
        client.register_handler(Callback(
            "Jingle", MatchXPath(f"{{jabber:client}}iq/{{{JINGLE_NS}}}jingle"), self._on_iq))

    # -- what the user does ------------------------------------------------------------

    async def call(self, to: str, timeout: float) -> JingleCall:
        """session-initiate to ``to`` (a full JID); returns once the callee acknowledged.
        GtalkError when it answered with an IQ error."""
        client = self._require()
        sid = secrets.token_hex(8)
        call = JingleCall(sid, "outgoing", to, time.time())
        self.calls[sid] = call
        call.media = CallMedia(self._address(), controlling=True)  # RFC 8445 6.1.1: offerer
        call.local = await call.media.start()
        call.offered = AUDIO
        # With ``trickle`` the candidates follow in a transport-info once the
        # session-initiate is acknowledged (XEP-0176 allows either).
        offer = Transport(call.local.ufrag, call.local.pwd) if self.trickle else call.local
        content = audio_content(call.offered, offer, "initiator")
        element = jingle_element("session-initiate", sid, initiator=str(client.boundjid),
                                 contents=[content])
        call.initiated = time.time()
        try:
            await self._send(to, element, timeout)
            self.log(f"session-initiate {sid} -> {to} acknowledged")
            if self.trickle and not call.ended.is_set():
                info = jingle_element("transport-info", sid, contents=[
                    Content("audio", "initiator", transport=call.local)])
                await self._send(to, info, timeout)
        except GtalkError as exc:
            call.error = str(exc)
            await self._ended(call, None, None)
            raise
        return call

    async def hangup(self, call: JingleCall, reason: str = "success", timeout: float = 5) -> None:
        if call.ended.is_set():
            return
        element = jingle_element("session-terminate", call.sid, reason=reason)
        await self._ended(call, "us", reason)
        try:
            await self._send(call.peer, element, timeout)
        except GtalkError as exc:
            call.error = call.error or f"session-terminate: {exc}"

    async def wait_incoming(self, timeout: float) -> JingleCall:
        assert self.incoming is not None
        try:
            return await asyncio.wait_for(self.incoming.get(), timeout)
        except TimeoutError:
            raise GtalkTimeout(f"no Jingle session-initiate within {timeout:g} s") from None

    async def close(self) -> None:
        for call in self.calls.values():
            if call.media is not None:
                await call.media.close()

    # -- IQs in ----------------------------------------------------------------------------

    def _on_iq(self, iq: Any) -> None:
        if iq["type"] != "set":
            return  # an error bounced with our own payload in it
        el = find_jingle(iq.xml)
        assert el is not None
        try:
            jingle = parse_jingle(el)
        except JingleError as exc:
            self._error(iq, "modify", "bad-request", None)
            self.log(f"unreadable Jingle from {iq['from']}: {exc}")
            return
        call = self.calls.get(jingle.sid)
        if jingle.action == "session-initiate":
            if call is not None:
                self._error(iq, "cancel", "conflict", "out-of-order")
                return
            iq.reply().send()
            asyncio.ensure_future(self._incoming(str(iq["from"]), jingle))
            return
        if call is None:  # XEP-0166 7.2: an unknown session
            self._error(iq, "cancel", "item-not-found", "unknown-session")
            return
        iq.reply().send()
        asyncio.ensure_future(self._action(call, jingle))

    async def _action(self, call: JingleCall, jingle: Jingle) -> None:
        now = time.time()
        self.log(f"{jingle.action} {call.sid} <- {call.peer}")
        if jingle.action == "session-terminate":
            await self._ended(call, "peer", jingle.reason)
            return
        if jingle.action == "session-info" and "ringing" in jingle.info:
            call.ringing = call.ringing or now
        if jingle.action == "session-accept":
            call.accepted = now
            call.answered_with = jingle.payloads
            call.answered.set()
            if call.media is not None:
                call.media.allow_sending()
        await self._take_transport(call, jingle)

    async def _take_transport(self, call: JingleCall, jingle: Jingle) -> None:
        transport = jingle.transport
        if transport is not None:
            call.remote_candidates.extend(transport.candidates)
            call.pending.append(transport)
        media = call.media
        if media is None:
            return
        while call.pending:
            await media.set_remote(call.pending.pop(0))
        if media.ready():
            if call.accepted is not None:
                media.allow_sending()
            media.connect_soon()

    async def _incoming(self, peer: str, jingle: Jingle) -> None:
        call = JingleCall(jingle.sid, "incoming", peer, time.time(), offered=jingle.payloads)
        self.calls[call.sid] = call
        assert self.incoming is not None
        self.incoming.put_nowait(call)
        mode = self.answering.mode
        self.log(f"session-initiate {call.sid} <- {peer} ({mode})")
        await self._info(call, "ringing")
        if mode == "ring":
            return
        await asyncio.sleep(self.answering.ring_s)  # the user's time to pick up (or not)
        if call.ended.is_set():
            return
        if mode == "decline":
            await self.hangup(call, "decline")
            return
        ours = common_payloads(call.offered, AUDIO)
        if not ours:  # XEP-0167 6.2: nothing in common
            await self.hangup(call, "incompatible-parameters")
            return
        call.media = CallMedia(self._address(), controlling=False)
        call.local = await call.media.start()
        call.answered_with = ours
        content = audio_content(ours, call.local, "initiator")
        element = jingle_element("session-accept", call.sid, responder=str(self._require()
                                                                            .boundjid),
                                 contents=[content])
        call.accepted = time.time()
        try:
            await self._send(peer, element, 5)
        except GtalkError as exc:
            call.error = str(exc)
            await self._ended(call, None, None)
            return
        call.answered.set()
        call.media.allow_sending()
        await self._take_transport(call, jingle)

    async def _info(self, call: JingleCall, info: str) -> None:
        try:
            await self._send(call.peer, jingle_element("session-info", call.sid, info=info), 5)
        except GtalkError as exc:
            call.error = call.error or f"session-info: {exc}"

    async def _ended(self, call: JingleCall, by: Literal["us", "peer"] | None,
                     reason: str | None) -> None:
        if call.ended.is_set():
            return
        call.terminated, call.terminated_by, call.reason = time.time(), by, reason
        call.ended.set()
        call.answered.set()  # nobody waits for an answer that will not come
        if call.media is not None:
            await call.media.close()

    # -- IQs out -----------------------------------------------------------------------------

    async def _send(self, to: str, element: Any, timeout: float) -> None:
        client = self._require()
        iq = client.make_iq_set(ito=to)
        iq.xml.append(element)
        try:
            await iq.send(timeout=timeout)  # type: ignore[no-untyped-call]
        except IqError as exc:
            cond = exc.iq["error"]["condition"]
            raise GtalkError(f"{to} refused the Jingle {element.get('action')}: {cond}") from None
        except IqTimeout:
            raise GtalkTimeout(f"{to} did not acknowledge the Jingle {element.get('action')} "
                               f"within {timeout:g} s") from None

    def _error(self, iq: Any, etype: str, condition: str, jingle_condition: str | None) -> None:
        # Without the request's payload (RFC 6120 8.3.1 allows either): chan_motif takes
        # any IQ with a Jingle child for a request, errors included.
        reply = iq.reply(clear=True)
        reply["type"] = "error"
        reply["error"]["type"] = etype
        reply["error"]["condition"] = condition
        if jingle_condition is not None:
            import xml.etree.ElementTree as ET

            reply["error"].xml.append(ET.Element(f"{{{ERRORS_NS}}}{jingle_condition}"))
        reply.send()

    def _require(self) -> slixmpp.ClientXMPP:
        if self._client is None:
            raise RuntimeError("the phone is not attached to an XMPP session")
        return self._client

    def _address(self) -> str:
        if not self.media_address:
            raise RuntimeError("no media address: set GtalkUser.media_address to the host "
                               "address the gateway reaches (the topology's bridge, e.g. "
                               "NET_PREFIX.1) before a call")
        return self.media_address

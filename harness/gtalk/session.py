"""One XMPP session, on the loop thread: slixmpp's events fill the inbox, the presence
book and the subscription answers; what the user says goes out through the client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import slixmpp
from slixmpp.jid import JID

from harness.gtalk.client import Login, SignIn, prosody_client
from harness.gtalk.errors import GtalkConnectError, GtalkDisconnected, GtalkError, connect_failure
from harness.gtalk.inbox import Inbox
from harness.gtalk.log import LogFn
from harness.gtalk.phone import JinglePhone
from harness.gtalk.presence import OwnPresence, PresenceBook, presence_show
from harness.gtalk.roster import SubscriptionAnswers
from harness.gtalk.transcript import StanzaRecord, redact

#: Presence types that say nothing about the contact being there.
_NOT_AVAILABILITY = ("subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe", "error")


@dataclass
class XmppSession:
    """The state of one session and the slixmpp client behind it. Every method runs on the
    client's loop; ``inbox``, ``presences`` and ``transcript`` outlive the session."""

    jid: str  # bare
    log: LogFn | None = None  # gets "<jid> <event>" lines
    inbox: Inbox = field(default_factory=Inbox)
    presences: PresenceBook = field(default_factory=PresenceBook)
    answers: SubscriptionAnswers = field(default_factory=SubscriptionAnswers)
    transcript: list[StanzaRecord] = field(default_factory=list)
    phone: JinglePhone = field(default_factory=JinglePhone)
    client: slixmpp.ClientXMPP | None = None
    active: bool = False  # between session_start and disconnected
    closing: bool = False  # the end is ours (disconnect() or a failed connect)

    # -- lifecycle --

    async def start(self, login: Login, own: OwnPresence, timeout: float) -> None:
        """Sign in, fetch the roster, send the initial presence. GtalkConnectError (or
        GtalkAuthError) naming the JID and host:port otherwise."""
        loop = asyncio.get_running_loop()
        client = prosody_client(login, loop)
        client.add_filter("in", self._record("in"))
        client.add_filter("out", self._record("out"))
        self.client = client
        sign_in = SignIn(login, loop)
        sign_in.watch(client)

        async def on_session_start(_event: Any) -> None:
            try:
                await client.get_roster(timeout=timeout)
                # the XEP-0115 hash of our disco#info (Jingle among its features) before
                # the first presence, which then carries it
                await client.plugin["xep_0115"].update_caps(broadcast=False)
                self.send_presence(own)
            except Exception as exc:  # noqa: BLE001 - reported as the connect failure
                sign_in.fail("closed", f"roster request failed: {exc}")
                return
            self.active = True
            sign_in.succeed()

        def on_disconnected(reason: Any) -> None:
            why = str(reason) if reason else ("disconnect()" if self.closing else "stream closed")
            sign_in.fail("closed", why)
            self._ended(why)

        client.add_event_handler("session_start", on_session_start)
        client.add_event_handler("disconnected", on_disconnected)
        self._listen(client)

        client.connect(login.host, login.port)
        try:
            async with asyncio.timeout(timeout):
                await sign_in.outcome
        except TimeoutError:
            await self.abort()
            raise connect_failure(
                "timeout", login.jid, login.host, login.port, f"within {timeout:g} s"
            ) from None
        except GtalkConnectError:
            await self.abort()
            raise
        self._log(f"connected to {login.where} as {client.boundjid.full}")

    async def abort(self) -> None:
        client = self.client
        if client is None:
            return
        self.closing = True
        client.cancel_connection_attempt()  # no reconnection loop after a failure
        client.abort()

    async def stop(self, timeout: float) -> None:
        """End the stream politely if there is a session, else just drop the connection."""
        client = self.client
        if client is None:
            return
        await self.phone.close()
        self.closing = True
        client.cancel_connection_attempt()
        if self.active:
            try:
                await asyncio.wait_for(client.disconnect(wait=min(2.0, timeout)), timeout)
            except TimeoutError:
                client.abort()
        else:
            client.abort()

    def _ended(self, why: str) -> None:
        if self.active:
            self._log(f"disconnected: {why}")
        self.active = False
        ended = f"the XMPP session of {self.jid} ended ({why})"
        self.inbox.close(ended)
        self.presences.close(ended)
        self.answers.close(ended)

    # -- what the user does --

    def send(self, to: str, text: str) -> None:
        client = self._require_session()
        client.send_message(mto=JID(to), mbody=text, mtype="chat")
        self._log(f"-> {to}: {text}")

    def send_unavailable(self) -> None:
        """Presence type='unavailable': contacts see the user go offline; the session stays."""
        self._require_session().send_presence(ptype="unavailable")

    def send_presence(self, own: OwnPresence) -> None:
        client = self.client
        if client is None:
            return
        pshow = None if own.show == "available" else own.show
        client.send_presence(pshow=pshow, pstatus=own.status, ppriority=own.priority)

    async def subscribe(self, contact: str, timeout: float) -> None:
        client = self._require_session()
        self.answers.forget(contact)
        if contact in client.client_roster and client.client_roster[contact]["to"]:
            # Prosody neither forwards a subscribe for an existing subscription nor answers
            # it (it re-pushes the roster item): the roster is the answer.
            self._log(f"already subscribed to {contact}")
            return
        client.send_presence_subscription(pto=contact, ptype="subscribe")
        self._log(f"subscribe -> {contact}")
        if not await self.answers.wait(contact, timeout):
            raise GtalkError(f"{contact} refused the subscription request of {self.jid}")
        self._log(f"subscribed <- {contact}")

    def _require_session(self) -> slixmpp.ClientXMPP:
        if self.client is None or not self.active:
            raise GtalkDisconnected(f"{self.jid} has no XMPP session")
        return self.client

    # -- what comes in --

    def _listen(self, client: slixmpp.ClientXMPP) -> None:
        client.add_event_handler("message", self._on_message)
        client.add_event_handler("message_error", self._on_message_error)
        client.add_event_handler("presence", self._on_presence)
        client.add_event_handler(
            "presence_subscribed", lambda p: self.answers.record(p["from"].bare, True)
        )
        client.add_event_handler(
            "presence_unsubscribed", lambda p: self.answers.record(p["from"].bare, False)
        )
        client.add_event_handler("roster_update", self._on_roster)
        self.phone.log = self._log
        self.phone.attach(client)

    def _log(self, text: str) -> None:
        if self.log is not None:
            self.log(f"{self.jid} {text}")

    def _record(self, direction: str) -> Callable[[Any], Any]:
        def record(stanza: Any) -> Any:
            self.transcript.append(StanzaRecord(time.time(), direction, redact(str(stanza))))
            return stanza

        return record

    def _on_roster(self, iq: Any) -> None:
        """A roster result or push: an item with subscription to/both is an approval (how
        Prosody answers a subscribe that already holds)."""
        for jid, item in iq["roster"]["items"].items():
            if item["subscription"] in ("to", "both"):
                self.answers.record(str(jid), True)

    def _on_message(self, msg: Any) -> None:
        mtype = msg["type"]
        if mtype in ("error", "groupchat"):
            return
        body = msg["body"]
        if not body:  # chat states, receipts, res_xmpp's empty keepalives
            return
        sender = msg["from"]
        self.inbox.put(sender.bare, body, resource=sender.resource, type=mtype)
        self._log(f"<- {sender.bare}: {body}")

    def _on_message_error(self, msg: Any) -> None:
        sender = msg["from"]
        condition = msg["error"]["condition"] or "error"
        self.inbox.put(
            sender.bare, msg["body"], resource=sender.resource, type="error", error=condition
        )
        self._log(f"<- {sender.bare}: bounced ({condition})")

    def _on_presence(self, pres: Any) -> None:
        ptype = pres["type"]
        if ptype in _NOT_AVAILABILITY:
            return
        sender = pres["from"]
        if sender.bare == self.jid or not sender.user:
            return  # our own resources, the server itself
        show = presence_show("unavailable" if ptype == "unavailable" else None, pres["show"])
        try:
            priority = int(pres["priority"] or 0)
        except ValueError:
            priority = 0
        self.presences.update(sender.bare, show, pres["status"], priority, sender.resource)
        self._log(
            f"presence <- {sender.full}: {show}"
            + (f" {pres['status']!r}" if pres["status"] else "")
        )

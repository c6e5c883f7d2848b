"""The synchronous facade the tests call: :class:`GtalkUser`, one XMPP session driven from
the test's thread while its asyncio loop runs in a background thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from harness.gtalk.client import Login
from harness.gtalk.errors import GtalkError
from harness.gtalk.inbox import Inbox, ReceivedMessage, Until
from harness.gtalk.jid import bare_jid
from harness.gtalk.log import LogFn, stdout_log
from harness.gtalk.loop import LoopThread
from harness.gtalk.phone import Answering, JingleCall
from harness.gtalk.presence import SHOWS, OwnPresence, Presence, PresenceBook
from harness.gtalk.session import XmppSession
from harness.gtalk.transcript import StanzaRecord

DEFAULT_TIMEOUT = 5.0

T = TypeVar("T")


@dataclass
class GtalkUser:
    """A Google Talk user (the seed's Sara Davis) on the xmpp service; also usable for any
    other account on it (``asterisk@gmail.test`` when Asterisk is not in the test).

    One session per object: ``connect()`` once, ``disconnect()`` at the end (or use it as a
    context manager). Incoming subscription requests are approved, with a subscription in
    return, as Google Talk clients did."""

    jid: str
    password: str
    host: str = "127.0.0.1"
    port: int = 15222
    resource: str = "harness"
    show: str = "available"
    status: str | None = None
    priority: int = 0
    log: LogFn | None = field(default_factory=lambda: stdout_log("gtalk"))
    # where the gateway reaches this host for media (the topology's bridge address): the
    # one ICE candidate of a Jingle call
    media_address: str | None = None
    # how incoming Jingle sessions are met (answer, decline, ring)
    answering: Answering = field(default_factory=Answering)

    inbox: Inbox = field(default_factory=Inbox, init=False, repr=False)
    presences: PresenceBook = field(default_factory=PresenceBook, init=False, repr=False)
    _xmpp: XmppSession = field(init=False, repr=False)
    _thread: LoopThread | None = field(default=None, init=False, repr=False)
    _used: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.jid = bare_jid(self.jid)
        self._own()  # validates show
        self._xmpp = XmppSession(self.jid, self._log, self.inbox, self.presences)

    # -- lifecycle --

    def connect(self, timeout: float = DEFAULT_TIMEOUT) -> Self:
        """Log in, fetch the roster, send the initial presence. GtalkConnectError (or
        GtalkAuthError for refused credentials) naming the JID and host:port otherwise."""
        if self._used:
            raise RuntimeError(f"{self.jid}: one session per GtalkUser, make a new one")
        self._used = True
        self._thread = LoopThread(f"gtalk-{self.jid}", raised=True)
        login = Login(self.jid, self.password, self.host, self.port, self.resource)
        try:
            self._thread.call(self._xmpp.start(login, self._own(), timeout), timeout)
        except BaseException:
            self._thread.stop()
            self._thread = None
            raise
        return self

    def disconnect(self, timeout: float = 3.0) -> None:
        """End the stream (idempotent) and stop the loop thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            thread.call(self._xmpp.stop(timeout), timeout)
        except GtalkError:
            pass
        finally:
            thread.stop()

    def __enter__(self) -> Self:
        if self._thread is None:
            self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    @property
    def connected(self) -> bool:
        return self._thread is not None and self._xmpp.active

    # -- the synchronous API --

    def subscribe(self, contact_jid: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Ask for ``contact_jid``'s presence and wait for its ``subscribed``.
        GtalkError if it answers ``unsubscribed``, GtalkTimeout if it does not answer."""
        self._run(self._xmpp.subscribe(bare_jid(contact_jid), timeout), timeout)

    def presence_of(self, contact_jid: str, timeout: float = DEFAULT_TIMEOUT) -> Presence:
        """The contact's presence (show, status), preferring an available one: returns as
        soon as the contact is available, else after ``timeout`` the unavailable presence
        last seen (a subscription's answer comes before the contact's presence, so "not yet"
        must not read as "offline"). GtalkTimeout if the contact sent no presence at all.
        To assert a state, and to wait for "unavailable" quickly, use ``wait_presence``."""
        return self._run(self.presences.settle(bare_jid(contact_jid), timeout), timeout)

    def wait_presence(
        self,
        contact_jid: str,
        show: str | Iterable[str] | None = "available",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Presence:
        """Wait until the contact's presence has one of the given shows (``None``: any
        presence at all) and return it. Only the shows named count: "available" does not
        accept "away"; pass several, or use ``presence_of(...).available``."""
        if show is None:
            wanted: frozenset[str] = frozenset(SHOWS)
            what = "sent no presence"
        else:
            wanted = frozenset([show] if isinstance(show, str) else show)
            unknown = wanted - set(SHOWS)
            if unknown:
                raise ValueError(f"unknown presence show {sorted(unknown)} (one of {SHOWS})")
            what = f"was not {'/'.join(sorted(wanted))}"
        bare = bare_jid(contact_jid)
        coro = self.presences.wait(bare, lambda p: p.show in wanted, what, timeout)
        return self._run(coro, timeout)

    def wait_message(self, from_jid: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The next message from ``from_jid`` (queued in arrival order, bare JID)."""
        return self.wait_message_record(from_jid, timeout).body

    def wait_message_record(
        self, from_jid: str, timeout: float = DEFAULT_TIMEOUT
    ) -> ReceivedMessage:
        """As ``wait_message``, with the arrival time and resource."""
        return self._run(self.inbox.get(from_jid, timeout), timeout)

    def messages_until(
        self, from_jid: str, until: Until, timeout: float = DEFAULT_TIMEOUT
    ) -> list[str]:
        """Messages from ``from_jid`` until ``until``: a count, or a predicate on the text
        (the message that satisfies it is the last one returned). On a timeout, GtalkTimeout
        lists what did come, and nothing is consumed."""
        records = self._run(self.inbox.collect(from_jid, until, timeout), timeout)
        return [m.body for m in records]

    def drain(self, from_jid: str) -> list[str]:
        """Take whatever is queued from ``from_jid`` without waiting."""
        return [m.body for m in self._run(self._sync(lambda: self.inbox.drain(from_jid)), 1.0)]

    def received(self, from_jid: str | None = None) -> list[ReceivedMessage]:
        """Every message received in this session (taken or not), in arrival order; also
        after ``disconnect()``."""
        bare = bare_jid(from_jid) if from_jid is not None else None
        history = self._read(lambda: list(self.inbox.history))
        return [m for m in history if bare is None or m.sender == bare]

    def send(self, to_jid: str, text: str) -> None:
        """Send a chat message to ``to_jid`` (bare JID: the server picks the resource)."""
        bare = bare_jid(to_jid)
        self._run(self._sync(lambda: self._xmpp.send(bare, text)), 1.0)

    def set_presence(self, show: str = "available", status: str | None = None) -> None:
        own = OwnPresence(show, status, self.priority)
        self.show, self.status = show, status
        self._run(self._sync(lambda: self._xmpp.send_presence(own)), 1.0)

    def appear_offline(self) -> None:
        """Unavailable presence: every contact sees the user offline (its resource is gone
        from their view), while this session stays up to come back with ``appear_online``."""
        self._run(self._sync(self._xmpp.send_unavailable), 1.0)

    def appear_online(self) -> None:
        """Back with the user's own presence (and its XEP-0115 caps)."""
        self.set_presence(self.show, self.status)

    # -- Jingle calls (harness.gtalk.phone) --

    def call(self, contact_jid: str, timeout: float = DEFAULT_TIMEOUT) -> JingleCall:
        """A Jingle session-initiate to the contact's available resource (a full JID, as
        XEP-0166 asks), acknowledged. GtalkError if refused or the contact is offline."""
        bare = bare_jid(contact_jid)
        presence = self.wait_presence(bare, ("available", "chat", "away"), timeout)
        self._phone_settings()
        to = f"{bare}/{presence.resource}" if presence.resource else bare
        return self._run(self._xmpp.phone.call(to, timeout), timeout)

    def wait_incoming(self, timeout: float = DEFAULT_TIMEOUT) -> JingleCall:
        """The next incoming Jingle session (met as ``answering`` says)."""
        self._phone_settings()
        return self._run(self._xmpp.phone.wait_incoming(timeout), timeout)

    def wait_answered(self, call: JingleCall, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """True once the session is accepted (False if it ended or the time ran out)."""
        return self._run(_wait_event(call.answered, timeout), timeout) and (
            call.accepted is not None and not call.ended.is_set())

    def wait_media(self, call: JingleCall, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """True once ICE completed on the call (False if it failed or did not in time)."""
        media = call.media
        if media is None:
            return False
        return self._run(media.wait_connected(timeout), timeout)

    def talk(self, call: JingleCall, seconds: float) -> bool:
        """Keeps the call up for ``seconds`` (the scenario's timeline); False if it ended
        before."""
        return not self._run(_wait_event(call.ended, seconds), seconds)

    def wait_ended(self, call: JingleCall, timeout: float = DEFAULT_TIMEOUT) -> bool:
        return self._run(_wait_event(call.ended, timeout), timeout)

    def hangup(self, call: JingleCall, reason: str = "success") -> None:
        """session-terminate with ``reason`` (XEP-0166 7.4), media stopped."""
        self._run(self._xmpp.phone.hangup(call, reason), DEFAULT_TIMEOUT)

    def jingle_calls(self) -> list[JingleCall]:
        return self._read(lambda: list(self._xmpp.phone.calls.values()))

    def meet_incoming(self, answering: Answering) -> None:
        """How incoming sessions are met from now on (and the media address with it):
        applied at once, since a session-initiate can arrive before ``wait_incoming``."""
        self.answering = answering
        self._phone_settings()

    def _phone_settings(self) -> None:
        self._xmpp.phone.media_address = self.media_address
        self._xmpp.phone.answering = self.answering

    def transcript(self) -> list[StanzaRecord]:
        """Every stanza in and out of this session, SASL credentials redacted; also after
        ``disconnect()``."""
        return self._read(lambda: list(self._xmpp.transcript))

    # -- on the loop --

    def _log(self, text: str) -> None:
        if self.log is not None:  # looked up at each line: a test may silence it midway
            self.log(text)

    def _own(self) -> OwnPresence:
        return OwnPresence(self.show, self.status, self.priority)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._thread is None:
            coro.close()
            raise RuntimeError(f"{self.jid} is not connected: call connect() first")
        return self._thread.call(coro, timeout)

    def _read(self, fn: Callable[[], T]) -> T:
        """``fn`` on the loop while there is one, directly once the loop is gone."""
        if self._thread is None:
            return fn()
        return self._thread.call(self._sync(fn), 1.0)

    @staticmethod
    async def _sync(fn: Callable[[], T]) -> T:
        return fn()


async def _wait_event(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True

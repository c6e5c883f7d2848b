"""The Google Talk user of the seed ("Configure Asterisk for Google Talk", the [from-gtalk]
IVR and its [directory] ... [conf-center] menus): an XMPP client bot on slixmpp.

Unlike the other peers this one runs on the host, inside the tests, against the xmpp
service's published port (Prosody, containers/xmpp/). Tests are synchronous, so
:class:`GtalkUser` keeps an asyncio loop in a background thread and offers blocking calls::

    with GtalkUser("sara@gmail.test", "sara-xmpp", "127.0.0.1", 15222) as sara:
        sara.subscribe("asterisk@gmail.test")
        assert sara.presence_of("asterisk@gmail.test").status == "How can we help?"
        menu = sara.messages_until("asterisk@gmail.test", lambda m: m.startswith("5 -"))
        sara.send("asterisk@gmail.test", "4")

Incoming chat messages are queued per sender (bare JID) in arrival order, each with its
arrival time; waiting is done on events, never by polling. The connection is plain TCP with
SASL PLAIN, as the private Prosody configuration offers it (DESIGN.md, "Facts measured").

Errors: :class:`GtalkError` and its subclasses are what the server or the other party did
(refused login, no answer in time, a bounced message); misuse of the API (calling before
``connect``, a bad JID) raises ``RuntimeError`` or ``ValueError``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import slixmpp
from slixmpp.jid import JID, InvalidJID

from harness.peers.common.log import LineLog

DEFAULT_TIMEOUT = 5.0
#: What a presence can say, XMPP's <show/> values plus "available" (no <show/>) and
#: "unavailable" (type='unavailable'). Asterisk's xmpp.conf ``status`` uses the same names
#: (its "xaway" is XMPP's "xa").
SHOWS = ("available", "chat", "away", "xa", "dnd", "unavailable")
#: Extra time the calling thread waits for the loop beyond an operation's own timeout.
_LOOP_GRACE_S = 5.0

T = TypeVar("T")
Until = int | Callable[[str], bool]
LogFn = Callable[[str], None]


# --- errors ------------------------------------------------------------------------------


class GtalkError(Exception):
    """Something the XMPP server or the other party did (or did not do in time)."""


class GtalkConnectError(GtalkError):
    """No XMPP session: TCP refused, stream closed or refused, no usable SASL mechanism."""


class GtalkAuthError(GtalkConnectError):
    """The server refused the credentials."""


class GtalkTimeout(GtalkError, TimeoutError):
    """An awaited event (message, presence, subscription answer) did not come in time."""


class GtalkDeliveryError(GtalkError):
    """A message came back as an error stanza (e.g. the recipient is not connected)."""


class GtalkDisconnected(GtalkError):
    """The session ended while waiting (server closed the stream, or disconnect())."""


# --- pure parts --------------------------------------------------------------------------


def bare_jid(jid: str | JID) -> str:
    """The normalised bare JID (``Sara@Gmail.TEST/phone`` -> ``sara@gmail.test``).

    ValueError if it is not a JID with a local part."""
    try:
        parsed = jid if isinstance(jid, JID) else JID(jid)
    except InvalidJID as exc:
        raise ValueError(f"not a valid JID: {jid!r} ({exc})") from None
    if not parsed.user:
        raise ValueError(f"not a user JID (no local part): {jid!r}")
    return parsed.bare


def presence_show(ptype: str | None, show: str | None) -> str:
    """One of :data:`SHOWS` from a presence stanza's ``type`` and ``<show/>``."""
    if ptype == "unavailable":
        return "unavailable"
    if show in ("chat", "away", "xa", "dnd"):
        return show
    return "available"


_SASL_SECRET = re.compile(
    r"(<(auth|response)\b[^>]*urn:ietf:params:xml:ns:xmpp-sasl[^>]*>)(.*?)(</\2>)", re.DOTALL
)


def redact(xml: str) -> str:
    """The stanza text with SASL credentials (PLAIN auth, SCRAM responses) hidden."""
    return _SASL_SECRET.sub(lambda m: f"{m.group(1)}(redacted){m.group(4)}", xml)


def connect_failure(
    kind: str, jid: str, host: str, port: int, detail: str = ""
) -> GtalkConnectError:
    """The exception for a failed ``connect()``, naming who connected where.

    ``kind``: auth, no-mechanism, refused (TCP), stream-error, closed, timeout."""
    where = f"{host}:{port}"
    extra = f" ({detail})" if detail else ""
    if kind == "auth":
        return GtalkAuthError(f"authentication failed for {jid} at {where}{extra}")
    if kind == "no-mechanism":
        return GtalkAuthError(
            f"authentication failed for {jid} at {where}: no SASL mechanism usable without TLS"
            f" (the server must offer PLAIN: allow_unencrypted_plain_auth){extra}"
        )
    if kind == "refused":
        return GtalkConnectError(f"cannot connect {jid} to {where}{extra}")
    if kind == "stream-error":
        return GtalkConnectError(f"{where} refused the XMPP stream of {jid}{extra}")
    if kind == "closed":
        return GtalkConnectError(
            f"{where} closed the connection of {jid} before the session started{extra}"
        )
    if kind == "timeout":
        return GtalkConnectError(f"no XMPP session for {jid} at {where}{extra}")
    raise ValueError(f"unknown connect failure kind: {kind!r}")


class Waiters:
    """Futures to wake when something changed, on one asyncio loop. ``fail`` ends waiting
    for good (the session is over): every later ``wait`` raises GtalkDisconnected."""

    def __init__(self) -> None:
        self._futures: set[asyncio.Future[None]] = set()
        self.closed: str | None = None

    def notify(self) -> None:
        for fut in self._futures:
            if not fut.done():
                fut.set_result(None)
        self._futures.clear()

    def fail(self, reason: str) -> None:
        self.closed = reason
        for fut in self._futures:
            if not fut.done():
                fut.set_exception(GtalkDisconnected(reason))
        self._futures.clear()

    async def wait(self) -> None:
        if self.closed is not None:
            raise GtalkDisconnected(self.closed)
        fut = asyncio.get_running_loop().create_future()
        self._futures.add(fut)
        try:
            await fut
        finally:
            self._futures.discard(fut)


@dataclass(frozen=True)
class ReceivedMessage:
    """One incoming message. ``error`` is set for a bounce (type='error'): the condition."""

    sender: str  # bare JID
    body: str
    resource: str = ""
    type: str = "chat"
    received_at: float = 0.0  # time.time() at arrival
    monotonic: float = 0.0  # time.monotonic() at arrival
    error: str | None = None


def until_done(taken: list[str], until: Until) -> bool:
    """Whether ``messages_until`` has what it waits for: a count, or a predicate that the
    last message taken satisfies (that message is included)."""
    if isinstance(until, bool):
        raise TypeError("until must be a count or a predicate, not a bool")
    if isinstance(until, int):
        if until < 1:
            raise ValueError(f"until must be a positive count, not {until}")
        return len(taken) >= until
    return bool(taken) and bool(until(taken[-1]))


def describe_until(until: Until) -> str:
    if isinstance(until, int):
        return f"{until} message{'s' if until != 1 else ''}"
    return f"a message matching {getattr(until, '__name__', 'the predicate')}"


class Inbox:
    """Incoming messages, queued per sender in arrival order, plus the full history.
    Lives on the client's loop: ``put`` from the XMPP handlers, ``get``/``collect`` there."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queues: dict[str, deque[ReceivedMessage]] = {}
        self._changed = Waiters()
        self._clock = clock
        self._monotonic = monotonic
        self.history: list[ReceivedMessage] = []

    def put(
        self,
        sender: str,
        body: str,
        *,
        resource: str = "",
        type: str = "chat",
        error: str | None = None,
    ) -> ReceivedMessage:
        msg = ReceivedMessage(
            sender=bare_jid(sender),
            body=body,
            resource=resource,
            type=type,
            received_at=self._clock(),
            monotonic=self._monotonic(),
            error=error,
        )
        self._queues.setdefault(msg.sender, deque()).append(msg)
        self.history.append(msg)
        self._changed.notify()
        return msg

    def close(self, reason: str) -> None:
        self._changed.fail(reason)

    def pending(self, sender: str | None = None) -> list[ReceivedMessage]:
        if sender is not None:
            return list(self._queues.get(bare_jid(sender), ()))
        return [m for m in self.history if m in self._queues.get(m.sender, ())]

    def drain(self, sender: str) -> list[ReceivedMessage]:
        queue = self._queues.get(bare_jid(sender))
        taken = list(queue or ())
        if queue:
            queue.clear()
        return taken

    def _take(self, sender: str) -> ReceivedMessage | None:
        queue = self._queues.get(sender)
        if not queue:
            return None
        msg = queue.popleft()
        if msg.error is not None:
            raise GtalkDeliveryError(
                f"a message to {sender} bounced ({msg.error})"
                + (f": {msg.body!r}" if msg.body else "")
            )
        return msg

    async def _next(self, sender: str) -> ReceivedMessage:
        while True:
            msg = self._take(sender)
            if msg is not None:
                return msg
            await self._changed.wait()

    def _others(self, sender: str) -> str:
        counts = {s: len(q) for s, q in self._queues.items() if q and s != sender}
        if not counts:
            return "nothing queued from anyone else"
        return "queued from others: " + ", ".join(f"{s} ({n})" for s, n in sorted(counts.items()))

    async def get(self, sender: str, timeout: float) -> ReceivedMessage:
        sender = bare_jid(sender)
        try:
            async with asyncio.timeout(timeout):
                return await self._next(sender)
        except TimeoutError:
            raise GtalkTimeout(
                f"no message from {sender} within {timeout:g} s; {self._others(sender)}"
            ) from None

    async def collect(self, sender: str, until: Until, timeout: float) -> list[ReceivedMessage]:
        """Messages from ``sender`` until ``until`` is met. On a timeout nothing is consumed:
        the messages taken so far go back to the front of the queue."""
        sender = bare_jid(sender)
        until_done([], until)  # validates
        taken: list[ReceivedMessage] = []
        try:
            async with asyncio.timeout(timeout):
                while not until_done([m.body for m in taken], until):
                    taken.append(await self._next(sender))
        except TimeoutError:
            self._requeue(sender, taken)
            got = "; ".join(repr(m.body) for m in taken) or "nothing"
            raise GtalkTimeout(
                f"waited {timeout:g} s for {describe_until(until)} from {sender}, got "
                f"{len(taken)}: {got}; {self._others(sender)}"
            ) from None
        except GtalkError:
            self._requeue(sender, taken)
            raise
        return taken

    def _requeue(self, sender: str, taken: list[ReceivedMessage]) -> None:
        queue = self._queues.setdefault(sender, deque())
        queue.extendleft(reversed(taken))


@dataclass(frozen=True)
class Presence:
    """A contact's presence as the user sees it (the best resource)."""

    jid: str  # bare
    show: str  # one of SHOWS
    status: str | None = None
    priority: int = 0
    resource: str = ""
    received_at: float = 0.0

    @property
    def available(self) -> bool:
        return self.show != "unavailable"


class PresenceBook:
    """Contacts' presence per resource. ``current`` is the available resource with the
    highest priority (the latest among equals), else the last unavailable seen."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._resources: dict[str, dict[str, Presence]] = {}
        self._gone: dict[str, Presence] = {}
        self._changed = Waiters()
        self._clock = clock

    def update(
        self,
        jid: str,
        show: str,
        status: str | None = None,
        priority: int = 0,
        resource: str = "",
    ) -> Presence:
        if show not in SHOWS:
            raise ValueError(f"unknown presence show {show!r} (one of {', '.join(SHOWS)})")
        bare = bare_jid(jid)
        pres = Presence(bare, show, status or None, priority, resource, self._clock())
        resources = self._resources.setdefault(bare, {})
        if show == "unavailable":
            if resource:
                resources.pop(resource, None)
            else:  # from the bare JID: every resource is gone
                resources.clear()
            self._gone[bare] = pres
        else:
            resources[resource] = pres
        self._changed.notify()
        return pres

    def close(self, reason: str) -> None:
        self._changed.fail(reason)

    def current(self, jid: str) -> Presence | None:
        bare = bare_jid(jid)
        resources = self._resources.get(bare)
        if resources:
            return max(resources.values(), key=lambda p: (p.priority, p.received_at))
        return self._gone.get(bare)

    async def settle(self, jid: str, timeout: float) -> Presence:
        """The presence, preferring an available one: waits up to ``timeout`` for an
        available resource, then settles for the last unavailable presence seen. Only if
        nothing at all came from the contact is that a GtalkTimeout."""
        bare = bare_jid(jid)
        try:
            return await self.wait(bare, lambda p: p.available, "sent no presence", timeout)
        except GtalkTimeout:
            last = self.current(bare)
            if last is None:
                raise
            return last

    async def wait(
        self, jid: str, predicate: Callable[[Presence], bool], what: str, timeout: float
    ) -> Presence:
        bare = bare_jid(jid)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    pres = self.current(bare)
                    if pres is not None and predicate(pres):
                        return pres
                    await self._changed.wait()
        except TimeoutError:
            last = self.current(bare)
            seen = (
                f"last seen: {last.show}" + (f" {last.status!r}" if last.status else "")
                if last
                else "no presence from it at all: is the user subscribed to it, is it connected?"
            )
            raise GtalkTimeout(f"{bare} {what} within {timeout:g} s ({seen})") from None


class SubscriptionAnswers:
    """The latest answer (subscribed / unsubscribed) from each contact."""

    def __init__(self) -> None:
        self._answers: dict[str, bool] = {}
        self._changed = Waiters()

    def record(self, jid: str, approved: bool) -> None:
        self._answers[bare_jid(jid)] = approved
        self._changed.notify()

    def forget(self, jid: str) -> None:
        self._answers.pop(bare_jid(jid), None)

    def close(self, reason: str) -> None:
        self._changed.fail(reason)

    async def wait(self, jid: str, timeout: float) -> bool:
        bare = bare_jid(jid)
        try:
            async with asyncio.timeout(timeout):
                while bare not in self._answers:
                    await self._changed.wait()
        except TimeoutError:
            raise GtalkTimeout(
                f"{bare} did not answer the subscription request within {timeout:g} s"
                " (is it connected, and does it accept subscriptions?)"
            ) from None
        return self._answers[bare]


@dataclass(frozen=True)
class StanzaRecord:
    at: float  # time.time()
    direction: str  # "in" or "out"
    xml: str  # SASL credentials redacted


# --- the loop thread ----------------------------------------------------------------------


class _LoopThread:
    """An asyncio loop running in a daemon thread; ``call`` runs a coroutine there."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout + _LOOP_GRACE_S)
        except concurrent.futures.TimeoutError:
            # Since 3.11 that is the builtin TimeoutError, which GtalkTimeout also is:
            # a finished coroutine's own timeout passes through untouched.
            if fut.done():
                raise
            fut.cancel()
            raise GtalkTimeout(
                f"the XMPP client's loop did not finish within {timeout:g} s"
            ) from None

    def stop(self) -> None:
        if self.loop.is_closed():
            return

        async def _cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(_cancel_rest(), self.loop).result(_LOOP_GRACE_S)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(_LOOP_GRACE_S)
        if not self._thread.is_alive():
            self.loop.close()


# --- the user ----------------------------------------------------------------------------


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
    log: LogFn | None = field(default_factory=lambda: LineLog("gtalk"))

    inbox: Inbox = field(default_factory=Inbox, init=False, repr=False)
    presences: PresenceBook = field(default_factory=PresenceBook, init=False, repr=False)
    _answers: SubscriptionAnswers = field(
        default_factory=SubscriptionAnswers, init=False, repr=False
    )
    _transcript: list[StanzaRecord] = field(default_factory=list, init=False, repr=False)
    _thread: _LoopThread | None = field(default=None, init=False, repr=False)
    _client: slixmpp.ClientXMPP | None = field(default=None, init=False, repr=False)
    _session: bool = field(default=False, init=False, repr=False)
    _closing: bool = field(default=False, init=False, repr=False)
    _used: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.jid = bare_jid(self.jid)
        if self.show not in SHOWS or self.show == "unavailable":
            raise ValueError(f"show must be one of {', '.join(SHOWS[:-1])}, not {self.show!r}")

    # -- lifecycle --

    def connect(self, timeout: float = DEFAULT_TIMEOUT) -> Self:
        """Log in, fetch the roster, send the initial presence. GtalkConnectError (or
        GtalkAuthError for refused credentials) naming the JID and host:port otherwise."""
        if self._used:
            raise RuntimeError(f"{self.jid}: one session per GtalkUser, make a new one")
        self._used = True
        self._thread = _LoopThread(f"gtalk-{self.jid}")
        try:
            self._thread.call(self._connect(timeout), timeout)
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
            thread.call(self._disconnect(timeout), timeout)
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
        return self._thread is not None and self._session

    # -- the synchronous API --

    def subscribe(self, contact_jid: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Ask for ``contact_jid``'s presence and wait for its ``subscribed``.
        GtalkError if it answers ``unsubscribed``, GtalkTimeout if it does not answer."""
        self._run(self._subscribe(bare_jid(contact_jid), timeout), timeout)

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
        self._run(self._sync(lambda: self._send(bare, text)), 1.0)

    def set_presence(self, show: str = "available", status: str | None = None) -> None:
        if show not in SHOWS or show == "unavailable":
            raise ValueError(f"show must be one of {', '.join(SHOWS[:-1])}, not {show!r}")
        self.show, self.status = show, status
        self._run(self._sync(self._send_presence), 1.0)

    def transcript(self) -> list[StanzaRecord]:
        """Every stanza in and out of this session, SASL credentials redacted; also after
        ``disconnect()``."""
        return self._read(lambda: list(self._transcript))

    # -- on the loop --

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

    def _log(self, text: str) -> None:
        if self.log is not None:
            self.log(f"{self.jid} {text}")

    def _record(self, direction: str) -> Callable[[Any], Any]:
        def record(stanza: Any) -> Any:
            self._transcript.append(StanzaRecord(time.time(), direction, redact(str(stanza))))
            return stanza

        return record

    async def _connect(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        client = slixmpp.ClientXMPP(f"{self.jid}/{self.resource}", self.password, loop=loop)
        # Plain TCP and SASL PLAIN: the private Prosody has no TLS (DESIGN.md, XMPP facts).
        client.enable_plaintext = True
        client.enable_starttls = False
        client.enable_direct_tls = False
        client.plugin["feature_mechanisms"].unencrypted_plain = True
        client.register_plugin("xep_0030")  # disco: res_xmpp asks buddies for capabilities
        client.register_plugin("xep_0199")  # ping
        client.add_filter("in", self._record("in"))
        client.add_filter("out", self._record("out"))
        self._client = client

        outcome: asyncio.Future[None] = loop.create_future()
        sasl_detail: list[str] = []

        def fail(kind: str, detail: str = "") -> None:
            if not outcome.done():
                outcome.set_exception(connect_failure(kind, self.jid, self.host, self.port, detail))

        def on_failed_auth(stanza: Any) -> None:
            sasl_detail.append(f"SASL {stanza['condition']}")

        async def on_session_start(_event: Any) -> None:
            try:
                await client.get_roster(timeout=timeout)
                self._send_presence()
            except Exception as exc:  # noqa: BLE001 - reported as the connect failure
                fail("closed", f"roster request failed: {exc}")
                return
            self._session = True
            if not outcome.done():
                outcome.set_result(None)

        def on_disconnected(reason: Any) -> None:
            why = str(reason) if reason else ("disconnect()" if self._closing else "stream closed")
            if not outcome.done():
                fail("closed", why)
            if self._session:
                self._log(f"disconnected: {why}")
            self._session = False
            ended = f"the XMPP session of {self.jid} ended ({why})"
            self.inbox.close(ended)
            self.presences.close(ended)
            self._answers.close(ended)

        client.add_event_handler("session_start", on_session_start)
        client.add_event_handler("failed_auth", on_failed_auth)
        # failed_all_auth also comes when no offered mechanism was usable (nothing tried).
        client.add_event_handler(
            "failed_all_auth",
            lambda _e: (
                fail("auth", ", ".join(sasl_detail)) if sasl_detail else fail("no-mechanism")
            ),
        )
        client.add_event_handler("connection_failed", lambda err: fail("refused", str(err)))
        client.add_event_handler(
            "stream_error", lambda err: fail("stream-error", str(err["condition"]))
        )
        client.add_event_handler("disconnected", on_disconnected)
        client.add_event_handler("message", self._on_message)
        client.add_event_handler("message_error", self._on_message_error)
        client.add_event_handler("presence", self._on_presence)
        client.add_event_handler(
            "presence_subscribed", lambda p: self._answers.record(p["from"].bare, True)
        )
        client.add_event_handler(
            "presence_unsubscribed", lambda p: self._answers.record(p["from"].bare, False)
        )
        client.add_event_handler("roster_update", self._on_roster)

        client.connect(self.host, self.port)
        try:
            async with asyncio.timeout(timeout):
                await outcome
        except TimeoutError:
            await self._abort()
            raise connect_failure(
                "timeout", self.jid, self.host, self.port, f"within {timeout:g} s"
            ) from None
        except GtalkConnectError:
            await self._abort()
            raise
        self._log(f"connected to {self.host}:{self.port} as {client.boundjid.full}")

    async def _abort(self) -> None:
        client = self._client
        if client is None:
            return
        self._closing = True
        client.cancel_connection_attempt()  # no reconnection loop after a failure
        client.abort()

    async def _disconnect(self, timeout: float) -> None:
        client = self._client
        if client is None:
            return
        self._closing = True
        client.cancel_connection_attempt()
        if self._session:
            try:
                await asyncio.wait_for(client.disconnect(wait=min(2.0, timeout)), timeout)
            except TimeoutError:
                client.abort()
        else:
            client.abort()

    def _require_session(self) -> slixmpp.ClientXMPP:
        if self._client is None or not self._session:
            raise GtalkDisconnected(f"{self.jid} has no XMPP session")
        return self._client

    def _send(self, to: str, text: str) -> None:
        client = self._require_session()
        client.send_message(mto=JID(to), mbody=text, mtype="chat")
        self._log(f"-> {to}: {text}")

    def _send_presence(self) -> None:
        client = self._client
        if client is None:
            return
        pshow = None if self.show == "available" else self.show
        client.send_presence(pshow=pshow, pstatus=self.status, ppriority=self.priority)

    async def _subscribe(self, contact: str, timeout: float) -> None:
        client = self._require_session()
        self._answers.forget(contact)
        if contact in client.client_roster and client.client_roster[contact]["to"]:
            # Prosody neither forwards a subscribe for an existing subscription nor answers
            # it (it re-pushes the roster item): the roster is the answer.
            self._log(f"already subscribed to {contact}")
            return
        client.send_presence_subscription(pto=contact, ptype="subscribe")
        self._log(f"subscribe -> {contact}")
        if not await self._answers.wait(contact, timeout):
            raise GtalkError(f"{contact} refused the subscription request of {self.jid}")
        self._log(f"subscribed <- {contact}")

    def _on_roster(self, iq: Any) -> None:
        """A roster result or push: an item with subscription to/both is an approval (how
        Prosody answers a subscribe that already holds)."""
        for jid, item in iq["roster"]["items"].items():
            if item["subscription"] in ("to", "both"):
                self._answers.record(str(jid), True)

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
        if ptype in ("subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe", "error"):
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

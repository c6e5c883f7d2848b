"""Incoming chat messages: queued per sender (bare JID) in arrival order, each with its
arrival time, and the waiting for them (on events, never by polling)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from harness.gtalk.errors import GtalkDeliveryError, GtalkError, GtalkTimeout
from harness.gtalk.jid import bare_jid
from harness.gtalk.waiters import Waiters

#: What ``messages_until`` waits for: a count, or a predicate on the last message's text.
Until = int | Callable[[str], bool]


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

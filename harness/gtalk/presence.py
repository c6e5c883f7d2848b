"""Presence: what a contact shows (per resource, the best one wins) and the waiting for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.gtalk.errors import GtalkTimeout
from harness.gtalk.jid import bare_jid
from harness.gtalk.waiters import Waiters

#: What a presence can say, XMPP's <show/> values plus "available" (no <show/>) and
#: "unavailable" (type='unavailable'). Asterisk's xmpp.conf ``status`` uses the same names
#: (its "xaway" is XMPP's "xa").
SHOWS = ("available", "chat", "away", "xa", "dnd", "unavailable")


def presence_show(ptype: str | None, show: str | None) -> str:
    """One of :data:`SHOWS` from a presence stanza's ``type`` and ``<show/>``."""
    if ptype == "unavailable":
        return "unavailable"
    if show in ("chat", "away", "xa", "dnd"):
        return show
    return "available"


@dataclass(frozen=True)
class OwnPresence:
    """What the user itself shows: any of SHOWS but "unavailable" (ValueError otherwise)."""

    show: str = "available"
    status: str | None = None
    priority: int = 0

    def __post_init__(self) -> None:
        if self.show not in SHOWS or self.show == "unavailable":
            raise ValueError(f"show must be one of {', '.join(SHOWS[:-1])}, not {self.show!r}")


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
        self, jid: str, show: str, status: str | None = None, priority: int = 0, resource: str = ""
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

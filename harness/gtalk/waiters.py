"""Waking whoever waits for a change, on one asyncio loop (no polling)."""

from __future__ import annotations

import asyncio

from harness.gtalk.errors import GtalkDisconnected


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

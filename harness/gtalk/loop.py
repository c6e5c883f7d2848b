"""An asyncio loop in a background thread, so that synchronous tests can drive slixmpp."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from harness.gtalk.errors import GtalkTimeout
from harness.rtp.priority import raise_priority

T = TypeVar("T")

#: Extra time the calling thread waits for the loop beyond an operation's own timeout.
LOOP_GRACE_S = 5.0


class LoopThread:
    """An asyncio loop running in a daemon thread; ``call`` runs a coroutine there.
    ``raised``: the thread runs at the peers' raised priority where it may (it sends RTP
    from a test worker's process, beside the worker's own analysis)."""

    def __init__(self, name: str, raised: bool = False) -> None:
        self.raised = raised
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self.raised:
            raise_priority()  # not root: the default priority, as before
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout + LOOP_GRACE_S)
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
            asyncio.run_coroutine_threadsafe(_cancel_rest(), self.loop).result(LOOP_GRACE_S)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(LOOP_GRACE_S)
        if not self._thread.is_alive():
            self.loop.close()

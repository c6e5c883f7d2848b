"""The roster side: answers to the user's subscription requests."""

from __future__ import annotations

import asyncio

from harness.gtalk.errors import GtalkTimeout
from harness.gtalk.jid import bare_jid
from harness.gtalk.waiters import Waiters


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

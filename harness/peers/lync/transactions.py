"""Client transactions over a reliable transport (RFC 3261 section 17.1, TCP: no
retransmissions; Timer B/F = 64*T1 = 32 s).

``TransactionLayer.send`` sends a request and returns a :class:`ClientTransaction` whose
``final`` future resolves to the final response, or fails with ``TimeoutError`` (Timer B/F)
or ``ConnectionError`` (the connection closed first). Responses are matched on the top Via
branch and the CSeq method (17.1.3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.peers.common.tcp import SipConnection
from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response

TIMER_B_S = 32.0

ProvisionalFn = Callable[[Response], None]


@dataclass
class ClientTransaction:
    request: Request
    connection: SipConnection
    branch: str
    method: str
    final: asyncio.Future[Response]
    on_provisional: ProvisionalFn | None = None
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class TransactionLayer:
    def __init__(self, timeout_s: float = TIMER_B_S) -> None:
        self._pending: dict[tuple[str, str], ClientTransaction] = {}
        self._timeout_s = timeout_s

    def send(
        self,
        connection: SipConnection,
        request: Request,
        on_provisional: ProvisionalFn | None = None,
    ) -> ClientTransaction:
        loop = asyncio.get_running_loop()
        branch = request.via_branch or ""
        method = request.method
        txn = ClientTransaction(
            request, connection, branch, method, loop.create_future(), on_provisional
        )
        key = (branch, "INVITE" if method == "ACK" else method)
        if method == "ACK":  # no transaction: just send
            connection.send(request)
            txn.final.cancel()
            return txn
        self._pending[key] = txn
        txn.timer = loop.call_later(self._timeout_s, self._expire, key)
        if not connection.send(request):
            self._finish(key, exc=ConnectionError(f"connection to {connection.peer_text} closed"))
        return txn

    def on_response(self, response: Response) -> bool:
        """Deliver a response; False when no pending transaction matches (a stray)."""
        try:
            key = (response.via_branch or "", response.cseq[1])
        except SipParseError:
            return False
        txn = self._pending.get(key)
        if txn is None:
            return False
        if response.status < 200:
            if txn.on_provisional is not None:
                txn.on_provisional(response)
            return True
        self._finish(key, response=response)
        return True

    def on_closed(self, connection: SipConnection) -> None:
        for key, txn in list(self._pending.items()):
            if txn.connection is connection:
                self._finish(
                    key, exc=ConnectionError(f"connection to {connection.peer_text} closed")
                )

    def cancel_all(self) -> None:
        for key in list(self._pending):
            self._finish(key, exc=ConnectionError("shutting down"))

    def _expire(self, key: tuple[str, str]) -> None:
        self._finish(key, exc=TimeoutError(f"no final response in {self._timeout_s:g} s"))

    def _finish(
        self,
        key: tuple[str, str],
        response: Response | None = None,
        exc: BaseException | None = None,
    ) -> None:
        txn = self._pending.pop(key, None)
        if txn is None:
            return
        if txn.timer is not None:
            txn.timer.cancel()
        if txn.final.done():
            return
        if response is not None:
            txn.final.set_result(response)
        else:
            txn.final.set_exception(exc or ConnectionError("transaction aborted"))

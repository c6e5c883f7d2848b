"""What both simulators' user-agent cores share: the table of calls, the RTP ports, the
call context, shutting calls down, and the dispatch of requests outside a transaction's
retransmissions (CANCEL, in-dialog, INVITE, OPTIONS, the rest).

A simulator subclasses :class:`Simulator` and provides its answers: ``_reply`` (its wire
format), ``_on_cancel``, ``_on_invite``, ``_on_options`` and, for other methods it
serves, ``_on_other``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any, Generic, TypeVar

from harness.peers.common.call_base import CallContext, RecordedCall
from harness.peers.common.cli import SimulatorConfig
from harness.peers.common.endpoint import ServerTxn, SipEndpoint
from harness.peers.common.log import LineLog
from harness.peers.common.records import CallRecord, CallStore
from harness.peers.common.rtp_session import EventFn, RtpSession
from harness.rtp.tone import ToneGenerator
from harness.sip.message import Request

LINGER_S = 32.0  # keep an ended call to absorb late ACKs / retransmissions
COLLECT_EVERY = 20  # forgotten calls between full garbage collections

# Requests that only make sense inside a dialog: outside one, 481.
DIALOG_METHODS = ("BYE", "PRACK", "UPDATE", "INFO")

CallT = TypeVar("CallT", bound=RecordedCall)
F = TypeVar("F")


class Simulator(Generic[CallT, F]):
    """Calls by (Call-ID, local tag), the RTP ports in use, the request dispatch."""

    context_type: type[CallContext] = CallContext
    allow: tuple[str, str] = ("Allow", "")  # the Allow header of a 405

    def __init__(self, config: SimulatorConfig, log: LineLog, store: CallStore) -> None:
        self.config = config
        self.log = log
        self.store = store
        self.sip_port = config.sip_port
        self.control_port = config.control_port
        self._calls: dict[tuple[str, str], CallT] = {}  # (Call-ID, local tag)
        self._rtp_used: set[int] = set()
        self._forgotten = 0  # calls forgotten, for the collector's passes
        # OPTIONS outside a dialog (a gateway's qualify), oldest first: when, Call-ID, CSeq
        self.options_seen: list[dict[str, Any]] = []

    # -- calls ---------------------------------------------------------------------------

    def _context(self, record: CallRecord, behaviour: Any, **more: Any) -> Any:
        """A new call's context (``more``: the simulator's own fields)."""
        c = self.config
        return self.context_type(
            record=record,
            behaviour=behaviour,
            store=self.store,
            log=self.log,
            media_address=c.media_address or c.address,
            open_rtp=self._open_rtp,
            on_finished=self._call_finished,
            **more,
        )

    def _tone(self) -> ToneGenerator:
        """What the RTP sessions of outgoing media send."""
        raise NotImplementedError

    async def _open_rtp(self, on_event: EventFn) -> RtpSession:
        c = self.config
        return await RtpSession.open(
            c.bind, c.rtp_ports, self._rtp_used, on_event=on_event, tone=self._tone()
        )

    def _call_finished(self, call: CallT) -> None:
        asyncio.get_running_loop().call_later(LINGER_S, self._forget, call)

    def _forget(self, call: Any) -> None:
        key = (call.call_id, call.local_tag)
        if self._calls.get(key) is call:
            del self._calls[key]
        # A call's objects outlive the young generations' passes and, once forgotten, wait
        # as cyclic garbage for a full pass. Left to the collector's own schedule, one pass
        # freed 48k objects of some 700 calls and held the process 34 ms (RTP late on every
        # call up); a pass every COLLECT_EVERY calls frees a few thousand, in a few ms.
        self._forgotten += 1
        if self._forgotten % COLLECT_EVERY == 0:
            gc.collect()

    def sync_records(self) -> None:
        for call in self._calls.values():
            if not call.ended:
                call.sync_record()

    def _finish_calls(self) -> None:
        for call in list(self._calls.values()):
            call.finish("ended", "simulator shut down")

    # -- SIP requests --------------------------------------------------------------------

    def on_request(self, endpoint: SipEndpoint[F], txn: ServerTxn[F]) -> None:
        request = txn.request
        method = request.method
        to_tag = request.to_tag
        if method == "CANCEL":
            self._on_cancel(endpoint, txn)
        elif to_tag is not None:
            call = self._calls.get((request.call_id or "", to_tag))
            if call is not None and not call.ended:
                call.on_request(txn)
            else:
                self._reply(txn, 481)
        elif method == "INVITE":
            self._on_invite(endpoint, txn)
        elif method == "OPTIONS":
            self.options_seen.append({"time": time.time(), "call_id": request.call_id,
                                      "cseq": request.headers.get("CSeq")})
            self.store.touch()  # wakes a control client waiting for it
            self._on_options(txn)
        elif method in DIALOG_METHODS:
            self._reply(txn, 481)
        elif not self._on_other(endpoint, txn):
            self._reply(txn, 405, extra=[self.allow])

    def on_ack(self, endpoint: SipEndpoint[F], ack: Request, flow: F) -> None:
        call = self._calls.get((ack.call_id or "", ack.to_tag or ""))
        if call is not None:
            call.on_ack(ack)
        else:
            self.log(f"{endpoint.name} ACK outside any dialog absorbed")

    def _reply(
        self, txn: ServerTxn[F], status: int, *, extra: list[tuple[str, str]] | None = None
    ) -> Any:
        raise NotImplementedError

    def _on_cancel(self, endpoint: SipEndpoint[F], txn: ServerTxn[F]) -> None:
        raise NotImplementedError

    def _on_invite(self, endpoint: SipEndpoint[F], txn: ServerTxn[F]) -> None:
        raise NotImplementedError

    def _on_options(self, txn: ServerTxn[F]) -> None:
        raise NotImplementedError

    def _on_other(self, endpoint: SipEndpoint[F], txn: ServerTxn[F]) -> bool:
        """A method the dispatch does not know; False: 405."""
        return False

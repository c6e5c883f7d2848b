"""The asyncio driver of the sans-I/O transactions (:mod:`harness.sip.transaction`).

:class:`SipEndpoint` is one SIP transport (a UDP socket, or TCP connections) with its
transaction table. It runs the machines' events: :class:`~harness.sip.transaction.Transmit`
goes to the transport, timers become ``loop.call_later`` handles, a client transaction's
final response resolves its ``final`` future (``TimeoutError`` on Timer B/F,
``ConnectionError`` when the transport fails), provisional responses go to its
``on_provisional`` callback. ``F`` is how the transport names a peer: an address for UDP,
a connection for TCP.

Received requests that match a live server transaction are retransmissions (or the ACK of
a non-2xx): the machine answers them and the handler never sees them. Other requests make
a new :class:`ServerTxn` for :meth:`SipHandler.on_request`; the ACK of a 2xx goes to
:meth:`SipHandler.on_ack`, responses no client transaction takes (a retransmitted 2xx
to an INVITE, a stray) to :meth:`SipHandler.on_response`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.matching import ClientKey, ServerKey, TransactionTable
from harness.sip.message import Request, Response
from harness.sip.transaction import (
    AckFactory,
    CancelTimer,
    ClientTransaction,
    Event,
    FinalReceived,
    ProvisionalReceived,
    Retransmitted2xx,
    ServerTransaction,
    StartTimer,
    Terminated,
    TimedOut,
    TimerConfig,
    Transmit,
    TransportFailed,
)

Address = tuple[str, int]
LogFn = Callable[[str], None]
ProvisionalFn = Callable[[Response], None]

F = TypeVar("F")


def summary(message: Request | Response) -> str:
    """One line: start line, CSeq and Call-ID."""
    if isinstance(message, Request):
        first = f"{message.method} {message.uri}"
    else:
        first = f"{message.status} {message.reason}"
    cseq = message.headers.get("CSeq") or "?"
    call_id = message.headers.get("Call-ID") or "?"
    sdp = " +SDP" if message.body and b"v=0" in message.body[:8] else ""
    return f"{first} (CSeq {cseq}, Call-ID {call_id}{sdp})"


class SipHandler(Protocol[F]):
    """What the owner of an endpoint (the user agent core) is told."""

    def on_request(self, endpoint: SipEndpoint[F], txn: ServerTxn[F]) -> None:
        """A new request (not ACK); answer it with ``txn.respond``."""

    def on_ack(self, endpoint: SipEndpoint[F], ack: Request, flow: F) -> None:
        """An ACK that matched no INVITE server transaction (the ACK of a 2xx)."""

    def on_response(self, endpoint: SipEndpoint[F], response: Response, flow: F) -> None:
        """A response no client transaction took (a retransmitted 2xx, a stray)."""

    def on_invalid(
        self, endpoint: SipEndpoint[F], raw: bytes, error: SipParseError, flow: F
    ) -> None:
        """A message that is not valid SIP."""


class _Wrapped:
    machine: ClientTransaction | ServerTransaction

    @property
    def request(self) -> Request:
        return self.machine.request

    @property
    def method(self) -> str:
        return self.machine.method


@dataclass(eq=False)
class ClientTxn(_Wrapped, Generic[F]):
    endpoint: SipEndpoint[F]
    machine: ClientTransaction
    flow: F
    final: asyncio.Future[Response]
    on_provisional: ProvisionalFn | None = None
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> ClientKey:
        return self.machine.key

    @property
    def ack(self) -> Request | None:
        return self.machine.ack

    @property
    def sends(self) -> int:
        return self.machine.sends


@dataclass(eq=False)
class ServerTxn(_Wrapped, Generic[F]):
    endpoint: SipEndpoint[F]
    machine: ServerTransaction
    flow: F  # where the request came from
    target: F  # where responses go
    source: Address
    on_no_ack: Callable[[], None] | None = field(default=None, repr=False)
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> ServerKey:
        return self.machine.key

    @property
    def final_status(self) -> int | None:
        return self.machine.final_status

    @property
    def last_response(self) -> Response | None:
        return self.machine.last_response

    @property
    def acked(self) -> bool:
        return self.machine.acked

    def respond(self, response: Response, on_no_ack: Callable[[], None] | None = None) -> None:
        """Send ``response``; a final one to an INVITE waits for its ACK, and
        ``on_no_ack`` runs if none came (Timer H/L)."""
        try:
            events = self.machine.respond(response)
        except SipUsageError:
            self.endpoint.log(f"response after final dropped: {response.status} {response.reason}")
            return
        if response.status >= 200:
            self.on_no_ack = on_no_ack
        self.endpoint.run_server(self, events)

    def acknowledged(self) -> None:
        """The ACK of the 2xx arrived (matched by dialog): stop retransmitting it."""
        self.on_no_ack = None
        self.endpoint.run_server(self, self.machine.acknowledge())

    def terminate(self) -> None:
        self.endpoint.run_server(self, self.machine.terminate())


def _retrieve(future: asyncio.Future[Response]) -> None:
    if not future.cancelled():
        future.exception()


class SipEndpoint(Generic[F]):
    """One transport and its transactions. A subclass provides the I/O: ``_transmit``,
    ``_response_flow`` and ``_source``. ``name`` prefixes its log lines (``SIP``,
    ``SFA``)."""

    reliable = False

    def __init__(
        self,
        handler: SipHandler[F],
        log: LogFn,
        name: str = "SIP",
        *,
        timers: TimerConfig | None = None,
        verbose: bool = False,
    ) -> None:
        self.handler = handler
        self._log = log
        self.name = name
        self.timers = timers or TimerConfig()
        self.verbose = verbose
        self.port = 0  # the local port, once open
        self.table: TransactionTable[ClientTxn[F], ServerTxn[F]] = TransactionTable()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def t1(self) -> float:
        return self.timers.t1

    def log(self, text: str) -> None:
        self._log(text if text.startswith(self.name + " ") else f"{self.name} {text}")

    # -- the transport (subclasses) ----------------------------------------------------------

    def _transmit(self, message: Request | Response, flow: F, note: str | None) -> bool:
        raise NotImplementedError

    def _response_flow(self, request: Request, flow: F) -> F:
        """Where responses to ``request`` go (it may mark the request's Via)."""
        return flow

    def _source(self, flow: F) -> Address:
        raise NotImplementedError

    def _failure(self, flow: F) -> str:
        return "cannot send"

    # -- sending -------------------------------------------------------------------------------

    def send(self, message: Request | Response, flow: F, note: str | None = None) -> bool:
        """Send outside any transaction (the ACK of a 2xx, a stateless response)."""
        return self._transmit(message, flow, note)

    def reply(self, request: Request, response: Response, flow: F) -> bool:
        """A response to a request that has no transaction (one that could not be parsed)."""
        try:
            target = self._response_flow(request, flow)
        except (SipParseError, ValueError):
            target = flow
        return self._transmit(response, target, None)

    def request(
        self,
        request: Request,
        flow: F,
        on_provisional: ProvisionalFn | None = None,
        *,
        ack_factory: AckFactory | None = None,
    ) -> ClientTxn[F]:
        """Send a request in a new client transaction (not for ACK: use :meth:`send`)."""
        machine = ClientTransaction(
            request, self.timers, reliable=self.reliable, ack_factory=ack_factory
        )
        txn = ClientTxn(self, machine, flow, self.loop.create_future(), on_provisional)
        txn.final.add_done_callback(_retrieve)  # nobody may wait (CANCEL, at shutdown)
        self.table.add_client(txn)
        self.run_client(txn, machine.start())
        return txn

    def find_invite(self, cancel: Request) -> ServerTxn[F] | None:
        """The INVITE server transaction a CANCEL refers to (9.2)."""
        return self.table.find_invite(cancel)

    # -- receiving -----------------------------------------------------------------------------

    def receive(self, message: Request | Response, flow: F) -> None:
        """A parsed message from the transport."""
        if isinstance(message, Response):
            self._on_response(message, flow)
        else:
            self._on_request(message, flow)

    def invalid(self, raw: bytes, error: SipParseError, flow: F) -> None:
        self._guard(self.handler.on_invalid, self, raw, error, flow)

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - one bad message must not kill the peer
            self.log(f"handler error: {exc!r}")

    def _on_response(self, response: Response, flow: F) -> None:
        txn = self.table.match_response(response)
        if txn is None:
            self._guard(self.handler.on_response, self, response, flow)
            return
        self._guard(self.run_client, txn, txn.machine.receive(response))

    def _on_request(self, request: Request, flow: F) -> None:
        existing = self.table.match_request(request)
        if request.method == "ACK":
            if existing is not None and (existing.final_status or 0) >= 300:
                self.run_server(existing, existing.machine.receive(request))
                return
            self._guard(self.handler.on_ack, self, request, flow)
            return
        if existing is not None:
            if existing.last_response is not None:
                self.log(f"retransmission of {request.method}: last response sent again")
            else:
                self.log(f"retransmission of {request.method} absorbed (no response yet)")
            self.run_server(existing, existing.machine.receive(request))
            return
        target = self._response_flow(request, flow)
        machine = ServerTransaction(request, self.timers, reliable=self.reliable)
        txn = ServerTxn(self, machine, flow, target, self._source(flow))
        self.table.add_server(txn)
        if request.method != "INVITE":
            # A non-INVITE the core never answered is forgotten after 64*T1 so that the
            # table cannot grow for ever (an INVITE may ring for longer: the core always
            # ends it with a final response).
            txn.timers["forget"] = self.loop.call_later(
                self.timers.long + 1, self._forget_unanswered, txn
            )
        self._guard(self.handler.on_request, self, txn)

    def _forget_unanswered(self, txn: ServerTxn[F]) -> None:
        txn.timers.pop("forget", None)
        if txn.final_status is None:
            txn.terminate()

    def flow_closed(self, flow: F, reason: str) -> None:
        """The transport lost ``flow`` (a TCP connection): its client transactions fail."""
        for txn in self.table.clients():
            if txn.flow is flow:
                self.run_client(txn, txn.machine.transport_failed(reason))

    def close_transactions(self, reason: str) -> None:
        for ctxn in self.table.clients():
            self.run_client(ctxn, ctxn.machine.transport_failed(reason))
        for stxn in self.table.servers():
            stxn.terminate()

    # -- running the machines' events --------------------------------------------------------

    def run_client(self, txn: ClientTxn[F], events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Transmit):
                note = "RESEND" if event.retransmission else None
                if not self._transmit(event.message, txn.flow, note):
                    self.run_client(txn, txn.machine.transport_failed(self._failure(txn.flow)))
                    return
            elif isinstance(event, ProvisionalReceived):
                if not txn.final.done() and txn.on_provisional is not None:
                    txn.on_provisional(event.response)
            elif isinstance(event, FinalReceived):
                if not txn.final.done():
                    txn.final.set_result(event.response)
            elif isinstance(event, Retransmitted2xx):
                self._guard(self.handler.on_response, self, event.response, txn.flow)
            elif isinstance(event, TimedOut):
                self._fail(
                    txn, TimeoutError(f"no response to {txn.method} in {self.timers.long:g} s")
                )
            elif isinstance(event, TransportFailed):
                self._fail(txn, ConnectionError(event.reason))
            elif isinstance(event, Terminated):
                self._drop_timers(txn.timers)
                self.table.remove_client(txn)
            else:
                self._timer(txn.timers, event, lambda name: self._fire_client(txn, name))

    def run_server(self, txn: ServerTxn[F], events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Transmit):
                self._transmit(
                    event.message, txn.target, "RESEND" if event.retransmission else None
                )
            elif isinstance(event, TimedOut):
                callback, txn.on_no_ack = txn.on_no_ack, None
                if callback is not None:
                    self._guard(callback)
            elif isinstance(event, Terminated):
                self._drop_timers(txn.timers)
                self.table.remove_server(txn)
            elif isinstance(event, StartTimer | CancelTimer):
                self._timer(txn.timers, event, lambda name: self._fire_server(txn, name))

    def _fail(self, txn: ClientTxn[F], exc: BaseException) -> None:
        if not txn.final.done():
            txn.final.set_exception(exc)

    def _timer(
        self,
        handles: dict[str, asyncio.TimerHandle],
        event: Event,
        fire: Callable[[str], None],
    ) -> None:
        if isinstance(event, StartTimer):
            old = handles.pop(event.name, None)
            if old is not None:
                old.cancel()
            handles[event.name] = self.loop.call_later(event.delay, fire, event.name)
        elif isinstance(event, CancelTimer):
            handle = handles.pop(event.name, None)
            if handle is not None:
                handle.cancel()

    @staticmethod
    def _drop_timers(handles: dict[str, asyncio.TimerHandle]) -> None:
        for handle in handles.values():
            handle.cancel()
        handles.clear()

    def _fire_client(self, txn: ClientTxn[F], name: str) -> None:
        txn.timers.pop(name, None)
        self.run_client(txn, txn.machine.timer_fired(name))

    def _fire_server(self, txn: ServerTxn[F], name: str) -> None:
        txn.timers.pop(name, None)
        self.run_server(txn, txn.machine.timer_fired(name))

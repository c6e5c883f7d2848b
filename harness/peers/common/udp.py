"""SIP over UDP with RFC 3261 transactions (sections 17 and 18, RFC 3581 rport).

Generic (nothing Skype-specific): one :class:`UdpSipEndpoint` owns a UDP socket and the
client and server transactions that run over it.

Server side (17.2): a request that matches a live server transaction (top Via branch and
sent-by, CSeq method; ACK matches its INVITE) is a retransmission: the last response sent
is sent again and the handler never sees it. A non-2xx final response to an INVITE is
retransmitted (Timer G, T1 doubling up to T2) until the ACK with the same branch arrives
(absorbed here) or Timer H (64*T1) fires. The 2xx to an INVITE is retransmitted the same
way until :meth:`ServerTransaction.acknowledged` is called (the core matches that ACK by
dialog, 13.3.1.4). Responses go to the source address, to the source port when the top Via
has ``rport`` (RFC 3581), else to the Via's port; ``received``/``rport`` are added to the
top Via of the request on arrival so every response carries them (18.2.1).

Client side (17.1): INVITE requests are retransmitted with Timer A (T1 doubling) until a
response, and time out after Timer B (64*T1); other requests with Timer E (T1 doubling up
to T2, T2 after a provisional) and Timer F. A non-2xx final response to an INVITE is
ACKed here (17.1.1.3: same branch, Request-URI and Route, To from the response), again for
every retransmission of it during Timer D. A 2xx ends the INVITE transaction; its
retransmissions reach :meth:`UdpHandler.on_stray_response` so that the core re-sends
its ACK (13.2.2.4).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from harness.peers.common.tcp import summary
from harness.sip.builder import MAGIC_COOKIE, make_ack
from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.message import Headers, Request, Response, parse_message
from harness.sip.uri import Via, parse_vias

T1 = 0.5
T2 = 4.0
T4 = 5.0

Address = tuple[str, int]
LogFn = Callable[[str], None]
ProvisionalFn = Callable[[Response], None]


class UdpHandler(Protocol):
    """What the owner of an endpoint (the core) is told."""

    def on_request(self, endpoint: UdpSipEndpoint, txn: ServerTransaction) -> None:
        """A new request (not ACK); answer it with ``txn.respond``."""

    def on_ack(self, endpoint: UdpSipEndpoint, ack: Request, source: Address) -> None:
        """An ACK that matched no INVITE server transaction (the ACK of a 2xx)."""

    def on_stray_response(
        self, endpoint: UdpSipEndpoint, response: Response, source: Address
    ) -> None:
        """A response that matched no client transaction (e.g. a retransmitted 2xx)."""

    def on_invalid(
        self, endpoint: UdpSipEndpoint, raw: bytes, error: SipParseError, source: Address
    ) -> None:
        """A datagram that is not a valid SIP message."""


def _top_via(message: Request | Response) -> Via | None:
    values = message.headers.values("Via")
    if not values:
        return None
    try:
        return parse_vias(values[0])[0]
    except SipParseError:
        return None


def server_key(request: Request) -> tuple[str, ...]:
    """RFC 3261 17.2.3: branch + sent-by + method (ACK and INVITE share one), or for
    RFC 2543 peers (no magic cookie) Call-ID, From tag, CSeq number, method, top Via."""
    method = "INVITE" if request.method == "ACK" else request.method
    via = _top_via(request)
    branch = via.branch if via is not None else None
    if via is not None and branch and branch.startswith(MAGIC_COOKIE):
        return ("3261", branch, via.sent_by.lower(), method)
    try:
        number = str(request.cseq[0])
        from_tag = request.from_tag or ""
    except SipParseError:
        number, from_tag = "?", ""
    return (
        "2543",
        request.call_id or "",
        from_tag,
        number,
        method,
        str(via) if via is not None else "",
    )


def mark_received(request: Request, source: Address) -> Address:
    """Add ``received`` (and the ``rport`` value) to the request's top Via (RFC 3261
    18.2.1, RFC 3581 4) and return where responses must go (18.2.2, RFC 3581 5)."""
    values = request.headers.values("Via")
    if not values:
        return source
    first = request.headers.first("Via")
    assert first is not None
    try:
        line_vias = parse_vias(first.value)
    except SipParseError:
        return source
    via = line_vias[0]
    ip, port = source
    changed = False
    if via.has_param("rport") and via.rport is None:
        via.params = {
            **{k: v for k, v in via.params.items() if k.lower() != "rport"},
            "received": ip,
            "rport": str(port),
        }
        changed = True
        target = source
    else:
        if via.host.strip("[]") != ip:
            via.params = {**via.params, "received": ip}
            changed = True
        target = (ip, via.port or 5060)
    if changed:
        index = request.headers.indexes("Via")[0]
        new_value = ", ".join(str(v) for v in line_vias)
        items = request.headers.items()
        items[index] = (first.name, new_value)
        request.headers = Headers(items)  # names and order kept
    return target


@dataclass
class ServerTransaction:
    endpoint: UdpSipEndpoint
    request: Request
    source: Address
    target: Address
    key: tuple[str, ...]
    last_response: Response | None = None
    final_status: int | None = None
    acked: bool = False
    retransmits: int = 0
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _end_timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _on_no_ack: Callable[[], None] | None = field(default=None, repr=False)
    _interval: float = 0.0

    @property
    def method(self) -> str:
        return self.request.method

    def respond(self, response: Response, on_no_ack: Callable[[], None] | None = None) -> None:
        """Send ``response`` (and keep it for retransmitted requests). A final response
        to an INVITE is retransmitted until ACKed; ``on_no_ack`` runs if none came."""
        if self.final_status is not None:
            self.endpoint.log(
                f"SIP response after final dropped: {response.status} {response.reason}"
            )
            return
        self.last_response = response
        self.endpoint.send(response, self.target)
        if response.status < 200:
            return
        self.final_status = response.status
        t1 = self.endpoint.t1
        if self._end_timer is not None:
            self._end_timer.cancel()
        if self.method == "INVITE":
            self._on_no_ack = on_no_ack
            self._interval = t1
            self._timer = self.endpoint.loop.call_later(t1, self._retransmit)
            self._end_timer = self.endpoint.loop.call_later(64 * t1, self._timer_h)
        else:
            self._end_timer = self.endpoint.loop.call_later(64 * t1, self.terminate)

    def _retransmit(self) -> None:
        self._timer = None
        if self.acked or self.last_response is None:
            return
        self.retransmits += 1
        self.endpoint.send(self.last_response, self.target, note="RESEND")
        self._interval = min(self._interval * 2, self.endpoint.t2)
        self._timer = self.endpoint.loop.call_later(self._interval, self._retransmit)

    def _timer_h(self) -> None:
        self._end_timer = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.acked and self._on_no_ack is not None:
            callback, self._on_no_ack = self._on_no_ack, None
            callback()
        self.terminate()

    def acknowledged(self) -> None:
        """The ACK arrived: stop retransmitting the final response. The transaction stays
        (absorbing retransmitted INVITEs/ACKs) until Timer H/I would end it."""
        if self.acked:
            return
        self.acked = True
        self._on_no_ack = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def resend_last(self) -> None:
        if self.last_response is not None:
            self.endpoint.send(self.last_response, self.target, note="RESEND")

    def terminate(self) -> None:
        for handle in (self._timer, self._end_timer):
            if handle is not None:
                handle.cancel()
        self._timer = self._end_timer = None
        self.endpoint._server.pop(self.key, None)


@dataclass
class ClientTransaction:
    endpoint: UdpSipEndpoint
    request: Request
    destination: Address
    key: tuple[str, str]
    final: asyncio.Future[Response]
    on_provisional: ProvisionalFn | None = None
    provisional_seen: bool = False
    sends: int = 1
    ack: Request | None = None  # the ACK of a non-2xx final (INVITE)
    _timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    _timeout: asyncio.TimerHandle | None = field(default=None, repr=False)
    _interval: float = 0.0

    @property
    def method(self) -> str:
        return self.request.method

    def _start(self) -> None:
        loop = self.endpoint.loop
        self._interval = self.endpoint.t1
        self._timer = loop.call_later(self._interval, self._retransmit)
        self._timeout = loop.call_later(64 * self.endpoint.t1, self._expire)

    def _retransmit(self) -> None:
        self._timer = None
        if self.final.done():
            return
        if self.method == "INVITE" and self.provisional_seen:
            return  # Timer A stops in the Proceeding state
        self.sends += 1
        self.endpoint.send(self.request, self.destination, note="RESEND")
        if self.method == "INVITE":
            self._interval *= 2
        elif self.provisional_seen:
            self._interval = self.endpoint.t2
        else:
            self._interval = min(self._interval * 2, self.endpoint.t2)
        self._timer = self.endpoint.loop.call_later(self._interval, self._retransmit)

    def _expire(self) -> None:
        self._timeout = None
        if self.method == "INVITE" and self.provisional_seen:
            return  # Timer B only runs in Calling; the TU decides (CANCEL) after that
        self._finish(
            exc=TimeoutError(f"no response to {self.method} in {64 * self.endpoint.t1:g} s")
        )

    def _on_response(self, response: Response) -> None:
        if response.status < 200:
            if not self.final.done():
                self.provisional_seen = True
                if self.method != "INVITE" and self._timer is not None:
                    self._timer.cancel()
                    self._timer = self.endpoint.loop.call_later(self.endpoint.t2, self._retransmit)
                if self.on_provisional is not None:
                    self.on_provisional(response)
            return
        if self.method == "INVITE" and response.status >= 300:
            if self.ack is None:
                try:
                    self.ack = make_ack(self.request, response)
                except (SipUsageError, SipParseError) as exc:
                    self.endpoint.log(f"SIP cannot build ACK for {response.status}: {exc}")
            if self.ack is not None:
                note = None if not self.final.done() else "RESEND"
                self.endpoint.send(self.ack, self.destination, note=note)
            if not self.final.done():
                self._finish(response=response, linger=32.0)
            return
        if self.final.done():
            return
        self._finish(response=response, linger=T4 if self.method != "INVITE" else 0.0)

    def _finish(
        self,
        response: Response | None = None,
        exc: BaseException | None = None,
        linger: float = 0.0,
    ) -> None:
        for handle in (self._timer, self._timeout):
            if handle is not None:
                handle.cancel()
        self._timer = self._timeout = None
        if not self.final.done():
            if response is not None:
                self.final.set_result(response)
            else:
                self.final.set_exception(exc or ConnectionError("transaction aborted"))
        if linger > 0:  # Timer D / K: absorb retransmitted finals
            self._timeout = self.endpoint.loop.call_later(linger, self._forget)
        else:
            self._forget()

    def _forget(self) -> None:
        self._timeout = None
        if self.endpoint._client.get(self.key) is self:
            del self.endpoint._client[self.key]


def _retrieve(future: asyncio.Future[Response]) -> None:
    if not future.cancelled():
        future.exception()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: UdpSipEndpoint) -> None:
        self._endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._endpoint._datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.
        self._endpoint.log(f"SIP UDP error: {exc}")


class UdpSipEndpoint:
    """One UDP socket speaking SIP. ``name`` prefixes its log lines (``SIP``, ``SFA``)."""

    def __init__(
        self,
        handler: UdpHandler,
        log: LogFn,
        name: str = "SIP",
        *,
        t1: float = T1,
        t2: float = T2,
        verbose: bool = False,
    ) -> None:
        self.handler = handler
        self._log = log
        self.name = name
        self.t1 = t1
        self.t2 = t2
        self.verbose = verbose
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._server: dict[tuple[str, ...], ServerTransaction] = {}
        self._client: dict[tuple[str, str], ClientTransaction] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "endpoint not open"
        return self._loop

    def log(self, text: str) -> None:
        self._log(f"{self.name} {text}" if not text.startswith(self.name + " ") else text)

    async def open(self, host: str, port: int) -> int:
        self._loop = asyncio.get_running_loop()
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(host, port)
        )
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        return self.port

    def close(self) -> None:
        for txn in list(self._server.values()):
            txn.terminate()
        for ctxn in list(self._client.values()):
            ctxn._finish(exc=ConnectionError("endpoint closed"))
        self._client.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- sending ---------------------------------------------------------------------------

    def send(self, message: Request | Response, dest: Address, note: str | None = None) -> bool:
        data = message.serialize()
        what = note or "SEND"
        if self._transport is None:
            self.log(f"DROP (endpoint closed) {summary(message)}")
            return False
        try:
            self._transport.sendto(data, dest)
        except OSError as exc:
            self.log(f"{what} -> {dest[0]}:{dest[1]} failed ({exc}) {summary(message)}")
            return False
        self.log(f"{what} -> {dest[0]}:{dest[1]} {summary(message)}")
        if self.verbose:
            self._log(data.decode("utf-8", "replace"))
        return True

    def request(
        self,
        request: Request,
        destination: Address,
        on_provisional: ProvisionalFn | None = None,
    ) -> ClientTransaction:
        """Send a request in a new client transaction (not for ACK: use :meth:`send`)."""
        if request.method == "ACK":
            raise SipUsageError("ACK is not sent in a client transaction; use send()")
        key = (request.via_branch or "", request.method)
        txn = ClientTransaction(
            self, request, destination, key, self.loop.create_future(), on_provisional
        )
        txn.final.add_done_callback(_retrieve)  # nobody may wait (CANCEL, at shutdown)
        self._client[key] = txn
        if self.send(request, destination):
            txn._start()
        else:
            txn._finish(exc=ConnectionError(f"cannot send to {destination[0]}:{destination[1]}"))
        return txn

    def find_invite(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE server transaction a CANCEL refers to (9.2)."""
        key = server_key(cancel)
        return self._server.get((*key[:-1], "INVITE"))

    # -- receiving -------------------------------------------------------------------------

    def _datagram(self, data: bytes, source: Address) -> None:
        if not data.strip(b"\r\n\x00 "):
            return  # keep-alive
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self.log(f"RECV INVALID <- {source[0]}:{source[1]}: {exc.reason}")
            self._guard(self.handler.on_invalid, self, data, exc, source)
            return
        self.log(f"RECV <- {source[0]}:{source[1]} {summary(message)}")
        if self.verbose:
            self._log(data.decode("utf-8", "replace"))
        if isinstance(message, Response):
            self._on_response(message, source)
        else:
            self._on_request(message, source)

    def _guard(self, fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - one bad message must not kill the peer
            self.log(f"handler error: {exc!r}")

    def _on_response(self, response: Response, source: Address) -> None:
        try:
            key = (response.via_branch or "", response.cseq[1])
        except SipParseError:
            self.log("stray response dropped (bad CSeq/Via)")
            return
        txn = self._client.get(key)
        if txn is None:
            self._guard(self.handler.on_stray_response, self, response, source)
            return
        self._guard(txn._on_response, response)

    def _on_request(self, request: Request, source: Address) -> None:
        key = server_key(request)
        existing = self._server.get(key)
        if request.method == "ACK":
            if existing is not None and (existing.final_status or 0) >= 300:
                existing.acknowledged()  # ACK of a non-2xx: absorbed (17.2.1)
                return
            self._guard(self.handler.on_ack, self, request, source)
            return
        if existing is not None:
            if existing.last_response is not None:
                self.log(f"retransmission of {request.method}: last response sent again")
                existing.resend_last()
            else:
                self.log(f"retransmission of {request.method} absorbed (no response yet)")
            return
        target = mark_received(request, source)
        txn = ServerTransaction(self, request, source, target, key)
        self._server[key] = txn
        if request.method != "INVITE":
            # A non-INVITE the core never answered is forgotten after 64*T1 so that the
            # table cannot grow for ever (an INVITE may ring for longer: the core always
            # ends it with a final response).
            txn._end_timer = self.loop.call_later(64 * self.t1 + 1, self._forget_silent, txn)
        self._guard(self.handler.on_request, self, txn)

    def _forget_silent(self, txn: ServerTransaction) -> None:
        if txn.final_status is None:
            txn.terminate()

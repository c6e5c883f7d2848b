"""SIP over UDP (RFC 3261 section 18, RFC 3581 rport): one socket, unreliable.

The transactions and their retransmission timers are the sans-I/O machines of
:mod:`harness.sip.transaction`, run by :class:`~harness.peers.common.endpoint.SipEndpoint`.
Responses go where :func:`harness.sip.transport.mark_received` says (the source port when
the top Via has ``rport``, else the Via's port), after ``received``/``rport`` are added
to the top Via of the request on arrival so that every response carries them (18.2.1).
"""

from __future__ import annotations

import asyncio

from harness.peers.common.endpoint import Address, LogFn, SipEndpoint, SipHandler, summary
from harness.sip.errors import SipParseError
from harness.sip.message import Request, Response, parse_message
from harness.sip.transaction import TimerConfig
from harness.sip.transport import mark_received


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: UdpSipEndpoint) -> None:
        self._endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._endpoint.datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.
        self._endpoint.log(f"SIP UDP error: {exc}")


class UdpSipEndpoint(SipEndpoint[Address]):
    """One UDP socket speaking SIP. ``name`` prefixes its log lines (``SIP``, ``SFA``)."""

    reliable = False

    def __init__(
        self,
        handler: SipHandler[Address],
        log: LogFn,
        name: str = "SIP",
        *,
        t1: float = TimerConfig.t1,
        verbose: bool = False,
    ) -> None:
        super().__init__(handler, log, name, timers=TimerConfig(t1=t1), verbose=verbose)
        self._transport: asyncio.DatagramTransport | None = None

    async def open(self, host: str, port: int) -> int:
        self._loop = asyncio.get_running_loop()
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(host, port)
        )
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        return self.port

    def close(self) -> None:
        self.close_transactions("endpoint closed")
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _transmit(self, message: Request | Response, flow: Address, note: str | None) -> bool:
        data = message.serialize()
        what = note or "SEND"
        if self._transport is None:
            self.log(f"DROP (endpoint closed) {summary(message)}")
            return False
        try:
            self._transport.sendto(data, flow)
        except OSError as exc:
            self.log(f"{what} -> {flow[0]}:{flow[1]} failed ({exc}) {summary(message)}")
            return False
        self.log(f"{what} -> {flow[0]}:{flow[1]} {summary(message)}")
        if self.verbose:
            self._log(data.decode("utf-8", "replace"))
        return True

    def _response_flow(self, request: Request, flow: Address) -> Address:
        return mark_received(request, flow)

    def _source(self, flow: Address) -> Address:
        return flow

    def _failure(self, flow: Address) -> str:
        return f"cannot send to {flow[0]}:{flow[1]}"

    def datagram(self, data: bytes, source: Address) -> None:
        if not data.strip(b"\r\n\x00 "):
            return  # keep-alive
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self.log(f"RECV INVALID <- {source[0]}:{source[1]}: {exc.reason}")
            self.invalid(data, exc, source)
            return
        self.log(f"RECV <- {source[0]}:{source[1]} {summary(message)}")
        if self.verbose:
            self._log(data.decode("utf-8", "replace"))
        self.receive(message, source)

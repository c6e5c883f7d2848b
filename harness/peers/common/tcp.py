"""SIP over TCP (RFC 3261 section 18): connections that frame, parse and log messages.

Each connection reads with :class:`harness.sip.framing.StreamFramer`; every whole message
is parsed with :func:`harness.sip.message.parse_message` and handed to the endpoint, or
reported as invalid (the connection stays up). A framing error (no Content-Length, too
large) loses the message boundaries, so it closes that connection only.

:class:`TcpSipEndpoint` listens, opens (and reuses) outgoing connections and runs the
transactions over them (:class:`~harness.peers.common.endpoint.SipEndpoint`, reliable:
nothing is retransmitted). Responses go back on the connection the request came on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from harness.peers.common.endpoint import Address, SipEndpoint, SipHandler, summary
from harness.sip.errors import SipParseError
from harness.sip.framing import StreamFramer
from harness.sip.message import Request, Response, parse_message
from harness.sip.transaction import TimerConfig

LogFn = Callable[[str], None]


class ConnectionHandler(Protocol):
    def on_message(self, connection: SipConnection, message: Request | Response) -> None: ...

    def on_invalid(self, connection: SipConnection, raw: bytes, error: SipParseError) -> None: ...

    def on_closed(self, connection: SipConnection) -> None: ...


class SipConnection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: ConnectionHandler,
        log: LogFn,
        verbose: bool = False,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self._log = log
        self._verbose = verbose
        self._framer = StreamFramer()
        self.closed = False
        peer = writer.get_extra_info("peername") or ("?", 0)
        local = writer.get_extra_info("sockname") or ("?", 0)
        self.peer: tuple[str, int] = (str(peer[0]), int(peer[1]))
        self.local: tuple[str, int] = (str(local[0]), int(local[1]))

    @property
    def peer_text(self) -> str:
        return f"{self.peer[0]}:{self.peer[1]}"

    def send(self, message: Request | Response) -> bool:
        """Queue the message; False (and logged) when the connection is closed."""
        data = message.serialize()
        if self.closed or self._writer.is_closing():
            self._log(f"SIP DROP (connection to {self.peer_text} closed) {summary(message)}")
            return False
        self._writer.write(data)
        self._log(f"SIP SEND -> {self.peer_text} {summary(message)}")
        if self._verbose:
            self._log(data.decode("utf-8", "replace"))
        return True

    async def run(self) -> None:
        """Read until EOF or a framing error; never raises."""
        try:
            while not self.closed:
                data = await self._reader.read(65536)
                if not data:
                    break
                try:
                    chunks = self._framer.feed(data)
                except SipParseError as exc:
                    self._log(f"SIP FRAMING ERROR from {self.peer_text}: {exc.reason}; closing")
                    break
                for raw in chunks:
                    self._deliver(raw)
        except (ConnectionError, OSError) as exc:
            self._log(f"SIP connection {self.peer_text} error: {exc}")
        finally:
            self.close()

    def _deliver(self, raw: bytes) -> None:
        try:
            message = parse_message(raw)
        except SipParseError as exc:
            self._log(f"SIP RECV INVALID <- {self.peer_text}: {exc.reason}")
            self._handler.on_invalid(self, raw, exc)
            return
        self._log(f"SIP RECV <- {self.peer_text} {summary(message)}")
        if self._verbose:
            self._log(raw.decode("utf-8", "replace"))
        try:
            self._handler.on_message(self, message)
        except Exception as exc:  # noqa: BLE001 - one bad message must not kill the peer
            self._log(f"SIP handler error for {summary(message)}: {exc!r}")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._writer.close()
        self._log(f"SIP connection {self.peer_text} closed")
        self._handler.on_closed(self)


class TcpSipEndpoint(SipEndpoint[SipConnection]):
    """Listens for connections, opens (and reuses) outgoing ones, and runs the
    transactions over them."""

    reliable = True

    def __init__(
        self,
        handler: SipHandler[SipConnection],
        log: LogFn,
        verbose: bool = False,
        timers: TimerConfig | None = None,
    ) -> None:
        super().__init__(handler, log, "SIP", timers=timers, verbose=verbose)
        self._server: asyncio.Server | None = None
        self._outgoing: dict[tuple[str, int], SipConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[SipConnection] = set()

    # -- the connections' handler ------------------------------------------------------------

    def on_message(self, connection: SipConnection, message: Request | Response) -> None:
        self.receive(message, connection)

    def on_invalid(self, connection: SipConnection, raw: bytes, error: SipParseError) -> None:
        self.invalid(raw, error, connection)

    def on_closed(self, connection: SipConnection) -> None:
        self.flow_closed(connection, f"connection to {connection.peer_text} closed")

    # -- the endpoint's transport ------------------------------------------------------------

    def _transmit(self, message: Request | Response, flow: SipConnection, note: str | None) -> bool:
        return flow.send(message)

    def _source(self, flow: SipConnection) -> Address:
        return flow.peer

    def _failure(self, flow: SipConnection) -> str:
        return f"connection to {flow.peer_text} closed"

    # -- connections ---------------------------------------------------------------------------

    async def listen(self, host: str, port: int) -> int:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = SipConnection(reader, writer, self, self._log, self.verbose)
        self._log(f"SIP connection from {connection.peer_text}")
        self._connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await connection.run()
        except asyncio.CancelledError:
            # A server handler task: swallowing the cancellation here keeps asyncio's
            # stream callback from logging it as an error at shutdown.
            connection.close()
        finally:
            self._connections.discard(connection)
            if task is not None:
                self._tasks.discard(task)

    async def connect(self, host: str, port: int) -> SipConnection:
        """An open connection to host:port, reusing one this endpoint opened before."""
        existing = self._outgoing.get((host, port))
        if existing is not None and not existing.closed:
            return existing
        reader, writer = await asyncio.open_connection(host, port)
        connection = SipConnection(reader, writer, self, self._log, self.verbose)
        self._log(f"SIP connected to {connection.peer_text}")
        self._outgoing[(host, port)] = connection
        self._connections.add(connection)
        task = asyncio.get_running_loop().create_task(connection.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _t: self._connections.discard(connection))
        return connection

    async def close(self) -> None:
        self.close_transactions("shutting down")
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        if self._tasks:  # readers see EOF and end by themselves; give them a moment
            await asyncio.wait(list(self._tasks), timeout=1.0)
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

"""A blocking AMI client: the socket around harness.gateway.ami's protocol.

One connection, one caller at a time (not thread-safe). Every read blocks in `select`
until bytes arrive or the deadline passes; nothing sleeps. Events that arrive while an
action waits for its response are queued for `wait_for`, not dropped.
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import NoReturn

from harness.gateway.ami import (
    AmiError,
    AmiProtocolError,
    Banner,
    Connection,
    Event,
    Response,
)

__all__ = [
    "AmiActionError",
    "AmiClient",
    "AmiConnectionError",
    "AmiError",
    "AmiLoginError",
    "AmiProtocolError",
]

# Hangup and channel events ("call") and boot, reload and peer/contact status ("system"):
# what the suite waits for, without the per-packet RTCP and per-step dialplan events.
DEFAULT_EVENTS = "system,call"
# unread events kept at most; the oldest go first (a session that never waits)
MAX_QUEUED_EVENTS = 20_000


class AmiConnectionError(AmiError):
    """No AMI there, the connection broke, or Asterisk did not answer in time."""


class AmiLoginError(AmiError):
    """Asterisk refused the username/secret (or its permit= does not cover us)."""


class AmiActionError(AmiError):
    """Asterisk answered an action with ``Response: Error``."""

    def __init__(self, message: str, response: Response) -> None:
        super().__init__(message)
        self.response = response


class AmiClient:
    """A logged-in AMI session. Make one with `AmiClient.connect`."""

    def __init__(
        self, sock: socket.socket, host: str, port: int, timeout: float, banner: Banner,
        connection: Connection,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.banner = banner
        self.dropped_events = 0
        self._sock: socket.socket | None = sock
        self._conn = connection
        self._events: deque[Event] = deque()
        self._responses: dict[str, Response] = {}
        self._abandoned: set[str] = set()
        self._fully_booted = False

    @classmethod
    def connect(
        cls, host: str, port: int, username: str, secret: str, timeout: float = 10.0,
        *, events: str = DEFAULT_EVENTS,
    ) -> AmiClient:
        """Connects, reads the banner and logs in; `timeout` bounds each step."""
        where = f"{host}:{port}"
        no_ami = f"no AMI at {where}: is the gateway up and manager.conf enabled/bound there?"
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError:
            raise AmiConnectionError(f"{no_ami} (no answer within {timeout:g} s)") from None
        except OSError as exc:
            raise AmiConnectionError(f"{no_ami} ({exc.strerror or exc})") from None
        conn = Connection()
        deadline = time.monotonic() + timeout
        banner: Banner | None = None
        pending: list[Event | Response] = []
        try:
            while banner is None:
                data = _recv_until(sock, deadline)
                if data is None:
                    raise AmiConnectionError(f"{no_ami} (no banner within {timeout:g} s)")
                if not data:
                    raise AmiConnectionError(f"{no_ami} (closed before Asterisk's banner)")
                for message in conn.receive(data):
                    if isinstance(message, Banner):
                        banner = message
                    else:
                        pending.append(message)
        except AmiProtocolError as exc:
            sock.close()
            raise AmiConnectionError(f"{where}: {exc}") from None
        except OSError as exc:
            sock.close()
            raise AmiConnectionError(f"{no_ami} ({exc})") from None
        except AmiError:
            sock.close()
            raise
        client = cls(sock, host, port, timeout, banner, conn)
        for message in pending:
            client._keep(message)
        try:
            response = client.action("Login", Username=username, Secret=secret, Events=events)
        except AmiError:
            client.close()
            raise
        if not response.ok:
            client.close()
            raise AmiLoginError(
                f"AMI login refused for {username}: check the credentials (manager.conf), "
                f"and that the user's permit= covers this host ({response.message})"
            )
        return client

    # -- asking ------------------------------------------------------------------------

    def action(self, name: str, **fields: str | int | list[str] | tuple[str, ...]) -> Response:
        """Sends an action and returns its response; a list action's response carries its
        events (`Response.events`). An Error response is returned, not raised."""
        action_id, data = self._conn.send_action(name, **fields)
        self._send(data, name)
        deadline = time.monotonic() + self.timeout
        while action_id not in self._responses:
            if not self._read(deadline):
                self._abandoned.add(action_id)
                raise AmiConnectionError(
                    f"AMI at {self.host}:{self.port} did not answer {name} within "
                    f"{self.timeout:g} s"
                )
        return self._responses.pop(action_id)

    def command(self, cli: str) -> str:
        """A CLI command's output (what `asterisk -rx` prints), lines joined by LF."""
        response = self.action("Command", Command=cli)
        text = "\n".join(response.output)
        if not response.ok:
            raise AmiActionError(
                f"Asterisk refused the CLI command {cli!r}: {text or response.message}",
                response,
            )
        return text

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float) -> Event | None:
        """The first event, queued or arriving within `timeout` s, that `predicate` accepts;
        the events before it are consumed. None at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            while self._events:
                event = self._events.popleft()
                if predicate(event):
                    return event
            if not self._read(deadline):
                return None

    def drain_events(self) -> list[Event]:
        """The queued events, oldest first; the queue is empty afterwards."""
        events = list(self._events)
        self._events.clear()
        return events

    @property
    def fully_booted(self) -> bool:
        """Asterisk sends FullyBooted right after a login once it has booted: true from the
        first action after `connect` on."""
        return self._fully_booted

    # -- life --------------------------------------------------------------------------

    def close(self) -> None:
        """Logs off (without waiting for Goodbye) and closes the socket; idempotent."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            _, data = self._conn.send_action("Logoff")
            sock.sendall(data)
        except OSError:
            pass  # already gone: nothing to log off from
        finally:
            sock.close()

    def __enter__(self) -> AmiClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- socket ------------------------------------------------------------------------

    def _live(self) -> socket.socket:
        if self._sock is None:
            raise AmiConnectionError(f"the AMI connection to {self.host}:{self.port} is closed")
        return self._sock

    def _send(self, data: bytes, what: str) -> None:
        sock = self._live()
        try:
            sock.sendall(data)
        except OSError as exc:
            self._broken(f"sending {what} failed ({exc})")

    def _read(self, deadline: float) -> bool:
        """Reads once and routes what arrived; False when the deadline passed first."""
        sock = self._live()
        try:
            data = _recv_until(sock, deadline)
        except OSError as exc:
            self._broken(f"reading failed ({exc})")
        if data is None:
            return False
        if not data:
            self._broken("Asterisk closed the connection")
        try:
            messages = self._conn.receive(data)
        except AmiProtocolError as exc:
            self._broken(str(exc))
        for message in messages:
            self._keep(message)
        return True

    def _keep(self, message: Event | Response | Banner) -> None:
        if isinstance(message, Event):
            if message.name == "FullyBooted":
                self._fully_booted = True
            if len(self._events) >= MAX_QUEUED_EVENTS:
                self._events.popleft()
                self.dropped_events += 1
            self._events.append(message)
        elif isinstance(message, Response) and message.action_id is not None:
            if message.action_id in self._abandoned:
                self._abandoned.discard(message.action_id)
            else:
                self._responses[message.action_id] = message

    def _broken(self, why: str) -> NoReturn:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        raise AmiConnectionError(f"AMI connection to {self.host}:{self.port}: {why}") from None


def _recv_until(sock: socket.socket, deadline: float) -> bytes | None:
    """One recv once the socket is readable; None if the deadline passes first, b"" when
    the peer closed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    readable, _, _ = select.select([sock], [], [], remaining)
    if not readable:
        return None
    return sock.recv(65536)

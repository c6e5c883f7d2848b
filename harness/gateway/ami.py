"""The Asterisk Manager Interface (AMI) protocol, without I/O (like h11): bytes from the
socket go in, typed messages come out; actions go in, bytes for the socket come out.

The wire format (Asterisk's manager, TCP 5038):
- on connecting, one banner line: ``Asterisk Call Manager/11.0.0`` (the AMI version);
- then packets of ``Key: Value`` lines (CRLF), each packet ended by an empty line;
- an action carries ``Action: Name`` and an ``ActionID`` that its response repeats;
- a response is ``Response: Success|Error|Follows|Goodbye`` with a ``Message``;
- events are ``Event: Name`` packets, unsolicited or answering an action;
- a list action answers ``Response: Success`` with ``EventList: start``, then one event per
  item carrying the ActionID, then a closing event with ``EventList: Complete``;
- the ``Command`` action (a CLI command) answers, in Asterisk 14 and later (16, 22), with
  one ``Output: line`` header per line of output; older Asterisk answers
  ``Response: Follows``, a few headers, the raw output and ``--END COMMAND--``.

A list action's response is held back until its list is complete and then given out once,
with its items attached (`Response.events`), so a caller never reassembles lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import count

__all__ = [
    "AmiError",
    "AmiProtocolError",
    "Banner",
    "Connection",
    "Event",
    "Message",
    "Packet",
    "Response",
    "BANNER_PREFIX",
]

BANNER_PREFIX = "Asterisk Call Manager/"
_END_COMMAND = b"--END COMMAND--"
# the headers Asterisk puts before the raw output of a `Response: Follows` packet
_FOLLOWS_HEADERS = frozenset({"response", "privilege", "actionid", "message"})
# a packet this large without its ending is not AMI (a CLI dump is well under 1 MiB)
MAX_PACKET = 8 * 1024 * 1024


class AmiError(Exception):
    """Anything that went wrong talking to an Asterisk manager."""


class AmiProtocolError(AmiError):
    """The bytes received are not AMI (garbage, a line without ':', a foreign banner), or
    an action cannot be written as AMI. The message names the problem."""


@dataclass(frozen=True)
class Banner:
    """The line Asterisk sends on connecting: ``Asterisk Call Manager/<AMI version>``."""

    version: str


@dataclass(frozen=True)
class Packet:
    """``Key: Value`` lines in their order; keys may repeat (``Output``, ``Variable``)."""

    headers: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (case-insensitive, as Asterisk reads keys)."""
        wanted = key.lower()
        for name, value in self.headers:
            if name.lower() == wanted:
                return value
        return default

    def get_all(self, key: str) -> tuple[str, ...]:
        wanted = key.lower()
        return tuple(value for name, value in self.headers if name.lower() == wanted)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(f"AMI packet has no {key!r} field: {self.text()!r}")
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def text(self) -> str:
        """The packet as Asterisk wrote it (LF line ends), for reports and errors."""
        return "\n".join(f"{name}: {value}" for name, value in self.headers)


@dataclass(frozen=True)
class Event(Packet):
    @property
    def name(self) -> str:
        return self.get("Event") or ""

    @property
    def completes_list(self) -> bool:
        return (self.get("EventList") or "").lower() == "complete"


@dataclass(frozen=True)
class Response(Packet):
    # the action's name, when this connection sent it
    action: str | None = None
    # the Command action's output lines, from either form Asterisk writes
    output: tuple[str, ...] = ()
    # a list action's items, in order, and the event that closed the list
    events: tuple[Event, ...] = ()
    complete: Event | None = None

    @property
    def status(self) -> str:
        return self.get("Response") or ""

    @property
    def ok(self) -> bool:
        return self.status.lower() in ("success", "follows", "goodbye")

    @property
    def message(self) -> str:
        return self.get("Message") or ""

    @property
    def starts_list(self) -> bool:
        return (self.get("EventList") or "").lower() == "start"

    def text(self) -> str:
        parts = [super().text(), *(e.text() for e in self.events)]
        if self.complete is not None:
            parts.append(self.complete.text())
        return "\n\n".join(parts)


Message = Banner | Response | Event


def _check_field(kind: str, text: str) -> None:
    if "\r" in text or "\n" in text:
        raise AmiProtocolError(
            f"AMI {kind} {text!r} contains a line break: an AMI field is one line "
            "(send several values as a list)"
        )


@dataclass
class Connection:
    """One client's side of an AMI session, as a state machine over bytes.

    `receive` buffers partial data and returns whole messages; `send_action` numbers the
    action and returns its bytes. After a protocol error the connection stays broken:
    every later `receive` raises the same error.
    """

    id_prefix: str = "harness-"
    _buffer: bytearray = field(default_factory=bytearray, repr=False)
    _banner: Banner | None = field(default=None, repr=False)
    _ids: Iterator[int] = field(default_factory=lambda: count(1), repr=False)
    _sent: dict[str, str] = field(default_factory=dict, repr=False)
    _lists: dict[str, tuple[Response, list[Event]]] = field(default_factory=dict, repr=False)
    _broken: AmiProtocolError | None = field(default=None, repr=False)

    @property
    def banner(self) -> Banner | None:
        return self._banner

    def send_action(
        self, name: str, **fields: str | int | list[str] | tuple[str, ...]
    ) -> tuple[str, bytes]:
        """``(action_id, bytes)`` for ``Action: name`` with ``fields``; a list or tuple value
        repeats its key (``Variable=["A=1", "B=2"]``). An ``ActionID`` field is kept."""
        _check_field("action name", name)
        given = fields.pop("ActionID", None)
        action_id = str(given) if given is not None else f"{self.id_prefix}{next(self._ids)}"
        _check_field("ActionID", action_id)
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for key, value in fields.items():
            _check_field("field name", key)
            values = value if isinstance(value, list | tuple) else (value,)
            for one in values:
                text = str(one)
                _check_field(f"value of {key}", text)
                lines.append(f"{key}: {text}")
        self._sent[action_id] = name
        return action_id, ("\r\n".join(lines) + "\r\n\r\n").encode()

    def receive(self, data: bytes) -> list[Message]:
        """The messages completed by ``data`` (possibly none); the rest stays buffered."""
        if self._broken is not None:
            raise self._broken
        self._buffer += data
        out: list[Message] = []
        try:
            if self._banner is None:
                banner = self._take_banner()
                if banner is None:
                    return out
                out.append(banner)
            while (packet := self._take_packet()) is not None:
                message = self._route(packet)
                if message is not None:
                    out.append(message)
        except AmiProtocolError as exc:
            self._broken = exc
            raise
        return out

    # -- framing -----------------------------------------------------------------------

    def _take_banner(self) -> Banner | None:
        end = self._buffer.find(b"\n")
        head = bytes(self._buffer if end < 0 else self._buffer[:end])
        prefix = BANNER_PREFIX.encode()
        if not (head.startswith(prefix) or prefix.startswith(head)):
            raise AmiProtocolError(
                f"expected Asterisk's banner {BANNER_PREFIX}x.y.z, got "
                f"{head[:80].decode('utf-8', 'replace')!r}: this port is not an Asterisk "
                "manager (AMI)"
            )
        if end < 0:
            self._check_size(head)
            return None
        del self._buffer[: end + 1]
        version = head.decode("utf-8", "replace").rstrip("\r")[len(BANNER_PREFIX):]
        self._banner = Banner(version.strip())
        return self._banner

    def _take_packet(self) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...] | None] | None:
        """The next packet's headers and, for ``Response: Follows``, its raw output."""
        # empty lines between packets carry nothing (Asterisk writes some after errors)
        while self._buffer.startswith(b"\r\n"):
            del self._buffer[:2]
        if not self._buffer:
            return None
        if self._is_follows():
            return self._take_follows()
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            self._check_size(self._buffer)
            return None
        raw = bytes(self._buffer[:end])
        del self._buffer[: end + 4]
        # a stray LF inside a packet is no line ("Message: No Contacts found\n\r\n\r\n")
        return tuple(_header(line) for line in _lines(raw) if line), None

    def _is_follows(self) -> bool:
        end = self._buffer.find(b"\n", 0, 64)
        return end >= 0 and self._buffer[:end].rstrip(b"\r").lower() == b"response: follows"

    def _take_follows(self) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]] | None:
        # the raw output may hold empty lines and colons: only the marker ends it
        marker = self._buffer.find(_END_COMMAND)
        if marker < 0:
            self._check_size(self._buffer)
            return None
        rest = bytes(self._buffer[marker + len(_END_COMMAND):])
        if not rest.startswith(b"\r\n\r\n"):
            if b"\r\n\r\n".startswith(rest):
                return None
            raise AmiProtocolError(
                "a Response: Follows packet's --END COMMAND-- is not followed by an empty "
                "line: the stream is out of step"
            )
        body = bytes(self._buffer[:marker])
        del self._buffer[: marker + len(_END_COMMAND) + 4]
        lines = _lines(body)
        headers: list[tuple[str, str]] = []
        while lines:
            key, sep, _ = lines[0].partition(":")
            if not sep or key.strip().lower() not in _FOLLOWS_HEADERS:
                break
            headers.append(_header(lines.pop(0)))
        while lines and lines[-1] == "":
            lines.pop()
        return tuple(headers), tuple(lines)

    def _check_size(self, pending: bytes | bytearray) -> None:
        if len(pending) > MAX_PACKET:
            raise AmiProtocolError(
                f"{len(pending)} bytes without the end of an AMI packet (an empty line): "
                "the peer is not speaking AMI"
            )

    # -- matching ----------------------------------------------------------------------

    def _route(
        self, packet: tuple[tuple[tuple[str, str], ...], tuple[str, ...] | None]
    ) -> Message | None:
        headers, follows = packet
        keys = {name.lower() for name, _ in headers}
        if "event" in keys:
            event = Event(headers)
            held = self._lists.get(event.action_id or "")
            if held is None:
                return event
            response, items = held
            if not event.completes_list:
                items.append(event)
                return None
            del self._lists[event.action_id or ""]
            return replace(response, events=tuple(items), complete=event)
        if "response" in keys:
            action_id = Packet(headers).action_id
            name = self._sent.pop(action_id, None) if action_id is not None else None
            output = follows if follows is not None else Packet(headers).get_all("Output")
            response = Response(headers, action=name, output=output)
            if response.starts_list and action_id is not None:
                self._lists[action_id] = (response, [])
                return None
            return response
        raise AmiProtocolError(
            f"AMI packet has neither Response nor Event: {Packet(headers).text()[:200]!r}"
        )


def _lines(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", "replace")
    return [line.rstrip("\r") for line in text.split("\n")]


def _header(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(":")
    if not sep or not key.strip():
        raise AmiProtocolError(
            f"AMI line {line[:120]!r} is not 'Key: Value': the peer is not speaking AMI "
            "or the stream is out of step"
        )
    # exactly one space follows the colon; more belongs to the value (CLI indentation)
    return key.strip(), value[1:] if value.startswith(" ") else value

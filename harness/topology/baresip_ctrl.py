"""baresip's ctrl_tcp protocol, sans I/O: netstring framing, commands, responses, events.

ctrl_tcp (baresip 1.0, Debian bookworm's baresip-core) carries JSON objects, each framed as
a netstring (D. J. Bernstein's ``<length>:<bytes>,``), both ways on one TCP connection:

- a command: ``{"command": "dial", "params": "+14255550150", "token": "7"}``; the params are
  one string (the menu module's long command line after the name);
- its response: ``{"response": true, "ok": true, "data": "<the command's text output>",
  "token": "7"}``; ``ok`` false carries the error text in ``data``;
- an event, whenever the user agent has one: ``{"event": true, "class": "call",
  "type": "CALL_ESTABLISHED", "accountaor": "sip:1000@...", "direction": "outgoing",
  "peeruri": "sip:...", "id": "<the call's id>", "param": "..."}``.

baresip accepts one control connection at a time (a new one drops the old), and answers
commands in order; events can come between a command and its response.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TypeAlias

# the reference implementation's limit (about 1 GB); baresip's messages are a few hundred bytes
MAX_LENGTH_DIGITS = 9


class CtrlProtocolError(ValueError):
    """The byte stream is not ctrl_tcp: the message names what was wrong."""


def encode_netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


@dataclass
class NetstringDecoder:
    """Frames out of a byte stream: ``feed`` returns every frame completed by its bytes."""

    buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        frames: list[bytes] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _next(self) -> bytes | None:
        colon = self.buffer.find(b":")
        if colon < 0:
            if self.buffer and (len(self.buffer) > MAX_LENGTH_DIGITS
                                or not self.buffer.isdigit()):
                self._reject("a netstring starts with its length in digits and a colon")
            return None
        digits = bytes(self.buffer[:colon])
        if not digits.isdigit() or len(digits) > MAX_LENGTH_DIGITS:
            self._reject(f"a netstring length must be 1-{MAX_LENGTH_DIGITS} digits")
        if len(digits) > 1 and digits.startswith(b"0"):
            self._reject("a netstring length has no leading zeros")
        length = int(digits)
        end = colon + 1 + length
        if len(self.buffer) <= end:
            return None  # the rest has not come yet
        if self.buffer[end : end + 1] != b",":
            self._reject(f"a netstring of {length} bytes must end in ','")
        frame = bytes(self.buffer[colon + 1 : end])
        del self.buffer[: end + 1]
        return frame

    def _reject(self, what: str) -> None:
        start = bytes(self.buffer[:40])
        self.buffer.clear()
        raise CtrlProtocolError(f"not ctrl_tcp framing ({what}): received {start!r}")


@dataclass(frozen=True)
class Response:
    """A command's response: ``data`` is the command's text output (or its error)."""

    ok: bool
    data: str
    token: str | None


@dataclass(frozen=True)
class Event:
    """A user-agent event; ``call_id`` is baresip's id of the call (None for others)."""

    type: str
    cls: str
    param: str = ""
    accountaor: str = ""
    direction: str = ""
    peeruri: str = ""
    call_id: str | None = None
    fields: dict[str, object] = field(default_factory=dict, compare=False)

    def brief(self) -> str:
        who = f" {self.direction} {self.peeruri}".rstrip() if self.call_id else ""
        return f"{self.type}{who}" + (f" ({self.param})" if self.param else "")


Message: TypeAlias = Response | Event


def parse_message(frame: bytes) -> Message:
    """One frame's JSON as a response or an event."""
    try:
        obj = json.loads(frame)
    except ValueError as exc:
        raise CtrlProtocolError(f"ctrl_tcp frame is not JSON ({exc}): {frame[:80]!r}") from None
    if not isinstance(obj, dict):
        raise CtrlProtocolError(f"ctrl_tcp frame is not a JSON object: {frame[:80]!r}")
    if _truthy(obj.get("response")):
        token = obj.get("token")
        return Response(bool(obj.get("ok")), str(obj.get("data") or ""),
                        None if token is None else str(token))
    # baresip 1.0 sends "event": true; its documentation shows the string "true"
    if _truthy(obj.get("event")):
        call_id = obj.get("id")
        return Event(
            type=str(obj.get("type") or ""),
            cls=str(obj.get("class") or ""),
            param=str(obj.get("param") or ""),
            accountaor=str(obj.get("accountaor") or ""),
            direction=str(obj.get("direction") or ""),
            peeruri=str(obj.get("peeruri") or ""),
            call_id=None if call_id is None else str(call_id),
            fields=dict(obj),
        )
    raise CtrlProtocolError(f"ctrl_tcp frame is neither a response nor an event: {obj!r}")


def _truthy(value: object) -> bool:
    return value is True or value == "true"


def encode_command(command: str, params: str | None, token: str) -> bytes:
    """The framed command; baresip reads ``params`` as one string."""
    if not command or any(c.isspace() for c in command):
        raise ValueError(f"a baresip command is one word, not {command!r}")
    body: dict[str, str] = {"command": command, "token": token}
    if params:
        body["params"] = params
    return encode_netstring(json.dumps(body).encode())


@dataclass
class CtrlSession:
    """The client side of one connection: tokens for commands, messages from bytes."""

    decoder: NetstringDecoder = field(default_factory=NetstringDecoder)
    sent: int = 0

    def command(self, command: str, params: str | None = None) -> tuple[str, bytes]:
        """(token, bytes to send)."""
        self.sent += 1
        token = str(self.sent)
        return token, encode_command(command, params, token)

    def receive(self, data: bytes) -> list[Message]:
        return [parse_message(frame) for frame in self.decoder.feed(data)]


# ANSI colour codes in the menu module's text output (reginfo colours OK green)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_REG_LINE = re.compile(r"^[> ] (?P<aor>\S+)\s+(?P<status>OK|ERR|zzz)\b")


def registrations(reginfo: str) -> dict[str, str]:
    """AOR -> ``OK``, ``ERR`` or ``zzz`` (not yet answered) from ``reginfo``'s output:
    ``> sip:1000@192.168.100.10    OK  192.168.100.10 Expires 3600s``. An account that
    does not register has no status."""
    found: dict[str, str] = {}
    for line in _ANSI.sub("", reginfo).splitlines():
        match = _REG_LINE.match(line)
        if match:
            found[match["aor"]] = match["status"]
    return found


__all__ = [
    "CtrlProtocolError",
    "CtrlSession",
    "Event",
    "Message",
    "NetstringDecoder",
    "Response",
    "encode_command",
    "encode_netstring",
    "parse_message",
    "registrations",
]

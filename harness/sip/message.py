"""SIP messages that keep their wire form: parse, inspect, change, serialise.

A parsed message remembers the bytes it came from (``raw``); ``serialize()`` returns those
bytes unchanged as long as the start line, the headers (names, values, order) and the body
are unchanged. After any change the message is rebuilt: start line, one ``Name: value`` line
a header in list order (names exactly as stored, so Lync's ``CONTENT-LENGTH`` stays upper
case and repeated ``ALLOW:`` lines stay separate), CRLF line ends, an empty line, the body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.headers import COMPACT_FORMS, Header, Headers, compact_form, header_key
from harness.sip.parsing import (
    ENCODING,
    ERRORS,
    SIP_VERSION,
    RequestLine,
    parse_content_length,
    parse_cseq,
    parse_header_lines,
    parse_start_line,
    split_lines,
    validate_headers,
)
from harness.sip.uri import NameAddr, SipUri, parse_vias

if TYPE_CHECKING:
    from harness.sip.sdp import SessionDescription


def _coerce_headers(headers: Headers | Iterable[Header | tuple[str, str]] | None) -> Headers:
    if headers is None:
        return Headers()
    if isinstance(headers, Headers):
        return headers
    return Headers(headers)


def _coerce_body(body: bytes | bytearray | memoryview | str | None) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode(ENCODING, ERRORS)
    return bytes(body)


@dataclass(eq=True)
class SipMessage:
    """Fields and behaviour shared by :class:`Request` and :class:`Response`.

    These fields follow the start-line fields in the constructor: a subclass lists its
    start-line base after this class, and a dataclass takes the fields of the bases last
    in the method resolution order first.
    """

    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = SIP_VERSION
    raw: bytes | None = field(default=None, compare=False, repr=False)
    #: bytes after ``Content-Length`` octets of body in the parsed datagram (ignored)
    trailing: bytes = field(default=b"", compare=False, repr=False)
    _snapshot: tuple[object, ...] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        self.headers = _coerce_headers(self.headers)
        self.body = _coerce_body(self.body)
        self._check_start()

    def _check_start(self) -> None:
        """Normalise or reject the start-line fields given to the constructor."""
        raise NotImplementedError

    @property
    def start_line(self) -> str:
        """``INVITE sip:... SIP/2.0`` or ``SIP/2.0 200 OK`` (as it would be serialised)."""
        raise NotImplementedError

    def _start_state(self) -> tuple[object, ...]:
        raise NotImplementedError

    def _state(self) -> tuple[object, ...]:
        return (self._start_state(), self.headers._state(), self.body)

    @property
    def is_request(self) -> bool:
        return isinstance(self, Request)

    @property
    def is_modified(self) -> bool:
        """True unless this is a parsed message left exactly as parsed."""
        return self.raw is None or self._snapshot != self._state()

    # -- serialising -----------------------------------------------------------------
    def serialize(self, *, fix_length: bool = False) -> bytes:
        """The message as bytes.

        A parsed, unchanged message gives back ``raw`` exactly (with ``fix_length`` only
        if its Content-Length already equals the body length). Otherwise the message is
        rebuilt with CRLF line ends; ``Content-Length: <len(body)>`` is appended when the
        message has none, and with ``fix_length=True`` every Content-Length line gets the
        body's length (its name and position kept). ``self`` is not changed.
        """
        if not self.is_modified and (not fix_length or self.content_length == len(self.body)):
            assert self.raw is not None
            return self.raw
        lines = [self.start_line]
        has_length = False
        for h in self.headers:
            value = h.value
            if h.key == "content-length":
                has_length = True
                if fix_length:
                    value = str(len(self.body))
            lines.append(f"{h.name}: {value}")
        if not has_length:
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode(ENCODING, ERRORS) + self.body

    def __bytes__(self) -> bytes:
        return self.serialize()

    # -- conveniences ----------------------------------------------------------------
    @property
    def call_id(self) -> str | None:
        return self.headers.get("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, method) of the CSeq header; SipParseError if missing or malformed."""
        value = self.headers.get("CSeq")
        if value is None:
            raise SipParseError("missing CSeq header")
        return parse_cseq(value)

    @property
    def from_addr(self) -> NameAddr | None:
        value = self.headers.get("From")
        return NameAddr.parse(value) if value is not None else None

    @property
    def to_addr(self) -> NameAddr | None:
        value = self.headers.get("To")
        return NameAddr.parse(value) if value is not None else None

    @property
    def from_tag(self) -> str | None:
        addr = self.from_addr
        return addr.tag if addr else None

    @property
    def to_tag(self) -> str | None:
        addr = self.to_addr
        return addr.tag if addr else None

    @property
    def via_branch(self) -> str | None:
        """The branch parameter of the top Via."""
        vias = self.headers.values("Via")
        if not vias:
            return None
        return parse_vias(vias[0])[0].branch

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        return parse_content_length(value)

    @property
    def content_type(self) -> str | None:
        """The media type of the body, lower-case, without parameters."""
        value = self.headers.get("Content-Type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower()

    def sdp(self) -> SessionDescription | None:
        """The body's session description (also found inside a multipart body), or None
        when there is no SDP body. Raises SdpParseError when the SDP is malformed."""
        from harness.sip.sdp import SessionDescription

        if not self.body:
            return None
        ctype = self.content_type
        if ctype == "application/sdp" or (ctype is None and self.body.lstrip().startswith(b"v=")):
            return SessionDescription.parse(self.body)
        if ctype is not None and ctype.startswith("multipart/"):
            boundary = _content_type_param(self.headers.get("Content-Type") or "", "boundary")
            if boundary:
                for part_headers, part_body in _multipart_parts(self.body, boundary):
                    ptype = part_headers.get("Content-Type")
                    if ptype and ptype.split(";", 1)[0].strip().lower() == "application/sdp":
                        return SessionDescription.parse(part_body)
        return None


@dataclass(eq=True)
class _RequestLineFields:
    method: str
    uri: str


@dataclass(eq=True)
class _StatusLineFields:
    status: int
    reason: str = ""


@dataclass(eq=True)
class Request(SipMessage, _RequestLineFields):
    """``Request(method, uri, headers, body, version)``."""

    def _check_start(self) -> None:
        self.uri = str(self.uri)

    @property
    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def _start_state(self) -> tuple[object, ...]:
        return (self.method, self.uri, self.version)

    @property
    def sip_uri(self) -> SipUri:
        """The Request-URI parsed (SipParseError for schemes other than sip/sips/tel)."""
        return SipUri.parse(self.uri)


@dataclass(eq=True)
class Response(SipMessage, _StatusLineFields):
    """``Response(status, reason, headers, body, version)``."""

    def _check_start(self) -> None:
        if not isinstance(self.status, int) or not 100 <= self.status <= 699:
            raise SipUsageError(f"status must be an int in 100..699, not {self.status!r}")

    @property
    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def _start_state(self) -> tuple[object, ...]:
        return (self.version, self.status, self.reason)

    @property
    def method(self) -> str:
        """The method of the request this answers (from CSeq)."""
        return self.cseq[1]

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_final(self) -> bool:
        return self.status >= 200


Message = Request | Response


# -- bodies: the SDP part of a multipart body -------------------------------------------
def _content_type_param(value: str, name: str) -> str | None:
    for part in value.split(";")[1:]:
        key, _, val = part.partition("=")
        if key.strip().lower() == name:
            val = val.strip()
            return val[1:-1] if len(val) >= 2 and val[0] == val[-1] == '"' else val
    return None


def _multipart_parts(body: bytes, boundary: str) -> list[tuple[Headers, bytes]]:
    delim = b"--" + boundary.encode(ENCODING, ERRORS)
    parts: list[tuple[Headers, bytes]] = []
    chunks = body.split(delim)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk.lstrip(b"\n")
        sep = re.search(rb"\r?\n\r?\n", chunk)
        if sep is None:
            head, content = chunk, b""
        else:
            head, content = chunk[: sep.start()], chunk[sep.end() :]
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        hdrs = Headers()
        for line in head.decode(ENCODING, ERRORS).splitlines():
            if ":" in line:
                name, value = line.split(":", 1)
                hdrs.add(name.strip(), value.strip())
        parts.append((hdrs, content))
    return parts


# -- parsing ----------------------------------------------------------------------------
def parse_message(data: bytes | bytearray | memoryview | str) -> Request | Response:
    """Parse one whole SIP message (a UDP datagram, or one message cut by StreamFramer).

    Accepts LF-only line ends, header folding and leading CRLFs. Without Content-Length
    the body is the rest of the data; with it, bytes beyond Content-Length are kept in
    ``trailing`` (and in ``raw``). Raises SipParseError with a precise ``reason``.
    """
    if isinstance(data, str):
        data = data.encode(ENCODING, ERRORS)
    raw = bytes(data)
    lines, body_start = split_lines(raw)
    start_lineno, start_text = lines[0]
    start = parse_start_line(start_lineno, start_text)
    msg: Request | Response
    if isinstance(start, RequestLine):
        msg = Request(start.method, start.uri, version=start.version)
    else:
        msg = Response(start.status, start.reason, version=start.version)
    headers, origin = parse_header_lines(lines[1:])
    msg.headers = headers
    body = raw[body_start:]
    trailing = b""
    cl_values = headers.get_all("Content-Length")
    if cl_values:
        idx = headers.indexes("Content-Length")
        lineno = origin.get(idx[0])
        try:
            length = parse_content_length(cl_values[0])
        except SipParseError as exc:
            raise SipParseError(f"line {lineno}: {exc.reason}", line=lineno) from None
        if length > len(body):
            raise SipParseError(
                f"Content-Length {length} but body has {len(body)} bytes", line=lineno
            )
        body, trailing = body[:length], body[length:]
    msg.body = body
    msg.trailing = trailing
    validate_headers(headers, origin, msg.method if isinstance(msg, Request) else None)
    msg.raw = raw
    msg._snapshot = msg._state()
    return msg


__all__ = [
    "COMPACT_FORMS",
    "Header",
    "Headers",
    "Message",
    "Request",
    "Response",
    "SipMessage",
    "compact_form",
    "header_key",
    "parse_content_length",
    "parse_cseq",
    "parse_message",
]

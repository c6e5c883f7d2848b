"""SIP messages that keep their wire form: parse, inspect, change, serialise.

A parsed message remembers the bytes it came from (``raw``); ``serialize()`` returns those
bytes unchanged as long as the start line, the headers (names, values, order) and the body
are unchanged. After any change the message is rebuilt: start line, one ``Name: value`` line
a header in list order (names exactly as stored, so Lync's ``CONTENT-LENGTH`` stays upper
case and repeated ``ALLOW:`` lines stay separate), CRLF line ends, an empty line, the body.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.sip._syntax import is_token, split_top_level
from harness.sip.errors import SipParseError, SipUsageError
from harness.sip.uri import NameAddr, SipUri, is_absolute_uri, parse_vias

if TYPE_CHECKING:
    from harness.sip.sdp import SessionDescription

ENCODING = "utf-8"
ERRORS = "surrogateescape"  # undecodable bytes survive a parse/serialise round trip

#: compact form -> full name (RFC 3261 7.3.3 and the later registrations)
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_FULL_TO_COMPACT = {full.lower(): short for short, full in COMPACT_FORMS.items()}

#: Headers whose value is never a comma-separated list (commas are part of the value).
SINGLE_VALUE_HEADERS = frozenset(
    {
        "authorization",
        "authentication-info",
        "call-id",
        "content-disposition",
        "content-length",
        "content-type",
        "cseq",
        "date",
        "expires",
        "from",
        "max-forwards",
        "min-expires",
        "min-se",
        "mime-version",
        "organization",
        "priority",
        "proxy-authenticate",
        "proxy-authorization",
        "rack",
        "refer-to",
        "referred-by",
        "replaces",
        "reply-to",
        "retry-after",
        "rseq",
        "server",
        "session-expires",
        "subject",
        "timestamp",
        "to",
        "user-agent",
        "www-authenticate",
    }
)

#: Headers that may appear at most once (RFC 3261 section 20 and 7.3.1).
AT_MOST_ONCE = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length")
MANDATORY = ("To", "From", "Call-ID", "CSeq", "Via")

_SIP_VERSION = "SIP/2.0"
_MAX_CSEQ = 2**31 - 1
_MAX_DELTA = 2**32 - 1


@functools.lru_cache(maxsize=1024)
def header_key(name: str) -> str:
    """Canonical lookup key: lower-case full name (compact forms expanded)."""
    lname = name.strip().lower()
    full = COMPACT_FORMS.get(lname)
    return full.lower() if full else lname


def compact_form(name: str) -> str | None:
    """The one-letter compact form of ``name``, if it has one."""
    return _FULL_TO_COMPACT.get(header_key(name))


@dataclass(frozen=True, slots=True)
class Header:
    """One header line: ``name`` exactly as on the wire, ``value`` with folding undone and
    surrounding whitespace removed."""

    name: str
    value: str

    @property
    def key(self) -> str:
        return header_key(self.name)


class Headers:
    """Ordered header lines. Lookups are case-insensitive and understand compact forms in
    both directions (``get("Call-ID")`` finds an ``i:`` line and ``get("i")`` a
    ``CALL-ID:`` line). Iteration yields :class:`Header` in wire order."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Header | tuple[str, str]] = ()) -> None:
        self._items: list[Header] = []
        for item in items:
            if isinstance(item, Header):
                self._items.append(item)
            else:
                name, value = item
                self._items.append(Header(name, value))

    # -- reading ---------------------------------------------------------------------
    def get(self, name: str) -> str | None:
        """Value of the first header called ``name``, or None."""
        key = header_key(name)
        for h in self._items:
            if h.key == key:
                return h.value
        return None

    def get_all(self, name: str) -> list[str]:
        """Values of every ``name`` header line, one entry a line (nothing split)."""
        key = header_key(name)
        return [h.value for h in self._items if h.key == key]

    def values(self, name: str) -> list[str]:
        """Every comma-separated element of every ``name`` line, in order, stripped
        (commas inside quotes and ``<...>`` do not split). Headers in
        ``SINGLE_VALUE_HEADERS`` (Date, From, WWW-Authenticate, ...) are not split."""
        key = header_key(name)
        lines = self.get_all(name)
        if key in SINGLE_VALUE_HEADERS:
            return lines
        out: list[str] = []
        for line in lines:
            out.extend(p.strip() for p in split_top_level(line, ",") if p.strip())
        return out

    def first(self, name: str) -> Header | None:
        key = header_key(name)
        return next((h for h in self._items if h.key == key), None)

    def indexes(self, name: str) -> list[int]:
        key = header_key(name)
        return [i for i, h in enumerate(self._items) if h.key == key]

    def names(self) -> list[str]:
        return [h.name for h in self._items]

    def items(self) -> list[tuple[str, str]]:
        return [(h.name, h.value) for h in self._items]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Header]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Header:
        return self._items[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    def copy(self) -> Headers:
        return Headers(self._items)

    # -- changing --------------------------------------------------------------------
    def add(self, name: str, value: str) -> None:
        """Append a header line. Names and values are written verbatim, unchecked, so
        that malformed messages can be crafted on purpose (lint them with sip-lint)."""
        self._items.append(Header(name, str(value)))

    def insert(self, index: int, name: str, value: str) -> None:
        """Insert a header line at ``index`` (0 puts it first, e.g. a new top Via)."""
        self._items.insert(index, Header(name, str(value)))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` line by one line ``name: value`` at the position of the
        first (appended if there was none). The name is written as given here."""
        key = header_key(name)
        idx = self.indexes(name)
        new = Header(name, str(value))
        if not idx:
            self._items.append(new)
            return
        self._items[idx[0]] = new
        self._items = [h for i, h in enumerate(self._items) if i == idx[0] or h.key != key]

    def remove(self, name: str) -> int:
        """Remove every ``name`` line; returns how many were removed."""
        key = header_key(name)
        before = len(self._items)
        self._items = [h for h in self._items if h.key != key]
        return before - len(self._items)

    def _state(self) -> tuple[tuple[str, str], ...]:
        return tuple((h.name, h.value) for h in self._items)


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


class SipMessage:
    """Behaviour shared by :class:`Request` and :class:`Response`."""

    headers: Headers
    body: bytes
    version: str
    raw: bytes | None
    #: bytes after ``Content-Length`` octets of body in the parsed datagram (ignored)
    trailing: bytes
    _snapshot: tuple | None

    @property
    def start_line(self) -> str:
        """``INVITE sip:... SIP/2.0`` or ``SIP/2.0 200 OK`` (as it would be serialised)."""
        raise NotImplementedError

    def _start_state(self) -> tuple:
        raise NotImplementedError

    def _state(self) -> tuple:
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
class Request(SipMessage):
    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = _SIP_VERSION
    raw: bytes | None = field(default=None, compare=False, repr=False)
    trailing: bytes = field(default=b"", compare=False, repr=False)
    _snapshot: tuple | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.headers = _coerce_headers(self.headers)
        self.body = _coerce_body(self.body)
        self.uri = str(self.uri)

    @property
    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def _start_state(self) -> tuple:
        return (self.method, self.uri, self.version)

    @property
    def sip_uri(self) -> SipUri:
        """The Request-URI parsed (SipParseError for schemes other than sip/sips/tel)."""
        return SipUri.parse(self.uri)


@dataclass(eq=True)
class Response(SipMessage):
    status: int
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = _SIP_VERSION
    raw: bytes | None = field(default=None, compare=False, repr=False)
    trailing: bytes = field(default=b"", compare=False, repr=False)
    _snapshot: tuple | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.headers = _coerce_headers(self.headers)
        self.body = _coerce_body(self.body)
        if not isinstance(self.status, int) or not 100 <= self.status <= 699:
            raise SipUsageError(f"status must be an int in 100..699, not {self.status!r}")

    @property
    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def _start_state(self) -> tuple:
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


# -- value parsers shared with lint -----------------------------------------------------
_CSEQ_RE = re.compile(r"([0-9]+)[ \t]+(\S+)")


def parse_cseq(value: str) -> tuple[int, str]:
    m = _CSEQ_RE.fullmatch(value.strip())
    if m is None or not is_token(m.group(2)):
        raise SipParseError(f"bad CSeq {value!r} (expected 'number METHOD')")
    number = int(m.group(1))
    if number > _MAX_CSEQ:
        raise SipParseError(f"CSeq number {m.group(1)} is larger than 2**31-1")
    return number, m.group(2)


def parse_content_length(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise SipParseError(f"bad Content-Length {value!r}")
    return int(text)


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
def _split_lines(data: bytes) -> tuple[list[tuple[int, str]], int]:
    """Header-block lines as (1-based line number, text without line end) and the offset
    where the body starts. Leading empty lines are skipped (RFC 3261 7.5)."""
    lines: list[tuple[int, str]] = []
    pos = 0
    lineno = 0
    n = len(data)
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            if pos < n:
                raise SipParseError(
                    f"line {lineno + 1}: header block not terminated by an empty line",
                    line=lineno + 1,
                )
            raise SipParseError(
                "empty message" if not lines else "header block not terminated by an empty line"
            )
        lineno += 1
        end = nl - 1 if nl > pos and data[nl - 1] == 0x0D else nl
        text = data[pos:end]
        pos = nl + 1
        if not text:
            if not lines:
                continue  # CRLFs before the start line
            return lines, pos
        lines.append((lineno, text.decode(ENCODING, ERRORS)))


def _parse_start_line(lineno: int, line: str) -> Request | Response:
    if line[:4].upper() == "SIP/":
        parts = line.split(" ", 2)
        version = parts[0]
        if version.upper() != _SIP_VERSION:
            raise SipParseError(f"status line: unknown SIP version {version!r}", line=lineno)
        if len(parts) < 2:
            raise SipParseError(f"status line: no status code in {line!r}", line=lineno)
        code = parts[1]
        if not (len(code) == 3 and code.isdigit() and code.isascii()) or not (
            100 <= int(code) <= 699
        ):
            raise SipParseError(f"status line: bad status code {code!r}", line=lineno)
        reason = parts[2] if len(parts) == 3 else ""
        return Response(int(code), reason, version=version)
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError(
            f"request line: {line!r} is not 'METHOD SP Request-URI SP SIP/2.0' "
            "(single spaces, nothing after the version)",
            line=lineno,
        )
    method, uri, version = parts
    if not is_token(method):
        raise SipParseError(f"request line: bad method {method!r}", line=lineno)
    if version.upper() != _SIP_VERSION:
        if version.upper().startswith("SIP/"):
            raise SipParseError(f"request line: unknown SIP version {version!r}", line=lineno)
        raise SipParseError(f"request line: bad SIP version {version!r}", line=lineno)
    _check_request_uri(uri, lineno)
    return Request(method, uri, version=version)


def _check_request_uri(uri: str, lineno: int) -> None:
    if not is_absolute_uri(uri):
        raise SipParseError(f"request line: bad Request-URI {uri!r}", line=lineno)
    scheme = uri.split(":", 1)[0].lower()
    if scheme in ("sip", "sips", "tel"):
        try:
            parsed = SipUri.parse(uri)
        except SipParseError as exc:
            raise SipParseError(
                f"request line: bad Request-URI: {exc.reason}", line=lineno
            ) from None
        if parsed.headers:
            raise SipParseError(
                f"request line: Request-URI {uri!r} must not contain headers ('?...')",
                line=lineno,
            )


def _parse_header_lines(lines: list[tuple[int, str]]) -> tuple[Headers, dict[int, int]]:
    """Headers (folding undone) and, per header index, the line it started on."""
    headers: list[Header] = []
    origin: dict[int, int] = {}
    for lineno, text in lines:
        if text[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError(
                    f"line {lineno}: continuation line before any header", line=lineno
                )
            last = headers[-1]
            cont = text.strip(" \t")
            value = f"{last.value} {cont}" if last.value and cont else last.value + cont
            headers[-1] = Header(last.name, value)
            continue
        if ":" not in text:
            word = text.split()[0] if text.split() else text
            raise SipParseError(f"line {lineno}: header {word[:40]!r} has no colon", line=lineno)
        name, value = text.split(":", 1)
        name = name.rstrip(" \t")
        if len(name.split()) > 1 and is_token(name.split()[0]):
            # "Via SIP/2.0/TCP host:5060": the colon found belongs to the value
            raise SipParseError(
                f"line {lineno}: header {name.split()[0][:40]!r} has no colon", line=lineno
            )
        if not is_token(name):
            raise SipParseError(f"line {lineno}: bad header name {name!r}", line=lineno)
        origin[len(headers)] = lineno
        headers.append(Header(name, value.strip(" \t")))
    return Headers(headers), origin


def _validate(msg: Request | Response, origin: dict[int, int]) -> None:
    headers = msg.headers

    def where(name: str, n: int = 0) -> str:
        idx = headers.indexes(name)
        return f"line {origin.get(idx[n], '?')}: " if len(idx) > n else ""

    missing = [name for name in MANDATORY if name not in headers]
    if missing:
        raise SipParseError(
            f"missing mandatory header{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
        )
    for name in AT_MOST_ONCE:
        idx = headers.indexes(name)
        if len(idx) > 1:
            at = ", ".join(str(origin.get(i, "?")) for i in idx)
            raise SipParseError(f"header '{name}' appears {len(idx)} times (lines {at})")
    try:
        _number, method = parse_cseq(headers.get("CSeq") or "")
    except SipParseError as exc:
        raise SipParseError(where("CSeq") + exc.reason) from None
    if isinstance(msg, Request) and method != msg.method:
        raise SipParseError(
            f"{where('CSeq')}CSeq method '{method}' does not match request method '{msg.method}'"
        )
    mf = headers.get("Max-Forwards")
    if mf is not None and (not mf.isdigit() or not mf.isascii() or int(mf) > 255):
        raise SipParseError(f"{where('Max-Forwards')}bad Max-Forwards {mf!r} (0..255)")
    for i, value in enumerate(headers.get_all("Expires")):
        if not value.isdigit() or not value.isascii() or int(value) > _MAX_DELTA:
            raise SipParseError(f"{where('Expires', i)}bad Expires {value!r} (0..2**32-1)")
    for i, value in enumerate(headers.get_all("Via")):
        try:
            parse_vias(value)
        except SipParseError as exc:
            raise SipParseError(where("Via", i) + exc.reason) from None
    for name in ("From", "To"):
        try:
            NameAddr.parse(headers.get(name) or "")
        except SipParseError as exc:
            raise SipParseError(f"{where(name)}header '{name}': {exc.reason}") from None


def parse_message(data: bytes | bytearray | memoryview | str) -> Request | Response:
    """Parse one whole SIP message (a UDP datagram, or one message cut by StreamFramer).

    Accepts LF-only line ends, header folding and leading CRLFs. Without Content-Length
    the body is the rest of the data; with it, bytes beyond Content-Length are kept in
    ``trailing`` (and in ``raw``). Raises SipParseError with a precise ``reason``.
    """
    if isinstance(data, str):
        data = data.encode(ENCODING, ERRORS)
    raw = bytes(data)
    lines, body_start = _split_lines(raw)
    start_lineno, start = lines[0]
    msg = _parse_start_line(start_lineno, start)
    headers, origin = _parse_header_lines(lines[1:])
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
    _validate(msg, origin)
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

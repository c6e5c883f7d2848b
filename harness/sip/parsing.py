"""The syntax of one SIP message's head: lines, start line, header lines, their checks.

Only text in, plain values out (the message objects are built by ``message.py``). Every
failure is a SipParseError whose ``reason`` names the line and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.sip._syntax import is_token
from harness.sip.errors import SipParseError
from harness.sip.headers import Header, Headers
from harness.sip.uri import NameAddr, SipUri, is_absolute_uri, parse_vias

ENCODING = "utf-8"
ERRORS = "surrogateescape"  # undecodable bytes survive a parse/serialise round trip
SIP_VERSION = "SIP/2.0"

#: Headers that may appear at most once (RFC 3261 section 20 and 7.3.1).
AT_MOST_ONCE = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length")
MANDATORY = ("To", "From", "Call-ID", "CSeq", "Via")

_MAX_CSEQ = 2**31 - 1
_MAX_DELTA = 2**32 - 1


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


def split_lines(data: bytes) -> tuple[list[tuple[int, str]], int]:
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


@dataclass(frozen=True, slots=True)
class RequestLine:
    method: str
    uri: str
    version: str


@dataclass(frozen=True, slots=True)
class StatusLine:
    version: str
    status: int
    reason: str


def parse_start_line(lineno: int, line: str) -> RequestLine | StatusLine:
    if line[:4].upper() == "SIP/":
        parts = line.split(" ", 2)
        version = parts[0]
        if version.upper() != SIP_VERSION:
            raise SipParseError(f"status line: unknown SIP version {version!r}", line=lineno)
        if len(parts) < 2:
            raise SipParseError(f"status line: no status code in {line!r}", line=lineno)
        code = parts[1]
        if not (len(code) == 3 and code.isdigit() and code.isascii()) or not (
            100 <= int(code) <= 699
        ):
            raise SipParseError(f"status line: bad status code {code!r}", line=lineno)
        reason = parts[2] if len(parts) == 3 else ""
        return StatusLine(version, int(code), reason)
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
    if version.upper() != SIP_VERSION:
        if version.upper().startswith("SIP/"):
            raise SipParseError(f"request line: unknown SIP version {version!r}", line=lineno)
        raise SipParseError(f"request line: bad SIP version {version!r}", line=lineno)
    _check_request_uri(uri, lineno)
    return RequestLine(method, uri, version)


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


def parse_header_lines(lines: list[tuple[int, str]]) -> tuple[Headers, dict[int, int]]:
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


def validate_headers(headers: Headers, origin: dict[int, int], method: str | None) -> None:
    """The header rules of RFC 3261 a message must meet to be read at all. ``origin`` maps
    a header's index to its line; ``method`` is the request's (None for a response)."""

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
        _number, cseq_method = parse_cseq(headers.get("CSeq") or "")
    except SipParseError as exc:
        raise SipParseError(where("CSeq") + exc.reason) from None
    if method is not None and cseq_method != method:
        raise SipParseError(
            f"{where('CSeq')}CSeq method '{cseq_method}' does not match request method '{method}'"
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


__all__ = [
    "AT_MOST_ONCE",
    "MANDATORY",
    "SIP_VERSION",
    "RequestLine",
    "StatusLine",
    "parse_content_length",
    "parse_cseq",
    "parse_header_lines",
    "parse_start_line",
    "split_lines",
    "validate_headers",
]

"""Conformance lint of SIP messages: everything ``parse_message`` rejects, plus the RFC
rules that a parser should not enforce (MUSTs that make a message wrong without making it
unreadable, SHOULDs, and interoperability traps such as Lync's bare Contact with URI
parameters). Sans-I/O: bytes in, findings out. ``harness sip-lint`` is the front end.

Severities: ``error`` (RFC MUST broken, or unparseable: the message is invalid),
``warning`` (SHOULD broken, a form that peers read differently, a body that does not parse
as its Content-Type says, an RFC 2543 leftover: the message stays valid, as RFC 4475 3.1.1
wants), ``info`` (legal but worth knowing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.sip.errors import SdpParseError, SipParseError
from harness.sip.framing import StreamFramer
from harness.sip.lint_findings import SEVERITIES, Collector, Finding, header_lines
from harness.sip.lint_headers import check_headers
from harness.sip.lint_sdp import lint_sdp
from harness.sip.message import Request, Response, parse_message

KNOWN_METHODS = frozenset(
    {
        "ACK",
        "BYE",
        "CANCEL",
        "INFO",
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "OPTIONS",
        "PRACK",
        "PUBLISH",
        "REFER",
        "REGISTER",
        "SERVICE",
        "SUBSCRIBE",
        "UPDATE",
    }
)


@dataclass
class LintResult:
    """The findings for one message of the input."""

    index: int  # 1-based position of the message in the input
    offset: int  # byte offset of the message in the input
    data: bytes
    message: Request | Response | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """The start line (or the first 60 characters of the data)."""
        first = self.data.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
        text = first.decode("utf-8", "replace")
        return text if len(text) <= 80 else text[:77] + "..."

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0


def lint_message(data: bytes, *, transport: str | None = None) -> LintResult:
    """Lint one whole message (a datagram, or one message of a stream).

    ``transport`` ``"tcp"``/``"tls"`` makes a missing Content-Length an error.
    """
    add = Collector()
    result = LintResult(index=1, offset=0, data=data, message=None)
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        add("error", "parse", exc.reason, exc.line)
        result.findings = add.findings
        return result
    result.message = msg
    add.lines = header_lines(msg.raw or data)
    _check_framing(msg, add, transport)
    _check_start_line(msg, add)
    check_headers(msg, add)
    _check_body(msg, add)
    result.findings = add.findings
    return result


def _check_framing(msg: Request | Response, add: Collector, transport: str | None) -> None:
    raw = msg.raw or b""
    head_end = re.search(rb"\r?\n\r?\n", raw.lstrip(b"\r\n"))
    head = raw.lstrip(b"\r\n")[: head_end.end() if head_end else len(raw)]
    bare_lf = len(re.findall(rb"(?<!\r)\n", head))
    if bare_lf:
        add("warning", "line-ends", f"{bare_lf} header line(s) end in LF only; SIP uses CRLF")
    folded = [
        i
        for i, line in enumerate(head.split(b"\n")[1:], 2)
        if line[:1] in (b" ", b"\t") and line.strip()
    ]
    if folded:
        add("info", "folding", "header value folded onto a continuation line", folded[0])
    if raw[:1] in (b"\r", b"\n"):
        add("info", "leading-crlf", "empty line(s) before the start line")
    if msg.content_length is None:
        if transport in ("tcp", "tls"):
            add(
                "error",
                "content-length-missing",
                "no Content-Length; it is mandatory over TCP/TLS (RFC 3261 18.3)",
            )
        else:
            add(
                "warning",
                "content-length-missing",
                "no Content-Length; SHOULD be present (RFC 3261 20.14), MUST over TCP",
            )
    if msg.trailing:
        add(
            "warning",
            "trailing-bytes",
            f"{len(msg.trailing)} byte(s) after the Content-Length body are ignored",
            at=("content-length", "l"),
        )


def _check_start_line(msg: Request | Response, add: Collector) -> None:
    if msg.version != "SIP/2.0":
        add("warning", "version-case", f"SIP version {msg.version!r} should be 'SIP/2.0'", 1)
    if isinstance(msg, Request):
        if msg.method != msg.method.upper() and msg.method.upper() in KNOWN_METHODS:
            add(
                "warning",
                "method-case",
                f"method {msg.method!r} is not {msg.method.upper()!r}: methods are case-sensitive",
                1,
            )
    else:
        raw = (msg.raw or b"").lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
        if raw.count(b" ") < 2:
            add(
                "warning",
                "reason-missing",
                "status line has no SP before the (empty) reason phrase",
                1,
            )


def _check_body(msg: Request | Response, add: Collector) -> None:
    """A body that does not parse as its Content-Type says is the body's problem, not the
    SIP message's (RFC 4475 3.1.1 has valid messages with invalid SDP): warnings only."""
    if not msg.body:
        return
    if (msg.content_type or "").startswith("multipart/"):
        _check_multipart(msg, add)
    try:
        sdp = msg.sdp()
    except SdpParseError as exc:
        add("warning", "sdp-parse", f"SDP body does not parse: {exc.reason}")
        return
    if sdp is None:
        return
    for code, severity, text in lint_sdp(sdp):
        add("warning" if severity == "error" else severity, code, f"SDP: {text}")


def _check_multipart(msg: Request | Response, add: Collector) -> None:
    """RFC 2046 5.1.1: a boundary parameter, delimiter lines, and a close delimiter."""
    ctype = msg.headers.get("Content-Type") or ""
    boundary = None
    for param in ctype.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
    where = ("content-type", "c")
    if not boundary:
        add("warning", "multipart", f"{msg.content_type} body without a boundary", at=where)
        return
    delim = re.escape(b"--" + boundary.encode("utf-8", "surrogateescape"))
    found = re.findall(rb"(?:^|\n)" + delim + rb"(--)?[ \t]*(?=\r?\n|$)", msg.body)
    if not found or found[0]:
        add("warning", "multipart", f"no part starts with the boundary {boundary!r}", at=where)
    elif not any(found):
        add("warning", "multipart", f"no close delimiter '--{boundary}--'", at=where)


def split_input(data: bytes, mode: str = "auto") -> list[tuple[int, bytes, str | None]]:
    """Cut ``data`` into messages: (offset, bytes, framing error or None).

    ``datagram``: the whole input is one message. ``stream``: frame by Content-Length
    (a framing error ends the list with the unframed rest). ``auto``: stream framing when
    it consumes the whole input cleanly into one or more messages, else one datagram.
    """
    if mode not in ("auto", "stream", "datagram"):
        raise ValueError(f"unknown mode {mode!r}")
    if mode == "datagram":
        return [(0, data, None)]
    framer = StreamFramer()
    out: list[tuple[int, bytes, str | None]] = []
    pos = 0
    try:
        for chunk in framer.feed(data):
            start = data.find(chunk, pos)  # only keep-alive CRLFs lie between messages
            out.append((start, chunk, None))
            pos = start + len(chunk)
        framer.close()
    except SipParseError as exc:
        if mode == "auto":
            return [(0, data, None)]
        rest = framer.buffered
        out.append((len(data) - len(rest), rest, exc.reason))
        return out
    if not out:
        return [(0, data, None)]
    return out


def lint_bytes(
    data: bytes, *, mode: str = "auto", transport: str | None = None
) -> list[LintResult]:
    """Lint every message of ``data`` (see :func:`split_input` for ``mode``)."""
    if mode == "stream" and transport is None:
        transport = "tcp"
    results = []
    for index, (offset, chunk, framing_error) in enumerate(split_input(data, mode), 1):
        if framing_error is not None:
            result = LintResult(
                index, offset, chunk, None, [Finding("error", "framing", framing_error)]
            )
        else:
            result = lint_message(chunk, transport=transport)
            result.index, result.offset = index, offset
        results.append(result)
    return results


__all__ = [
    "SEVERITIES",
    "Finding",
    "LintResult",
    "lint_bytes",
    "lint_message",
    "lint_sdp",
    "split_input",
]

"""Conformance lint of SIP messages: everything ``parse_message`` rejects, plus the RFC
rules that a parser should not enforce (MUSTs that make a message wrong without making it
unreadable, SHOULDs, and interoperability traps such as Lync's bare Contact with URI
parameters). Sans-I/O: bytes in, findings out. ``harness sip-lint`` is the front end.

Severities: ``error`` (RFC MUST broken, or unparseable), ``warning`` (SHOULD broken, or a
form that peers read differently), ``info`` (legal but worth knowing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.sip.errors import SdpParseError, SipParseError
from harness.sip.framing import StreamFramer
from harness.sip.message import Request, Response, parse_message
from harness.sip.sdp import DIRECTIONS, MediaDescription, SessionDescription
from harness.sip.uri import NameAddr, parse_vias

SEVERITIES = ("error", "warning", "info")
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
# URI parameters (RFC 3261 19.1.1) that, outside <>, silently become header parameters
_URI_PARAMS = frozenset({"transport", "maddr", "lr", "user", "method", "ttl", "ob"})
_AT_MOST_ONCE = (
    "Content-Type",
    "Date",
    "Expires",
    "Min-Expires",
    "Session-Expires",
    "Min-SE",
    "RSeq",
    "RAck",
    "Content-Encoding",
    "MIME-Version",
)
_DATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
_MAX_DELTA = 2**32 - 1


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.severity}: {self.message} [{self.code}]"


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


class _Collector:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def __call__(self, severity: str, code: str, message: str, line: int | None = None) -> None:
        if line is not None:
            message = message.removeprefix(f"line {line}: ")
        self.findings.append(Finding(severity, code, message, line))


Add = Callable[..., None]


def _header_lines(raw: bytes) -> dict[str, list[int]]:
    """Lower-case header name (as written) -> line numbers where it starts."""
    out: dict[str, list[int]] = {}
    head_end = re.search(rb"\r?\n\r?\n", raw.lstrip(b"\r\n"))
    lead = len(raw) - len(raw.lstrip(b"\r\n"))
    head = raw[: lead + (head_end.start() if head_end else len(raw))]
    for i, line in enumerate(head.split(b"\n"), 1):
        if line[:1] in (b" ", b"\t") or b":" not in line:
            continue
        name = line.split(b":", 1)[0].strip().decode("utf-8", "replace").lower()
        out.setdefault(name, []).append(i)
    return out


def _line_of(lines: dict[str, list[int]], *names: str) -> int | None:
    for name in names:
        found = lines.get(name.lower())
        if found:
            return found[0]
    return None


def lint_message(data: bytes, *, transport: str | None = None) -> LintResult:
    """Lint one whole message (a datagram, or one message of a stream).

    ``transport`` ``"tcp"``/``"tls"`` makes a missing Content-Length an error.
    """
    add = _Collector()
    result = LintResult(index=1, offset=0, data=data, message=None)
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        add("error", "parse", exc.reason, exc.line)
        result.findings = add.findings
        return result
    result.message = msg
    lines = _header_lines(msg.raw or data)
    _check_framing(msg, add, lines, transport)
    _check_start_line(msg, add)
    _check_headers(msg, add, lines)
    _check_body(msg, add, lines)
    result.findings = add.findings
    return result


def _check_framing(
    msg: Request | Response, add: Add, lines: dict[str, list[int]], transport: str | None
) -> None:
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
            _line_of(lines, "content-length", "l"),
        )


def _check_start_line(msg: Request | Response, add: Add) -> None:
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


def _check_headers(msg: Request | Response, add: Add, lines: dict[str, list[int]]) -> None:
    h = msg.headers
    is_req = isinstance(msg, Request)
    method: str = msg.method if isinstance(msg, Request) else msg.cseq[1]

    for name in _AT_MOST_ONCE:
        count = len(h.get_all(name))
        if count > 1:
            add(
                "error",
                "duplicate-header",
                f"'{name}' appears {count} times",
                _line_of(lines, name),
            )

    call_id = h.get("Call-ID") or ""
    if not call_id or any(c.isspace() for c in call_id):
        add(
            "error",
            "call-id",
            f"Call-ID {call_id!r} is empty or contains whitespace",
            _line_of(lines, "call-id", "i"),
        )

    if is_req and "Max-Forwards" not in h:
        add("error", "max-forwards-missing", "request has no Max-Forwards (RFC 3261 8.1.1.6 MUST)")
    elif is_req and h.get("Max-Forwards") == "0" and method != "OPTIONS":
        add("info", "max-forwards-zero", "Max-Forwards is 0", _line_of(lines, "max-forwards"))

    if msg.from_tag is None:
        add(
            "error",
            "from-tag-missing",
            "From has no tag (RFC 3261 8.1.1.3 MUST)",
            _line_of(lines, "from", "f"),
        )
    if isinstance(msg, Response) and msg.status > 100 and msg.to_tag is None:
        add(
            "error",
            "to-tag-missing",
            f"{msg.status} response without To tag (RFC 3261 8.2.6.2 MUST)",
            _line_of(lines, "to", "t"),
        )

    vias = [v for value in h.values("Via") for v in parse_vias(value)]
    top = vias[0]
    if top.branch is None:
        add(
            "error",
            "branch-missing",
            "top Via has no branch (RFC 3261 8.1.1.7 MUST)",
            _line_of(lines, "via", "v"),
        )
    elif not top.branch.startswith("z9hG4bK"):
        add(
            "warning",
            "branch-cookie",
            f"top Via branch {top.branch!r} lacks the z9hG4bK magic cookie (RFC 2543 peer?)",
            _line_of(lines, "via", "v"),
        )

    _check_contact(msg, add, lines, method)

    for name in ("Route", "Record-Route"):
        for value in h.values(name):
            try:
                NameAddr.parse(value)
            except SipParseError as exc:
                add("error", "route-syntax", f"{name}: {exc.reason}", _line_of(lines, name))

    date = h.get("Date")
    if date is not None and _DATE_RE.fullmatch(date) is None:
        add(
            "warning",
            "date-format",
            f"Date {date!r} is not RFC 1123 'Sun, 13 Jun 2010 22:22:42 GMT'",
            _line_of(lines, "date"),
        )

    for name in ("Session-Expires", "Min-SE"):
        timer = h.get(name)
        if timer is None:
            continue
        delta = timer.split(";", 1)[0].strip()
        if not delta.isdigit():
            add(
                "error",
                "session-timer",
                f"{name} {timer!r} is not delta-seconds",
                _line_of(lines, name, "x"),
            )
        elif int(delta) < 90:
            add(
                "error",
                "session-timer",
                f"{name} {delta} is below 90 seconds (RFC 4028 MUST NOT)",
                _line_of(lines, name, "x"),
            )

    requires = {v.lower() for v in h.values("Require")}
    if isinstance(msg, Response) and 100 < msg.status < 200 and "100rel" in requires:
        rseq = h.get("RSeq")
        if rseq is None or not rseq.strip().isdigit():
            add(
                "error",
                "rseq",
                "reliable provisional response without a valid RSeq (RFC 3262 MUST)",
            )
    if is_req and method == "PRACK" and h.get("RAck") is None:
        add("error", "rack", "PRACK without RAck (RFC 3262 MUST)")

    if msg.body and h.get("Content-Type") is None:
        add(
            "error",
            "content-type-missing",
            f"{len(msg.body)}-byte body without Content-Type (RFC 3261 20.15 MUST)",
        )


def _check_contact(
    msg: Request | Response, add: Add, lines: dict[str, list[int]], method: str
) -> None:
    h = msg.headers
    line = _line_of(lines, "contact", "m")
    contacts = h.values("Contact")
    needs = method in ("INVITE", "SUBSCRIBE", "REFER") and (
        isinstance(msg, Request) or 200 <= msg.status < 300
    )
    if needs and not contacts:
        what = "request" if isinstance(msg, Request) else f"{msg.status} response"
        add(
            "error",
            "contact-missing",
            f"{method} {what} without Contact (RFC 3261 8.1.1.8 / 13.3.1.4 MUST)",
        )
    elif (
        isinstance(msg, Response)
        and method == "INVITE"
        and 100 < msg.status < 200
        and msg.to_tag is not None
        and not contacts
    ):
        add(
            "warning",
            "contact-missing",
            f"{msg.status} creates an early dialog but has no Contact (RFC 3261 12.1.1)",
        )
    for value in contacts:
        if value == "*":
            if not (isinstance(msg, Request) and method == "REGISTER"):
                add("error", "contact-syntax", "Contact '*' outside REGISTER", line)
            continue
        try:
            addr = NameAddr.parse(value)
        except SipParseError as exc:
            add("error", "contact-syntax", f"Contact: {exc.reason}", line)
            continue
        if not addr.bracketed:
            moved = [p for p in addr.params if p.lower() in _URI_PARAMS]
            if moved:
                add(
                    "warning",
                    "contact-uri-params",
                    f"Contact {value!r} is not in <>, so {', '.join(moved)} are header "
                    "parameters, not URI parameters (RFC 3261 20.10): peers disagree on "
                    "the remote target",
                    line,
                )
        expires = addr.param("expires")
        if expires is not None and (not expires.isdigit() or int(expires) > _MAX_DELTA):
            add("error", "expires-range", f"Contact expires={expires!r} is not 0..2**32-1", line)


def _check_body(msg: Request | Response, add: Add, lines: dict[str, list[int]]) -> None:
    if not msg.body:
        return
    try:
        sdp = msg.sdp()
    except SdpParseError as exc:
        add("error", "sdp-parse", f"SDP: {exc.reason}")
        return
    if sdp is None:
        return
    for code, severity, text in lint_sdp(sdp):
        add(severity, code, f"SDP: {text}")


def lint_sdp(sdp: SessionDescription) -> list[tuple[str, str, str]]:
    """(code, severity, message) for offer/answer problems of a parsed SDP."""
    out: list[tuple[str, str, str]] = []
    found = [k for k, _ in sdp.attributes if k in DIRECTIONS]
    if len(found) > 1:
        out.append(
            (
                "sdp-direction",
                "error",
                f"session has {len(found)} direction attributes ({', '.join(found)})",
            )
        )
    if sdp.connection is not None and sdp.connection.is_hold_address:
        out.append(
            (
                "sdp-hold-address",
                "info",
                "c= address 0.0.0.0 (RFC 2543 hold; RFC 3264 uses a=inactive/sendonly)",
            )
        )
    for i, m in enumerate(sdp.media, 1):
        out.extend(_lint_media(i, m))
    return out


def _lint_media(i: int, m: MediaDescription) -> Iterable[tuple[str, str, str]]:
    where = f"m={m.media} (media {i})"
    found = [k for k, _ in m.attributes if k in DIRECTIONS]
    if len(found) > 1:
        yield (
            "sdp-direction",
            "error",
            f"{where} has {len(found)} direction attributes ({', '.join(found)})",
        )
    if m.connection is not None and m.connection.is_hold_address:
        yield (
            "sdp-hold-address",
            "info",
            f"{where} c= address 0.0.0.0 (RFC 2543 hold; RFC 3264 uses a=inactive)",
        )
    if "RTP" not in m.proto.upper():
        return
    try:
        pts = m.payload_types
    except SdpParseError as exc:
        yield ("sdp-format", "error", exc.reason)
        return
    try:
        rtpmap = m.rtpmap()
    except SdpParseError as exc:
        yield ("sdp-rtpmap-syntax", "error", exc.reason)
        rtpmap = {}
    for pt in pts:
        if pt >= 96 and pt not in rtpmap:
            yield (
                "sdp-rtpmap-missing",
                "error",
                f"{where}: dynamic payload type {pt} has no a=rtpmap",
            )
    for pt in rtpmap:
        if pt not in pts:
            yield (
                "sdp-rtpmap-unlisted",
                "warning",
                f"{where}: a=rtpmap for {pt}, which is not in the m= line",
            )
    try:
        for pt in m.fmtp():
            if pt not in pts:
                yield (
                    "sdp-fmtp-unlisted",
                    "warning",
                    f"{where}: a=fmtp for {pt}, which is not in the m= line",
                )
    except SdpParseError as exc:
        yield ("sdp-fmtp-syntax", "error", exc.reason)
    try:
        _ = m.ptime
    except SdpParseError as exc:
        yield ("sdp-ptime", "error", exc.reason)
    try:
        _ = m.rtcp_port
    except SdpParseError as exc:
        yield ("sdp-rtcp", "error", exc.reason)


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
    "Finding",
    "LintResult",
    "lint_bytes",
    "lint_message",
    "lint_sdp",
    "split_input",
]

"""Lint rules for the header fields of a parsed SIP message: RFC 3261 MUSTs a parser lets
through (tags, branch, Max-Forwards, Contact), session timers, 100rel, dates."""

from __future__ import annotations

import re

from harness.sip.errors import SipParseError
from harness.sip.lint_findings import Collector
from harness.sip.message import Request, Response
from harness.sip.uri import NameAddr, parse_vias

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


def check_headers(msg: Request | Response, add: Collector) -> None:
    h = msg.headers
    is_req = isinstance(msg, Request)
    method: str = msg.method if isinstance(msg, Request) else msg.cseq[1]

    for name in _AT_MOST_ONCE:
        count = len(h.get_all(name))
        if count > 1:
            add("error", "duplicate-header", f"'{name}' appears {count} times", at=(name,))

    call_id = h.get("Call-ID") or ""
    if not call_id or any(c.isspace() for c in call_id):
        add(
            "error",
            "call-id",
            f"Call-ID {call_id!r} is empty or contains whitespace",
            at=("call-id", "i"),
        )

    if is_req and "Max-Forwards" not in h:
        add("error", "max-forwards-missing", "request has no Max-Forwards (RFC 3261 8.1.1.6 MUST)")
    elif is_req and h.get("Max-Forwards") == "0" and method != "OPTIONS":
        add("info", "max-forwards-zero", "Max-Forwards is 0", at=("max-forwards",))

    if msg.from_tag is None:
        add(
            "error",
            "from-tag-missing",
            "From has no tag (RFC 3261 8.1.1.3 MUST)",
            at=("from", "f"),
        )
    if isinstance(msg, Response) and msg.status > 100 and msg.to_tag is None:
        add(
            "error",
            "to-tag-missing",
            f"{msg.status} response without To tag (RFC 3261 8.2.6.2 MUST)",
            at=("to", "t"),
        )

    vias = [v for value in h.values("Via") for v in parse_vias(value)]
    top = vias[0]
    if top.branch is None:
        add(
            "error",
            "branch-missing",
            "top Via has no branch (RFC 3261 8.1.1.7 MUST)",
            at=("via", "v"),
        )
    elif not top.branch.startswith("z9hG4bK"):
        add(
            "warning",
            "branch-cookie",
            f"top Via branch {top.branch!r} lacks the z9hG4bK magic cookie (RFC 2543 peer?)",
            at=("via", "v"),
        )

    _check_contact(msg, add, method)

    for name in ("Route", "Record-Route"):
        for value in h.values(name):
            try:
                NameAddr.parse(value)
            except SipParseError as exc:
                add("error", "route-syntax", f"{name}: {exc.reason}", at=(name,))

    date = h.get("Date")
    if date is not None and _DATE_RE.fullmatch(date) is None:
        add(
            "warning",
            "date-format",
            f"Date {date!r} is not RFC 1123 'Sun, 13 Jun 2010 22:22:42 GMT'",
            at=("date",),
        )

    for name in ("Session-Expires", "Min-SE"):
        timer = h.get(name)
        if timer is None:
            continue
        delta = timer.split(";", 1)[0].strip()
        if not delta.isdigit():
            add("error", "session-timer", f"{name} {timer!r} is not delta-seconds", at=(name, "x"))
        elif int(delta) < 90:
            add(
                "error",
                "session-timer",
                f"{name} {delta} is below 90 seconds (RFC 4028 MUST NOT)",
                at=(name, "x"),
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


def _check_contact(msg: Request | Response, add: Collector, method: str) -> None:
    h = msg.headers
    line = add.line_of("contact", "m")
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


__all__ = ["check_headers"]

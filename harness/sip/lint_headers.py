"""Lint rules for the header fields of a parsed SIP message: RFC 3261 MUSTs a parser lets
through (tags, branch, Max-Forwards, Contact), session timers, 100rel, dates.

RFC 2543 leftovers are warnings, not errors: a top Via without a z9hG4bK branch marks the
sender as an RFC 2543 element (RFC 3261 8.1.1.7, 17.2.3), and for such a sender a missing
From tag, Max-Forwards or Contact is what RFC 2543 allowed (RFC 4475 3.2.1: to be accepted
by elements that keep backward compatibility)."""

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

    vias = [v for value in h.values("Via") for v in parse_vias(value)]
    rfc2543 = _check_branch(vias[0].branch, add)
    # an RFC 3261 element breaks a MUST (error); an RFC 2543 element keeps its old rules
    legacy = "warning" if rfc2543 else "error"
    since = "; RFC 2543 allowed it" if rfc2543 else ""

    if is_req and "Max-Forwards" not in h:
        add(
            legacy,
            "max-forwards-missing",
            f"request has no Max-Forwards (RFC 3261 8.1.1.6 MUST{since})",
        )
    elif is_req and h.get("Max-Forwards") == "0" and method != "OPTIONS":
        add("info", "max-forwards-zero", "Max-Forwards is 0", at=("max-forwards",))

    if msg.from_tag is None:
        add(
            legacy,
            "from-tag-missing",
            f"From has no tag (RFC 3261 8.1.1.3 MUST{since})",
            at=("from", "f"),
        )
    if isinstance(msg, Response) and msg.status > 100 and msg.to_tag is None:
        add(
            "error",
            "to-tag-missing",
            f"{msg.status} response without To tag (RFC 3261 8.2.6.2 MUST)",
            at=("to", "t"),
        )

    _check_contact(msg, add, method, legacy, since)

    for name in ("Route", "Record-Route"):
        for value in h.values(name):
            try:
                NameAddr.parse(value)
            except SipParseError as exc:
                add("error", "route-syntax", f"{name}: {exc.reason}", at=(name,))

    date = h.get("Date")
    if date is not None and _DATE_RE.fullmatch(date) is None:
        # SIP-date is rfc1123-date with the literal GMT (RFC 3261 25.1): a syntax error
        add(
            "error",
            "date-format",
            f"Date {date!r} is not an RFC 1123 date in GMT like 'Sun, 13 Jun 2010 22:22:42 GMT'"
            " (RFC 3261 20.17)",
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


def _check_branch(branch: str | None, add: Collector) -> bool:
    """Lint the top Via's branch; True when it marks an RFC 2543 sender (no magic cookie)."""
    if branch is None:
        add(
            "warning",
            "branch-missing",
            "top Via has no branch: an RFC 2543 element (RFC 3261 8.1.1.7 MUST for RFC 3261)",
            at=("via", "v"),
        )
        return True
    if not branch.startswith("z9hG4bK"):
        add(
            "warning",
            "branch-cookie",
            f"top Via branch {branch!r} lacks the z9hG4bK magic cookie: an RFC 2543 element "
            "(RFC 3261 8.1.1.7)",
            at=("via", "v"),
        )
        return True
    if branch == "z9hG4bK":
        # RFC 4475 3.1.3.1: the cookie alone is the same in every request of the sender
        add(
            "warning",
            "branch-cookie-only",
            "top Via branch is the magic cookie alone, so it cannot identify a transaction "
            "(RFC 3261 8.1.1.7: unique per request)",
            at=("via", "v"),
        )
    return False


def _check_contact(
    msg: Request | Response, add: Collector, method: str, legacy: str, since: str
) -> None:
    h = msg.headers
    line = add.line_of("contact", "m")
    contacts = h.values("Contact")
    needs = method in ("INVITE", "SUBSCRIBE", "REFER") and (
        isinstance(msg, Request) or 200 <= msg.status < 300
    )
    if needs and not contacts:
        what = "request" if isinstance(msg, Request) else f"{msg.status} response"
        add(
            legacy,
            "contact-missing",
            f"{method} {what} without Contact (RFC 3261 8.1.1.8 / 13.3.1.4 MUST{since})",
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

"""Helpers for a user agent: identifiers, requests, responses, ACK and CANCEL.

Header names are written in one of three styles, so that a simulator can speak like the
peer it imitates: ``"canonical"`` (``Call-ID``, ``CSeq``), ``"upper"`` (Lync's ``CALL-ID``,
``CSEQ``) or ``"request"`` (responses only: as the request spelled them). Header values
are copied verbatim, as RFC 3261 asks for To, From, Call-ID, CSeq and Via. Content-Length
is not added here: :meth:`SipMessage.serialize` appends it when absent.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Literal

from harness.sip.errors import SipUsageError
from harness.sip.message import Headers, Request, Response, _coerce_body, header_key
from harness.sip.uri import NameAddr, Via, format_hostport, parse_name_addrs, parse_vias

MAGIC_COOKIE = "z9hG4bK"

NameStyle = Literal["canonical", "upper", "request"]

#: canonical spelling of header names whose capitalisation is not just Title-Case
_CANONICAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "min-se": "Min-SE",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
    "p-asserted-identity": "P-Asserted-Identity",
}

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def new_tag() -> str:
    """A random From/To tag (10 hex digits)."""
    return secrets.token_hex(5)


def new_branch() -> str:
    """A random RFC 3261 Via branch, starting with the ``z9hG4bK`` magic cookie."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_call_id(host: str | None = None) -> str:
    """A random Call-ID, ``<hex>@host`` when a host is given."""
    value = secrets.token_hex(16)
    return f"{value}@{host}" if host else value


def canonical_name(name: str) -> str:
    key = name.lower()
    return _CANONICAL.get(key) or "-".join(p.capitalize() for p in key.split("-"))


def style_name(name: str, style: NameStyle, request: Request | None = None) -> str:
    """``name`` written in ``style`` (for ``"request"``, as ``request`` spelled it)."""
    if style == "upper":
        return name.upper()
    if style == "request":
        if request is None:
            raise SipUsageError("name style 'request' needs a request")
        found = request.headers.first(name)
        if found is not None and found.key == header_key(name):
            return found.name
        return canonical_name(name)
    if style == "canonical":
        return canonical_name(name)
    raise SipUsageError(f"unknown name style {style!r}")


def with_tag(value: str, tag: str) -> str:
    """A From/To value with ``;tag=`` added (unchanged if it already has a tag)."""
    if NameAddr.parse(value).tag is not None:
        return value
    return f"{value.rstrip()};tag={tag}"


def via_value(
    transport: str,
    host: str,
    port: int | None = None,
    *,
    branch: str | None = None,
    rport: bool = False,
) -> str:
    """``SIP/2.0/TCP host:port;branch=z9hG4bK...[;rport]``."""
    sent_by = format_hostport(host, port)
    value = f"SIP/2.0/{transport.upper()} {sent_by};branch={branch or new_branch()}"
    return value + (";rport" if rport else "")


def _extra(headers: Iterable[tuple[str, str]] | Headers | None) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Headers):
        return headers.items()
    return [(str(n), str(v)) for n, v in headers]


def _add_tail(
    h: Headers,
    headers: Iterable[tuple[str, str]] | Headers | None,
    body: bytes | str = b"",
    content_type: str | None = None,
    content_type_name: str = "Content-Type",
) -> None:
    """The caller's extra headers, then Content-Type when there is a body (every builder
    ends a message this way)."""
    for name, value in _extra(headers):
        h.add(name, value)
    if body and content_type is not None:
        h.add(content_type_name, content_type)


def make_request(
    method: str,
    uri: str,
    *,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    via: str | Via,
    contact: str | None = None,
    max_forwards: int | None = 70,
    headers: Iterable[tuple[str, str]] | Headers | None = None,
    body: bytes | str = b"",
    content_type: str | None = None,
    name_style: NameStyle = "canonical",
) -> Request:
    """A request with headers in the order Via, Max-Forwards, From, To, Call-ID, CSeq,
    Contact, ``headers``, Content-Type (when there is a body)."""
    if name_style == "request":
        raise SipUsageError("name style 'request' is for responses")

    def n(name: str) -> str:
        return style_name(name, name_style)

    h = Headers()
    h.add(n("Via"), str(via))
    if max_forwards is not None:
        h.add(n("Max-Forwards"), str(max_forwards))
    h.add(n("From"), from_)
    h.add(n("To"), to)
    h.add(n("Call-ID"), call_id)
    h.add(n("CSeq"), f"{cseq} {method}")
    if contact is not None:
        h.add(n("Contact"), contact)
    _add_tail(h, headers, body, content_type, n("Content-Type"))
    return Request(method, uri, h, _coerce_body(body))


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] | Headers | None = None,
    body: bytes | str = b"",
    content_type: str | None = None,
    name_style: NameStyle = "canonical",
) -> Response:
    """A response to ``request`` (RFC 3261 8.2.6): every Via in order, From, To (with
    ``to_tag`` added if the To has no tag yet), Call-ID, CSeq, and for 101..299 the
    Record-Route lines; then ``headers``, then Content-Type when there is a body.

    The To tag is never invented: pass ``to_tag`` (the same one for every response of a
    dialog); a 100 Trying normally has none.
    """
    if not isinstance(request, Request):
        raise SipUsageError("make_response needs a Request")
    if reason is None:
        reason = REASON_PHRASES.get(status, "")

    def n(name: str) -> str:
        return style_name(name, name_style, request)

    h = Headers()
    for via in request.headers.get_all("Via"):
        h.add(n("Via"), via)
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.headers.get(name)
        if value is None:
            raise SipUsageError(f"request has no {name} header")
        if name == "To" and to_tag is not None:
            value = with_tag(value, to_tag)
        h.add(n(name), value)
    if 100 < status < 300:
        for rr in request.headers.get_all("Record-Route"):
            h.add(n("Record-Route"), rr)
    _add_tail(h, headers, body, content_type, n("Content-Type"))
    return Response(status, reason, h, _coerce_body(body))


def make_ack(
    invite: Request,
    response: Response,
    *,
    branch: str | None = None,
    name_style: NameStyle = "canonical",
    headers: Iterable[tuple[str, str]] | Headers | None = None,
) -> Request:
    """The ACK for ``response`` to ``invite``.

    Non-2xx (RFC 3261 17.1.1.3): same Request-URI, top Via (same branch), From, Call-ID,
    CSeq number and Route as the INVITE, To from the response. 2xx (13.2.2.4, 12.2.1.1):
    a new transaction to the remote target (the response's Contact) with a new branch,
    the route set from the response's Record-Route (reversed), To from the response.
    """
    if invite.method != "INVITE":
        raise SipUsageError("make_ack needs the INVITE")
    number, _ = invite.cseq
    to = response.headers.get("To")
    if to is None:
        raise SipUsageError("response has no To header")
    top_via = parse_vias(invite.headers.values("Via")[0])[0]

    def n(name: str) -> str:
        return style_name(name, name_style, invite if name_style == "request" else None)

    h = Headers()
    if 200 <= response.status < 300:
        contacts = response.headers.values("Contact")
        if not contacts:
            raise SipUsageError("2xx response has no Contact (remote target)")
        uri = str(parse_name_addrs(contacts[0])[0].uri)
        new = branch or new_branch()
        params = {k: (new if k.lower() == "branch" else v) for k, v in top_via.params.items()}
        if not top_via.has_param("branch"):
            params["branch"] = new
        via = Via(top_via.transport, top_via.host, top_via.port, params, top_via.protocol)
        h.add(n("Via"), str(via))
        route_values = [
            str(r)
            for line in reversed(response.headers.get_all("Record-Route"))
            for r in reversed(parse_name_addrs(line))
        ]
    else:
        uri = invite.uri
        h.add(n("Via"), str(top_via))
        route_values = invite.headers.get_all("Route")
    h.add(n("Max-Forwards"), "70")
    h.add(n("From"), invite.headers.get("From") or "")
    h.add(n("To"), to)
    h.add(n("Call-ID"), invite.call_id or "")
    h.add(n("CSeq"), f"{number} ACK")
    for value in route_values:
        h.add(n("Route"), value)
    _add_tail(h, headers)
    return Request("ACK", uri, h)


def make_cancel(invite: Request, *, name_style: NameStyle = "canonical") -> Request:
    """The CANCEL of ``invite`` (RFC 3261 9.1): same Request-URI, top Via, From, To,
    Call-ID, CSeq number and Route."""
    if invite.method != "INVITE":
        raise SipUsageError("make_cancel needs the INVITE")
    number, _ = invite.cseq

    def n(name: str) -> str:
        return style_name(name, name_style, invite if name_style == "request" else None)

    h = Headers()
    h.add(n("Via"), invite.headers.values("Via")[0])
    h.add(n("Max-Forwards"), "70")
    for name in ("From", "To", "Call-ID"):
        h.add(n(name), invite.headers.get(name) or "")
    h.add(n("CSeq"), f"{number} CANCEL")
    for value in invite.headers.get_all("Route"):
        h.add(n("Route"), value)
    return Request("CANCEL", invite.uri, h)


__all__ = [
    "MAGIC_COOKIE",
    "REASON_PHRASES",
    "canonical_name",
    "make_ack",
    "make_cancel",
    "make_request",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_tag",
    "style_name",
    "via_value",
    "with_tag",
]

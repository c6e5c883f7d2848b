"""Transport rules that do not need a socket (RFC 3261 section 18, RFC 3581).

- :func:`mark_received`: on receiving a request, add ``received`` (and the ``rport`` value
  when asked for) to its top Via (18.2.1, RFC 3581 4) and say where responses go (18.2.2,
  RFC 3581 5).
- :func:`response_address`: where a response to a Via goes, without changing anything.
"""

from __future__ import annotations

from harness.sip.errors import SipParseError
from harness.sip.message import Headers, Request
from harness.sip.uri import Via, parse_vias

Address = tuple[str, int]

DEFAULT_PORT = 5060


def top_via(message_headers: Headers) -> Via | None:
    """The first Via of a header list (None when absent or unparsable)."""
    values = message_headers.values("Via")
    if not values:
        return None
    try:
        return parse_vias(values[0])[0]
    except SipParseError:
        return None


def response_address(via: Via, source: Address) -> Address:
    """Where responses to a request with top ``via`` that came from ``source`` go: the
    source address and port when ``rport`` has a value (RFC 3581 5), else the ``received``
    address (or the source address) and the Via's port."""
    ip = via.received or source[0]
    if via.rport is not None:
        return (ip, via.rport)
    return (ip, via.port or DEFAULT_PORT)


def mark_received(request: Request, source: Address) -> Address:
    """Add ``received`` (and the ``rport`` value) to the request's top Via (RFC 3261
    18.2.1, RFC 3581 4) and return where responses must go (18.2.2, RFC 3581 5).

    The other Via values of that header line and every header name are kept as they were.
    """
    first = request.headers.first("Via")
    if first is None:
        return source
    try:
        line_vias = parse_vias(first.value)
    except SipParseError:
        return source
    via = line_vias[0]
    ip, port = source
    changed = False
    if via.has_param("rport") and via.rport is None:
        via.params = {
            **{k: v for k, v in via.params.items() if k.lower() != "rport"},
            "received": ip,
            "rport": str(port),
        }
        changed = True
        target = source
    else:
        if via.host.strip("[]") != ip:
            via.params = {**via.params, "received": ip}
            changed = True
        target = (ip, via.port or DEFAULT_PORT)
    if changed:
        index = request.headers.indexes("Via")[0]
        items = request.headers.items()
        items[index] = (first.name, ", ".join(str(v) for v in line_vias))
        request.headers = Headers(items)
    return target


__all__ = ["DEFAULT_PORT", "Address", "mark_received", "response_address", "top_via"]

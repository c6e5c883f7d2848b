"""Answering what could not be parsed: a lenient look at a rejected request.

When :func:`harness.sip.message.parse_message` rejects a request, a UAS should still answer
``400 Bad Request`` if it can (RFC 3261 8.2, 16.3). That needs only the headers a response
copies (Via, From, To, Call-ID, CSeq). This is not a SIP parser: it splits header lines at
the first colon, keeps values verbatim, and gives up (None) when any of the five is
missing, when the message is a response or an ACK (neither is ever answered), or when
the first line does not even look like a request line (``METHOD ... SIP/2.0``).
"""

from __future__ import annotations

import re

from harness.sip.message import Headers, Request

_REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")
_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9.!%*_+`'~-]*")


def salvage_request(raw: bytes) -> Request | None:
    text = raw.decode("utf-8", "replace")
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    lines = head.lstrip("\r\n").splitlines()
    if not lines:
        return None
    method = lines[0].split(" ", 1)[0]
    if not _METHOD.fullmatch(method) or method.upper().startswith("SIP/"):
        return None
    if "SIP/" not in lines[0].upper():  # not even a damaged request line
        return None
    items: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and items:
            name, value = items[-1]
            items[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip():
            items.append((name.strip(), value.strip()))
    headers = Headers(items)
    if any(headers.get(name) is None for name in _REQUIRED):
        return None
    cseq_method = (headers.get("CSeq") or "").split()[-1:]
    if method.upper() == "ACK" or [m.upper() for m in cseq_method] == ["ACK"]:
        return None
    return Request(method, "sip:invalid", headers, b"")

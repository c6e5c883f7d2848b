"""Errors of the SIP layer.

Two kinds, as in h11: :class:`SipParseError` says the *bytes* are wrong (the peer's fault,
or the capture's), and carries a precise human reason; :class:`SipUsageError` says the
*caller* used the API wrongly (a local bug).
"""

from __future__ import annotations

import re

_LINE_PREFIX = re.compile(r"line (\d+):")


class SipParseError(ValueError):
    """Bytes that are not a valid SIP message, URI, header value or SDP.

    ``reason`` is a precise, human-readable reason, for example
    ``"line 3: header 'Via' has no colon"`` or
    ``"Content-Length 312 but body has 259 bytes"``. ``line`` is the 1-based line number
    within the parsed text when the error concerns one line, else ``None``.
    """

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if line is None:
            m = _LINE_PREFIX.match(reason)
            line = int(m.group(1)) if m else None
        self.line = line

    def __str__(self) -> str:
        return self.reason


class SdpParseError(SipParseError):
    """A session description (RFC 4566) that cannot be parsed."""


class SipUsageError(ValueError):
    """The API was used wrongly (for example, building a response to a response)."""


__all__ = ["SdpParseError", "SipParseError", "SipUsageError"]

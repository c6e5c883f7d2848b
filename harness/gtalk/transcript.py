"""The stanzas of a session, in and out, with SASL credentials hidden."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SASL_SECRET = re.compile(
    r"(<(auth|response)\b[^>]*urn:ietf:params:xml:ns:xmpp-sasl[^>]*>)(.*?)(</\2>)", re.DOTALL
)


def redact(xml: str) -> str:
    """The stanza text with SASL credentials (PLAIN auth, SCRAM responses) hidden."""
    return _SASL_SECRET.sub(lambda m: f"{m.group(1)}(redacted){m.group(4)}", xml)


@dataclass(frozen=True)
class StanzaRecord:
    at: float  # time.time()
    direction: str  # "in" or "out"
    xml: str  # SASL credentials redacted

"""Sans-I/O SIP: messages that keep their wire bytes, URIs, SDP, digest auth, framing.

Standard library only, no sockets, no asyncio: the simulators import this inside a bare
python3 container. See CONTRACT.md for the API other layers code against.
"""

from harness.sip.errors import SdpParseError, SipParseError, SipUsageError
from harness.sip.framing import StreamFramer
from harness.sip.message import Header, Headers, Request, Response, SipMessage, parse_message
from harness.sip.sdp import Connection, MediaDescription, Origin, SessionDescription
from harness.sip.uri import NameAddr, SipUri, Via, parse_via

__all__ = [
    "Connection",
    "Header",
    "Headers",
    "MediaDescription",
    "NameAddr",
    "Origin",
    "Request",
    "Response",
    "SdpParseError",
    "SessionDescription",
    "SipMessage",
    "SipParseError",
    "SipUri",
    "SipUsageError",
    "StreamFramer",
    "Via",
    "parse_message",
    "parse_via",
]

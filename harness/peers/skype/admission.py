"""The Skype for SIP service's admission rules for an INVITE: caller ID, channels,
destination, codecs. Raises :class:`Rejected` with what the service answers."""

from __future__ import annotations

from collections.abc import Callable

from harness.peers.common.offer_answer import NotAcceptable
from harness.peers.skype import wire
from harness.peers.skype.calls import RemoteAudio, read_audio
from harness.peers.skype.records import SkypeCallRecord
from harness.peers.skype.rules import (
    CodecChoice,
    SkypeBehaviour,
    caller_identity,
    choose_codec,
    is_e164,
    is_skype_name,
    same_number,
    uri_user,
)
from harness.sip.errors import SipParseError
from harness.sip.message import Request
from harness.sip.uri import parse_name_addrs

#: what the service writes when it refuses a call (status from the behaviour)
E164_WARNING = "Destination must be in E.164 format"
UNKNOWN_NUMBER_WARNING = "Number not reachable: only the echo test numbers answer here"
CHANNELS_WARNING = "All {n} SIP channels of the profile are in use"
CODEC_WARNING = "Incompatible media format: offer G.729, PCMU or PCMA"
NO_OFFER_WARNING = "INVITE without SDP (delayed offer) is not supported"
AUTH_WARNING = "Authentication failed"
SKYPE_NAME_WARNING = "Destination must be a Skype name or an E.164 number"
UNKNOWN_NAME_WARNING = "Skype user not found"


class Rejected(Exception):
    def __init__(
        self, status: int, warning: str, code: int = 399, reason: str | None = None
    ) -> None:
        super().__init__(warning)
        self.status = status
        self.warning = warning  # "" : no Warning header
        self.code = code
        self.reason = reason or wire.reason_phrase(status)


def admit(
    request: Request,
    record: SkypeCallRecord,
    service: str,
    b: SkypeBehaviour,
    profile: str,
    active: Callable[[str], int],
) -> tuple[CodecChoice, RemoteAudio]:
    """The service's rules for an INVITE on listener ``service`` (``sip`` or ``sfa``),
    with ``active(service)`` calls up; Rejected with the status to send."""
    user = uri_user(request.uri)
    record.destination = user
    if service == "sip":
        caller, header = caller_identity(request)
        record.caller_id, record.caller_id_header = caller, header
        status = b.reject_status_for_caller_id
        if status is not None and not same_number(caller, profile):
            raise Rejected(status, b.caller_id_warning, reason=b.reject_reason_for_caller_id)
        if active("sip") >= b.channels:
            raise Rejected(b.limit_status, CHANNELS_WARNING.format(n=b.channels))
        if not is_e164(user):
            raise Rejected(404, E164_WARNING)
        if user not in b.echo_numbers:
            raise Rejected(b.unknown_number_status, UNKNOWN_NUMBER_WARNING)
    else:
        caller, header = caller_identity(request)
        record.caller_id, record.caller_id_header = caller, header
        if b.sfa_channels is not None and active("sfa") >= b.sfa_channels:
            raise Rejected(
                b.limit_status, f"All {b.sfa_channels} Skype for Asterisk licences in use"
            )
        if is_e164(user):
            if user not in b.echo_numbers:
                raise Rejected(b.unknown_number_status, UNKNOWN_NUMBER_WARNING)
        elif is_skype_name(user):
            assert user is not None
            if user.lower() not in {n.lower() for n in b.sfa_echo_names}:
                raise Rejected(b.unknown_name_status, UNKNOWN_NAME_WARNING)
        else:
            raise Rejected(404, SKYPE_NAME_WARNING)
    return check_media(request)


def check_media(request: Request) -> tuple[CodecChoice, RemoteAudio]:
    try:
        offer = request.sdp()
    except SipParseError as exc:
        raise Rejected(400, f"Bad SDP: {exc.reason}") from None
    if offer is None:
        raise Rejected(488, NO_OFFER_WARNING)
    try:
        remote = read_audio(offer)
        choice = choose_codec(remote.audio)
    except NotAcceptable as exc:
        raise Rejected(488, exc.reason, code=304) from None
    except SipParseError as exc:
        raise Rejected(400, f"Bad SDP: {exc.reason}") from None
    if choice is None:
        raise Rejected(488, CODEC_WARNING, code=305)
    contact = request.headers.get("Contact")
    try:
        if contact is None:
            raise SipParseError("INVITE has no Contact header")
        parse_name_addrs(contact)
    except SipParseError as exc:
        raise Rejected(400, f"Bad Contact: {exc.reason}") from None
    return choice, remote

"""What the simulated Skype for SIP service allows: its behaviour and its admission rules.

Sans-I/O and standard library only. ``SkypeBehaviour`` is immutable;
``SkypeBehaviour.merged(partial)`` validates a partial JSON object and returns a new one,
raising the Mediation simulator's :class:`~harness.peers.common.behaviour.BehaviourError`
(so the shared control API turns it into a 400 naming the field).

Rules (seed, "Skype for SIP" and "Testing Calls from Lync Server to Skype for SIP"):
the caller ID must be the SIP profile number, the number called must be E.164, the offer
must carry G.729, PCMU or PCMA, and no more than ``channels`` calls at once. The Skype
for Asterisk listener takes Skype names instead (letters, digits, dots, underscores,
6-32 characters, starting with a letter).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from harness.peers.common.behaviour import (
    BehaviourError,
    dtmf_digits,
    merge_fields,
    milliseconds,
    one_of,
)
from harness.sip.errors import SipParseError
from harness.sip.message import Request
from harness.sip.sdp import MediaDescription
from harness.sip.uri import NameAddr, SipUri

FREE_TEST_NUMBER = "+17606604690"  # seed: "the following free number ... for testing"
ECHO_SKYPE_NAME = "echo123"  # seed: extension 1002, Dial(Skype/echo123)

E164_RE = re.compile(r"\+[0-9]{8,15}")
SKYPE_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9._]{5,31}")

#: codecs the service accepts (seed: G.729 annex A and B, G.711 mu-law or A-law)
CODECS: dict[str, tuple[int, str]] = {
    "G729": (18, "G729"),
    "PCMU": (0, "PCMU"),
    "PCMA": (8, "PCMA"),
}
ECHO_TO = ("source", "sdp", "both")


@dataclass(frozen=True)
class SkypeBehaviour:
    # registration
    max_expires: int = 3600
    min_expires: int | None = None  # requests below: 423 Interval Too Brief
    # admission
    channels: int = 2
    limit_status: int = 503
    sfa_channels: int | None = None  # Skype for Asterisk licences (None: unlimited)
    challenge_invites: bool = True  # False: IP-authenticated trunk, no 407
    reject_status_for_caller_id: int | None = 403  # None: caller ID not checked
    reject_reason_for_caller_id: str | None = None  # None: the status's standard phrase
    caller_id_warning: str = "Caller ID must be your SIP profile number"  # "": no Warning
    echo_numbers: tuple[str, ...] = (FREE_TEST_NUMBER,)
    unknown_number_status: int = 404
    sfa_echo_names: tuple[str, ...] = (ECHO_SKYPE_NAME,)
    unknown_name_status: int = 404
    # answering (calls to the echo service)
    ring_delay_ms: float | None = 20
    answer_delay_ms: float = 200
    echo_hangup_after_ms: float | None = None
    echo_to: str = "both"
    # calls from Skype to the gateway (POST /calls)
    offer_codecs: tuple[str, ...] = ("G729", "PCMU", "PCMA")
    hangup_after_ms: float | None = None  # None: wait for the gateway's BYE
    cancel_after_ms: float | None = 60_000  # no-answer timer (None: ring for ever)
    dtmf: str | None = None
    dtmf_after_ms: float = 500

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    def merged(self, partial: Any) -> SkypeBehaviour:
        return merge_fields(self, partial, _validate)


_NULLABLE_MS = {"ring_delay_ms", "echo_hangup_after_ms", "hangup_after_ms", "cancel_after_ms"}
_MS = {"answer_delay_ms", "dtmf_after_ms"}
_STATUS = {"limit_status", "unknown_number_status", "unknown_name_status"}
_REASON_RE = re.compile(r"[ -~]{1,100}")  # printable ASCII, no CR/LF


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(key: str, value: Any) -> Any:
    if key in _NULLABLE_MS or key in _MS:
        if value is None and key in _NULLABLE_MS:
            return None
        return milliseconds(key, value)
    if key in _STATUS or key == "reject_status_for_caller_id":
        if value is None and key == "reject_status_for_caller_id":
            return None
        if not _is_int(value) or not 400 <= value <= 699:
            raise BehaviourError(key, f"must be a final error status 400-699, got {value!r}")
        return value
    if key in ("max_expires", "min_expires", "channels", "sfa_channels"):
        if value is None and key in ("min_expires", "sfa_channels"):
            return None
        if not _is_int(value) or not 0 <= value <= 2**31 - 1:
            raise BehaviourError(key, f"must be a non-negative integer, got {value!r}")
        if key == "max_expires" and value < 1:
            raise BehaviourError(key, "must be at least 1 second")
        return value
    if key == "reject_reason_for_caller_id":
        if value is None:
            return None
        if not isinstance(value, str) or not _REASON_RE.fullmatch(value):
            raise BehaviourError(key, f"must be a reason phrase (printable text), got {value!r}")
        return value
    if key == "caller_id_warning":
        if not isinstance(value, str) or not (value == "" or _REASON_RE.fullmatch(value)):
            raise BehaviourError(key, f"must be printable text or empty, got {value!r}")
        return value
    if key == "challenge_invites":
        if not isinstance(value, bool):
            raise BehaviourError(key, f"must be true or false, got {value!r}")
        return value
    if key == "echo_numbers":
        return _string_list(key, value, E164_RE, "E.164 (+ and 8-15 digits)")
    if key == "sfa_echo_names":
        return _string_list(key, value, SKYPE_NAME_RE, "a Skype name")
    if key == "echo_to":
        return one_of(key, value, ECHO_TO)
    if key == "offer_codecs":
        items = tuple(str(v).upper() for v in _string_list(key, value))
        if not items or len(set(items)) != len(items) or any(c not in CODECS for c in items):
            raise BehaviourError(
                key, f"must be a non-empty list of distinct codecs from {', '.join(CODECS)}"
            )
        return items
    if key == "dtmf":
        return dtmf_digits(key, value)
    raise BehaviourError(key, "unknown field")  # pragma: no cover - guarded by merged()


def _string_list(
    key: str, value: Any, pattern: re.Pattern[str] | None = None, what: str = ""
) -> tuple[str, ...]:
    """A string or a list of strings, each matching ``pattern`` (``what`` names it)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BehaviourError(key, f"must be a list of strings, got {value!r}")
    for item in value:
        if pattern is not None and not pattern.fullmatch(item):
            raise BehaviourError(key, f"{item!r} is not {what}")
    return tuple(value)


# -- identities -----------------------------------------------------------------------------


def uri_user(text: str) -> str | None:
    """The user part of a sip:/sips:/tel: URI, %-decoded, without user parameters
    (``;npdi``, ``;phone-context=``); None when there is none or the URI is bad."""
    try:
        uri = SipUri.parse(text)
    except SipParseError:
        return None
    if uri.user is None:
        return None
    return unquote(uri.user.split(";", 1)[0])


def is_e164(user: str | None) -> bool:
    return user is not None and E164_RE.fullmatch(user) is not None


def is_skype_name(user: str | None) -> bool:
    return user is not None and SKYPE_NAME_RE.fullmatch(user) is not None


def caller_identity(request: Request) -> tuple[str | None, str]:
    """(user, header it came from): P-Asserted-Identity, else Remote-Party-ID, else From."""
    for name in ("P-Asserted-Identity", "Remote-Party-ID", "From"):
        values = request.headers.values(name) if name != "From" else request.headers.get_all(name)
        for value in values:
            try:
                addr = NameAddr.parse(value)
            except SipParseError:
                continue
            return uri_user(str(addr.uri)), name
    return None, "From"


def same_number(user: str | None, profile: str) -> bool:
    """The caller ID matches the profile number (an optional leading ``+`` is ignored;
    anything else, spaces included, is a mismatch)."""
    if user is None:
        return False
    return user.removeprefix("+") == profile.removeprefix("+")


# -- codecs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodecChoice:
    name: str  # G729 / PCMU / PCMA
    payload_type: int
    fmtp: str | None
    telephone_event_pt: int | None
    telephone_event_fmtp: str | None


def codec_name(encoding: str, clock: int) -> str | None:
    """Our name for an rtpmap encoding at 8 kHz (``G729``, ``PCMU``, ``PCMA``)."""
    if clock != 8000:
        return None
    upper = encoding.upper()
    if upper in ("G729", "G729A"):
        return "G729"
    if upper in ("PCMU", "PCMA"):
        return upper
    return None


def choose_codec(
    audio: MediaDescription, allowed: tuple[str, ...] = tuple(CODECS)
) -> CodecChoice | None:
    """The first of G.729, PCMU, PCMA in the offer's order (plus its telephone-event);
    None when the offer has none of them. SdpParseError on broken rtpmap lines."""
    fmtp = audio.fmtp()
    chosen: tuple[str, int] | None = None
    te: int | None = None
    for pt, encoding, clock, _channels in audio.codecs():
        name = codec_name(encoding, clock)
        if chosen is None and name is not None and name in allowed:
            chosen = (name, pt)
        if te is None and encoding.lower() == "telephone-event" and clock == 8000:
            te = pt
    if chosen is None:
        return None
    return CodecChoice(
        chosen[0],
        chosen[1],
        fmtp.get(chosen[1]),
        te,
        fmtp.get(te) if te is not None else None,
    )

"""How the simulated Skype for SIP service writes its messages: like a carrier SBC.

Canonical mixed-case header names (``Call-ID``, ``CSeq``, ``WWW-Authenticate``), one
``Server:`` / ``User-Agent:`` product token, ``Allow`` and ``Supported`` on dialog-creating
responses, ``Warning: 399 sip.skype.com "..."`` on rejections, SDP with one audio stream
that offers G.729, PCMU, PCMA and telephone-event. Standard library only.
"""

from __future__ import annotations

import email.utils
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from harness.peers.skype.rules import CODECS, CodecChoice
from harness.rtp.tone import ToneGenerator
from harness.sip.builder import (
    REASON_PHRASES,
    make_request,
    make_response,
    new_branch,
    via_value,
)
from harness.sip.dialog import Dialog
from harness.sip.message import Request, Response

PRODUCT = "Skype SIP (sip-interop-harness simulator)"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
SUPPORTED = "replaces"
SDP_TYPE = "application/sdp"
TELEPHONE_EVENT_PT = 101

Extra = Iterable[tuple[str, str]]


def reason_phrase(status: int) -> str:
    return REASON_PHRASES.get(status, "Unknown")


def new_tag() -> str:
    return "sk" + secrets.token_hex(6)


def new_call_id(domain: str) -> str:
    return f"{secrets.token_hex(12)}@{domain}"


def hostport(host: str, port: int) -> str:
    """``host:port`` for a URI, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def warning(domain: str, text: str, code: int = 399) -> tuple[str, str]:
    """``Warning: 399 sip.skype.com "text"`` (RFC 3261 20.43)."""
    clean = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    return ("Warning", f'{code} {domain} "{clean[:200]}"')


def response(
    request: Request,
    status: int,
    *,
    to_tag: str | None = None,
    reason: str | None = None,
    extra: Extra = (),
    contact: str | None = None,
    sdp: str | None = None,
) -> Response:
    """A response in the service's style: the dialog headers copied (RFC 3261 8.2.6),
    Contact, the ``extra`` headers, Allow/Supported on 18x/2xx to INVITE, Server, then
    Content-Type and Content-Length."""
    headers: list[tuple[str, str]] = []
    if contact is not None:
        headers.append(("Contact", contact))
    headers += list(extra)
    if request.method in ("INVITE", "OPTIONS") and 100 < status < 300:
        headers += [("Allow", ALLOW), ("Supported", SUPPORTED)]
    headers.append(("Server", PRODUCT))
    body = sdp.encode() if sdp is not None else b""
    tag = to_tag if status > 100 else None
    return make_response(
        request,
        status,
        reason or reason_phrase(status),
        to_tag=tag,
        headers=headers,
        body=body,
        content_type=SDP_TYPE if sdp is not None else None,
    )


def request(
    method: str,
    dialog: Dialog,
    *,
    address: str,
    port: int,
    contact: str | None = None,
    sdp: str | None = None,
) -> Request:
    """The next request of ``dialog`` (its CSeq grows by one): Via (UDP, rport, a new
    branch), Max-Forwards, From, To, Call-ID, CSeq, Contact, Route, User-Agent,
    Content-Type, Content-Length."""
    headers: list[tuple[str, str]] = [("Route", r) for r in dialog.route_set]
    if method in ("INVITE", "UPDATE"):
        headers += [("Allow", ALLOW), ("Supported", SUPPORTED)]
    headers.append(("User-Agent", PRODUCT))
    return make_request(
        method,
        dialog.remote_target,
        from_=dialog.local_party,
        to=dialog.remote_party,
        call_id=dialog.call_id,
        cseq=dialog.next_cseq(),
        via=via_value("UDP", address, port, branch=new_branch(), rport=True),
        contact=contact,
        headers=headers,
        body=sdp.encode() if sdp is not None else b"",
        content_type=SDP_TYPE if sdp is not None else None,
    )


def http_date() -> str:
    return email.utils.formatdate(usegmt=True)


# -- SDP --------------------------------------------------------------------------------------


@dataclass
class SdpIdentity:
    """``o=`` line state: the version grows whenever the SDP we send changes (RFC 3264 8)."""

    address: str
    port: int
    session_id: int = 0
    version: int = 1
    _last: str | None = None

    def __post_init__(self) -> None:
        if not self.session_id:
            self.session_id = secrets.randbelow(2**31 - 1) + 1

    def render(self, media_lines: list[str]) -> str:
        body = "\r\n".join(media_lines)
        if self._last is not None and body != self._last:
            self.version += 1
        self._last = body
        head = [
            "v=0",
            f"o=SkypeSIP {self.session_id} {self.version} IN IP4 {self.address}",
            "s=Skype SIP",
            f"c=IN IP4 {self.address}",
            "t=0 0",
        ]
        return "\r\n".join(head + media_lines) + "\r\n"


def offer_media(port: int, codecs: Iterable[str], te_pt: int = TELEPHONE_EVENT_PT) -> list[str]:
    names = list(codecs)
    pts = [CODECS[name][0] for name in names]
    lines = [f"m=audio {port} RTP/AVP {' '.join(str(p) for p in [*pts, te_pt])}"]
    for name in names:
        pt, encoding = CODECS[name]
        lines.append(f"a=rtpmap:{pt} {encoding}/8000")  # G.729: no fmtp, annex B allowed
    lines += [
        f"a=rtpmap:{te_pt} telephone-event/8000",
        f"a=fmtp:{te_pt} 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return lines


def answer_media(port: int, choice: CodecChoice, direction: str) -> list[str]:
    pts = [choice.payload_type]
    if choice.telephone_event_pt is not None:
        pts.append(choice.telephone_event_pt)
    lines = [f"m=audio {port} RTP/AVP {' '.join(str(p) for p in pts)}"]
    lines.append(f"a=rtpmap:{choice.payload_type} {CODECS[choice.name][1]}/8000")
    if choice.fmtp:
        lines.append(f"a=fmtp:{choice.payload_type} {choice.fmtp}")
    if choice.telephone_event_pt is not None:
        te = choice.telephone_event_pt
        lines.append(f"a=rtpmap:{te} telephone-event/8000")
        lines.append(f"a=fmtp:{te} {choice.telephone_event_fmtp or '0-16'}")
    lines += ["a=ptime:20", f"a={direction}"]
    return lines


def rejected_media(kind: str, proto: str, formats: list[str]) -> str:
    """An extra m= line of an offer, refused in the answer (port 0, RFC 3264 6)."""
    return f"m={kind} 0 {proto} {' '.join(formats)}"


# -- payloads for the test tone ---------------------------------------------------------------

_ALAW_SEG_END = (0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF)


def linear_to_alaw(sample: int) -> int:
    """ITU-T G.711 A-law of one 16-bit signed sample (the Sun reference algorithm)."""
    pcm = max(-32768, min(32767, int(sample))) >> 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm = -pcm - 1
    seg = 0
    while seg < 8 and pcm > (_ALAW_SEG_END[seg] >> 3):
        seg += 1
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (pcm >> 1) & 0x0F if seg < 2 else (pcm >> seg) & 0x0F
    return aval ^ mask


class CodecTone(ToneGenerator):
    """The test tone in the negotiated codec: mu-law, A-law, or for G.729 (which cannot be
    encoded here) 20 octets of a fixed, valid-length frame pair per 20 ms."""

    def __init__(self, codec: str = "PCMU", frequency: float = 1000.0) -> None:
        super().__init__(frequency)
        self.codec = codec

    def frame(self, count: int = 160) -> bytes:
        if self.codec == "PCMA":
            return bytes(linear_to_alaw(s) for s in self.samples(count))
        if self.codec == "G729":
            self.samples(count)  # keep the phase running
            return bytes(range(0x10, 0x10 + count // 8))  # 10 octets per 10 ms
        return super().frame(count)

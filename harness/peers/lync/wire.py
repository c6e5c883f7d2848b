"""Lync Server 2010 Mediation Server wire format: the messages as the seed's trace shows them.

Responses (seed steps 2-5)::

    SIP/2.0 183 Session Progress
    FROM: "Test User"<sip:...>;tag=as6f893afb
    TO: <sip:...>;tag=d6cf4571f;epid=075854646D
    CSEQ: 102 INVITE
    CALL-ID: ...
    VIA: SIP/2.0/TCP 192.168.100.10:5060;branch=z9hG4bK0bb3ed94;rport
    CONTACT: <sip:mediationsrv.contoso.com:5068;transport=Tcp;maddr=192.168.100.20>
    CONTENT-LENGTH: 0
    ALLOW: UPDATE
    ALLOW: PRACK
    SERVER: RTCC/3.5.0.0 MediationServer

Requests (seed steps 8, 10): FROM ``<uri>;epid=...;tag=...``, TO, CSEQ, CALL-ID,
MAX-FORWARDS, VIA, CONTACT (``;msopaque=`` on re-INVITEs), CONTENT-LENGTH, SUPPORTED,
USER-AGENT, CONTENT-TYPE. Header names are upper case except the 200's trailing
``Allow: CANCEL,BYE,INVITE,PRACK,UPDATE`` line, as in the trace. The 100 Trying is the seed's
bare form (no To tag, no SERVER).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

from harness.sip.dialog import Dialog
from harness.sip.errors import SipParseError
from harness.sip.message import Headers, Request, Response
from harness.sip.uri import NameAddr

PRODUCT = "RTCC/3.5.0.0 MediationServer"
SDP_CONTENT_TYPE = "application/sdp; charset=utf-8"
MIXED_CASE_ALLOW = "CANCEL,BYE,INVITE,PRACK,UPDATE"

REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    481: "Call Leg/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def reason_phrase(status: int) -> str:
    return REASONS.get(status, "Unknown")


def new_tag() -> str:
    """Lync's 9 lower-case hex digits (``d6cf4571f``)."""
    return secrets.token_hex(5)[:9]


def new_epid() -> str:
    """10 upper-case hex digits (``075854646D``)."""
    return secrets.token_hex(5).upper()


def new_msopaque() -> str:
    return secrets.token_hex(8)


def new_branch() -> str:
    """RFC 3261 magic cookie plus 8 hex digits (``z9hG4bK3f7ee1dc``)."""
    return "z9hG4bK" + secrets.token_hex(4)


def new_call_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class LyncIdentity:
    """Where and who the simulated Mediation Server is."""

    domain: str = "mediationsrv.contoso.com"
    address: str = "192.168.100.20"
    sip_port: int = 5068
    epid: str = field(default_factory=new_epid)

    def contact(self, msopaque: str | None = None) -> str:
        extra = f";msopaque={msopaque}" if msopaque else ""
        return f"<sip:{self.domain}:{self.sip_port};transport=Tcp;maddr={self.address}{extra}>"

    def via(self, branch: str) -> str:
        return f"SIP/2.0/TCP {self.address}:{self.sip_port};branch={branch}"


def lync_name_addr(value: str) -> str:
    """Re-render a From/To the way Lync writes it: ``"Name"<uri>;params`` (no space)."""
    try:
        addr = NameAddr.parse(value)
    except SipParseError:
        return value
    display = f'"{addr.display}"' if addr.display is not None else ""
    params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in addr.params.items())
    return f"{display}<{addr.uri}>{params}"


def _dialog_headers(request: Request, to_value: str) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = [
        ("FROM", lync_name_addr(request.headers.get("From") or "")),
        ("TO", to_value),
        ("CSEQ", request.headers.get("CSeq") or ""),
        ("CALL-ID", request.headers.get("Call-ID") or ""),
    ]
    headers.extend(("VIA", via) for via in request.headers.get_all("Via"))
    return headers


def response_to(request: Request, to_tag: str | None, epid: str) -> str:
    """The TO value of a response: the request's To, plus ``;tag=...;epid=...`` if untagged."""
    to = lync_name_addr(request.headers.get("To") or "")
    try:
        has_tag = NameAddr.parse(request.headers.get("To") or "").tag is not None
    except SipParseError:
        has_tag = False
    if to_tag and not has_tag:
        to += f";tag={to_tag};epid={epid}"
    return to


def trying(request: Request) -> Response:
    """Seed step 2: FROM, TO (untagged), CSEQ, CALL-ID, VIA, CONTENT-LENGTH: 0."""
    headers = _dialog_headers(request, lync_name_addr(request.headers.get("To") or ""))
    headers.append(("CONTENT-LENGTH", "0"))
    return Response(100, "Trying", Headers(headers))


def provisional(request: Request, status: int, to_tag: str, ident: LyncIdentity) -> Response:
    """Seed steps 3-4: 180/183 without SDP, with two ALLOW lines and SERVER."""
    headers = _dialog_headers(request, response_to(request, to_tag, ident.epid))
    headers += [
        ("CONTACT", ident.contact()),
        ("CONTENT-LENGTH", "0"),
        ("ALLOW", "UPDATE"),
        ("ALLOW", "PRACK"),
        ("SERVER", PRODUCT),
    ]
    return Response(status, reason_phrase(status), Headers(headers))


def ok_with_sdp(request: Request, to_tag: str, ident: LyncIdentity, sdp: str) -> Response:
    """Seed step 5: the 200 OK to an INVITE (also to a re-INVITE or an UPDATE with SDP)."""
    body = sdp.encode()
    headers = _dialog_headers(request, response_to(request, to_tag, ident.epid))
    headers += [
        ("CONTACT", ident.contact()),
        ("CONTENT-LENGTH", str(len(body))),
        ("SUPPORTED", "100rel"),
        ("CONTENT-TYPE", SDP_CONTENT_TYPE),
        ("ALLOW", "ACK"),
        ("SERVER", PRODUCT),
        ("Allow", MIXED_CASE_ALLOW),
    ]
    return Response(200, "OK", Headers(headers), body)


def simple_response(
    request: Request,
    status: int,
    ident: LyncIdentity,
    to_tag: str | None = None,
    *,
    reason: str | None = None,
    extra: list[tuple[str, str]] | None = None,
    contact: bool = False,
) -> Response:
    """Any other response: FROM, TO, CSEQ, CALL-ID, VIA, [CONTACT], CONTENT-LENGTH: 0,
    extra headers, SERVER."""
    headers = _dialog_headers(request, response_to(request, to_tag, ident.epid))
    if contact:
        headers.append(("CONTACT", ident.contact()))
    headers.append(("CONTENT-LENGTH", "0"))
    headers += extra or []
    headers.append(("SERVER", PRODUCT))
    return Response(status, reason or reason_phrase(status), Headers(headers))


def reply(
    request: Request,
    status: int,
    ident: LyncIdentity,
    to_tag: str | None,
    warning_text: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> Response:
    """:func:`simple_response` with a WARNING first when there is a ``warning_text``."""
    headers = list(extra or [])
    if warning_text:
        headers.insert(0, warning(ident, warning_text))
    return simple_response(request, status, ident, to_tag, extra=headers)


def options_ok(request: Request, to_tag: str | None, ident: LyncIdentity) -> Response:
    """200 to OPTIONS: what the Mediation Server supports, in its own header style."""
    return simple_response(
        request,
        200,
        ident,
        to_tag,
        contact=True,
        extra=[
            ("ACCEPT", "application/sdp"),
            ("SUPPORTED", "100rel"),
            ("ALLOW", "ACK"),
            ("Allow", MIXED_CASE_ALLOW + ",OPTIONS"),
        ],
    )


def warning(ident: LyncIdentity, text: str) -> tuple[str, str]:
    """A ``WARNING: 399 host "text"`` header (RFC 3261 20.43, miscellaneous warning)."""
    clean = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    return ("WARNING", f'399 {ident.domain} "{clean[:200]}"')


def request(
    method: str, dialog: Dialog, ident: LyncIdentity, cseq: int, branch: str,
    *,
    sdp: str | None = None,
    msopaque: str | None = None,
    contact: bool | None = None,
    uri: str | None = None,
    cseq_method: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> Request:
    """A request from the Mediation Server in the seed's header order (steps 8 and 10):
    FROM is the dialog's local URI with Lync's ``epid`` and the local tag, TO its remote
    URI and tag (whatever display names the peer used), ROUTE its route set.

    INVITE carries CONTACT, SUPPORTED and CONTENT-TYPE; BYE/ACK/CANCEL only the basics.
    """
    body = sdp.encode() if sdp is not None else b""
    to = f"<{dialog.remote_uri}>"
    if dialog.remote_tag:
        to += f";tag={dialog.remote_tag}"
    headers: list[tuple[str, str]] = [
        ("FROM", f"<{dialog.local_uri}>;epid={ident.epid};tag={dialog.local_tag}"),
        ("TO", to),
        ("CSEQ", f"{cseq} {cseq_method or method}"),
        ("CALL-ID", dialog.call_id),
        ("MAX-FORWARDS", "70"),
        ("VIA", ident.via(branch)),
    ]
    headers.extend(("ROUTE", route) for route in dialog.route_set)
    with_contact = contact if contact is not None else method in ("INVITE", "UPDATE")
    if with_contact:
        headers.append(("CONTACT", ident.contact(msopaque)))
    headers += extra or []
    headers.append(("CONTENT-LENGTH", str(len(body))))
    if method in ("INVITE", "UPDATE"):
        headers.append(("SUPPORTED", "100rel"))
    headers.append(("USER-AGENT", PRODUCT))
    if sdp is not None:
        headers.append(("CONTENT-TYPE", SDP_CONTENT_TYPE))
    return Request(method, uri or dialog.remote_target, Headers(headers), body)


@dataclass(frozen=True)
class MediaSpec:
    """Parameters of the Mediation Server's SDP (seed step 5 shape)."""

    session_id: int
    version: int
    address: str
    port: int
    direction: str | None = None  # None: no direction line (sendrecv implied)
    telephone_event_pt: int | None = 101
    rejected: tuple[str, ...] = ()  # extra m= lines of the offer, answered with port 0


def sdp(spec: MediaSpec) -> str:
    formats = "0" if spec.telephone_event_pt is None else f"0 {spec.telephone_event_pt}"
    lines = [
        "v=0",
        f"o=- {spec.session_id} {spec.version} IN IP4 {spec.address}",
        "s=session",
        f"c=IN IP4 {spec.address}",
        "b=CT:1000",
        "t=0 0",
        f"m=audio {spec.port} RTP/AVP {formats}",
        f"c=IN IP4 {spec.address}",
        f"a=rtcp:{spec.port + 1}",
    ]
    if spec.direction is not None:
        lines.append(f"a={spec.direction}")
    lines += ["a=label:Audio", "a=rtpmap:0 PCMU/8000"]
    if spec.telephone_event_pt is not None:
        pt = spec.telephone_event_pt
        lines += [f"a=rtpmap:{pt} telephone-event/8000", f"a=fmtp:{pt} 0-16"]
    lines.append("a=ptime:20")
    lines += spec.rejected
    return "\r\n".join(lines) + "\r\n"

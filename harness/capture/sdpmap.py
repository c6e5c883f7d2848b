"""Media endpoints announced by the SDP of captured SIP, in the order they took effect.

This follows what tshark 4.0 does with SDP (packet-sdp.c, packet-rtp.c): every offer and
every accepted answer (a response below 300, or an ACK) with an RTP ``m=`` line on a
non-zero port sets up the connection address and port for RTP from the next frame on,
with the payload-type map (``a=rtpmap``, session level then media level) of that media
section. Only the first answer of a transaction counts. A packet is matched through its
destination address and port first, then its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.capture.addresses import addr_from_str
from harness.capture.sip import CapturedSip
from harness.sip import Request, SdpParseError, SessionDescription, SipParseError
from harness.sip.sdp import MediaDescription


@dataclass(frozen=True)
class SdpEndpoint:
    """One media section of one SDP: where its sender wants to receive RTP."""

    frame: int  # frame of the SIP message carrying the SDP
    time: float
    setup_frame: int  # tshark's: the frame of the transaction's request
    address: str
    port: int
    key: tuple[int, int, int]  # (addr hi, addr lo, port)
    media: str
    proto: str
    direction: str  # sendrecv / sendonly / recvonly / inactive
    rtpmap: dict[int, tuple[str, int]] = field(compare=False)  # pt -> (encoding, clock)
    call_id: str | None = None
    is_offer: bool = True
    sip_src: str = ""  # who sent the SIP message
    sip_dst: str = ""


def session_of(item: CapturedSip) -> SessionDescription | None:
    """The SDP of a captured message, parsed leniently when the strict parse fails."""
    msg = item.message
    if msg is None or not msg.body:
        return None
    try:
        return msg.sdp()
    except SipParseError:
        pass
    body = msg.body
    if not body.lstrip().startswith(b"v="):
        return None
    try:
        return SessionDescription.parse(body, strict=False)
    except SipParseError:
        return None
    except Exception:  # noqa: BLE001 - never lose a capture to a parser bug
        return None


def _rtpmap(sdp: SessionDescription, md: MediaDescription) -> dict[int, tuple[str, int]]:
    out: dict[int, tuple[str, int]] = {}
    for attrs in (sdp.attributes, md.attributes):
        for name, value in attrs:
            if name != "rtpmap" or not value:
                continue
            pt_text, _, rest = value.strip().partition(" ")
            enc, _, tail = rest.strip().partition("/")
            rate_text = tail.split("/", 1)[0].strip()
            if pt_text.isdigit() and enc:
                out[int(pt_text)] = (enc, int(rate_text) if rate_text.isdigit() else 0)
    return out


def direction_of(md: MediaDescription) -> str:
    """The a= direction in force for a media section; ``sendrecv`` when it cannot be read."""
    try:
        return md.direction
    except (SdpParseError, ValueError):
        return "sendrecv"


def sdp_directions(item: CapturedSip) -> tuple[tuple[str, ...], bool]:
    """The a= direction of each media section of a message's SDP (the session's when it
    has no m= line; empty without SDP), and whether a c= line is the RFC 2543 hold address."""
    if item.message is None:
        return (), False
    try:
        sdp = session_of(item)
    except Exception:  # noqa: BLE001 - a parser bug must not lose the message
        sdp = None
    if sdp is None:
        return (), False
    dirs: list[str] = []
    hold_address = False
    for md in sdp.media:
        dirs.append(direction_of(md))
        conn = md.connection or sdp.connection
        if conn is not None and conn.is_hold_address:
            hold_address = True
    if not sdp.media:
        try:
            dirs.append(sdp.direction)
        except (SdpParseError, ValueError):
            pass
    return tuple(dirs), hold_address


def endpoints(messages: list[CapturedSip]) -> list[SdpEndpoint]:
    out: list[SdpEndpoint] = []
    requests: dict[tuple[str, int, str], int] = {}  # (call-id, cseq, method) -> frame
    answered: set[int] = set()
    for item in messages:
        msg = item.message
        if msg is None:
            continue
        try:
            call_id = msg.call_id
            cseq_num, cseq_method = msg.cseq
        except (SipParseError, ValueError, TypeError):
            continue
        if isinstance(msg, Request):
            if msg.method != "ACK":
                requests[(call_id or "", cseq_num, cseq_method)] = item.frame
            setup = item.frame
            is_offer = msg.method != "ACK"
            if msg.method == "ACK":
                setup = requests.get((call_id or "", cseq_num, "INVITE"), item.frame)
        else:
            if msg.status >= 300:
                continue
            setup = requests.get((call_id or "", cseq_num, cseq_method), item.frame)
            is_offer = False
        sdp = session_of(item)
        if sdp is None:
            continue
        if not is_offer:
            if setup in answered:
                continue  # tshark applies only the first answer of a transaction
            answered.add(setup)
        for md in sdp.media:
            conn = md.connection or sdp.connection
            if md.port == 0 or "RTP/" not in md.proto.upper() or conn is None:
                continue
            if conn.addrtype.upper() not in ("IP4", "IP6"):
                continue
            try:
                hi, lo = addr_from_str(conn.address.split("/", 1)[0])
            except ValueError:
                continue
            out.append(
                SdpEndpoint(
                    frame=item.frame,
                    time=item.time,
                    setup_frame=setup,
                    address=conn.address.split("/", 1)[0],
                    port=md.port,
                    key=(hi, lo, md.port),
                    media=md.media,
                    proto=md.proto,
                    direction=direction_of(md),
                    rtpmap=_rtpmap(sdp, md),
                    call_id=call_id,
                    is_offer=is_offer,
                    sip_src=item.src,
                    sip_dst=item.dst,
                )
            )
    return out

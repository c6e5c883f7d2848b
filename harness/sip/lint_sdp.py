"""Offer/answer lint of a parsed SDP body: directions, hold addresses, payload types,
rtpmap/fmtp, ptime, RTCP port."""

from __future__ import annotations

from collections.abc import Iterable

from harness.sip.errors import SdpParseError
from harness.sip.sdp import DIRECTIONS, MediaDescription, SessionDescription


def lint_sdp(sdp: SessionDescription) -> list[tuple[str, str, str]]:
    """(code, severity, message) for offer/answer problems of a parsed SDP."""
    out: list[tuple[str, str, str]] = []
    found = [k for k, _ in sdp.attributes if k in DIRECTIONS]
    if len(found) > 1:
        out.append(
            (
                "sdp-direction",
                "error",
                f"session has {len(found)} direction attributes ({', '.join(found)})",
            )
        )
    if sdp.connection is not None and sdp.connection.is_hold_address:
        out.append(
            (
                "sdp-hold-address",
                "info",
                "c= address 0.0.0.0 (RFC 2543 hold; RFC 3264 uses a=inactive/sendonly)",
            )
        )
    for i, m in enumerate(sdp.media, 1):
        out.extend(_lint_media(i, m))
    return out


def _lint_media(i: int, m: MediaDescription) -> Iterable[tuple[str, str, str]]:
    where = f"m={m.media} (media {i})"
    found = [k for k, _ in m.attributes if k in DIRECTIONS]
    if len(found) > 1:
        yield (
            "sdp-direction",
            "error",
            f"{where} has {len(found)} direction attributes ({', '.join(found)})",
        )
    if m.connection is not None and m.connection.is_hold_address:
        yield (
            "sdp-hold-address",
            "info",
            f"{where} c= address 0.0.0.0 (RFC 2543 hold; RFC 3264 uses a=inactive)",
        )
    if "RTP" not in m.proto.upper():
        return
    try:
        pts = m.payload_types
    except SdpParseError as exc:
        yield ("sdp-format", "error", exc.reason)
        return
    try:
        rtpmap = m.rtpmap()
    except SdpParseError as exc:
        yield ("sdp-rtpmap-syntax", "error", exc.reason)
        rtpmap = {}
    for pt in pts:
        if pt >= 96 and pt not in rtpmap:
            yield (
                "sdp-rtpmap-missing",
                "error",
                f"{where}: dynamic payload type {pt} has no a=rtpmap",
            )
    for pt in rtpmap:
        if pt not in pts:
            yield (
                "sdp-rtpmap-unlisted",
                "warning",
                f"{where}: a=rtpmap for {pt}, which is not in the m= line",
            )
    try:
        for pt in m.fmtp():
            if pt not in pts:
                yield (
                    "sdp-fmtp-unlisted",
                    "warning",
                    f"{where}: a=fmtp for {pt}, which is not in the m= line",
                )
    except SdpParseError as exc:
        yield ("sdp-fmtp-syntax", "error", exc.reason)
    try:
        _ = m.ptime
    except SdpParseError as exc:
        yield ("sdp-ptime", "error", exc.reason)
    try:
        _ = m.rtcp_port
    except SdpParseError as exc:
        yield ("sdp-rtcp", "error", exc.reason)


__all__ = ["lint_sdp"]

"""RTP packets (RFC 3550 section 5.1): a dataclass with ``parse()`` and ``pack()`` that round-trip.

Standard library only. ``RtpPacket.parse`` raises :class:`RtpParseError` (a ``ValueError``) with a
precise reason; ``pack()`` validates field ranges and raises ``ValueError`` on local misuse.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
HEADER_LEN = 12
PT_PCMU = 0
PT_PCMA = 8

_FIXED = struct.Struct("!BBHII")


class RtpParseError(ValueError):
    """The bytes are not a valid RTP packet; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet. ``padding`` is the number of padding octets (including the count octet)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: list[int] = field(default_factory=list)
    extension_profile: int | None = None
    extension_data: bytes = b""
    padding: int = 0
    version: int = RTP_VERSION

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < HEADER_LEN:
            raise RtpParseError(f"packet has {len(data)} bytes, an RTP header needs 12")
        b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data)
        version = b0 >> 6
        if version != RTP_VERSION:
            raise RtpParseError(f"RTP version {version}, expected 2")
        has_padding = bool(b0 & 0x20)
        has_ext = bool(b0 & 0x10)
        cc = b0 & 0x0F
        offset = HEADER_LEN
        if len(data) < offset + 4 * cc:
            raise RtpParseError(f"CSRC count {cc} but only {len(data) - offset} bytes follow")
        csrcs = list(struct.unpack_from(f"!{cc}I", data, offset)) if cc else []
        offset += 4 * cc
        ext_profile: int | None = None
        ext_data = b""
        if has_ext:
            if len(data) < offset + 4:
                raise RtpParseError("X bit set but the extension header is truncated")
            ext_profile, ext_words = struct.unpack_from("!HH", data, offset)
            offset += 4
            if len(data) < offset + 4 * ext_words:
                raise RtpParseError(
                    f"extension length {ext_words} words but only {len(data) - offset} bytes"
                )
            ext_data = bytes(data[offset : offset + 4 * ext_words])
            offset += 4 * ext_words
        end = len(data)
        padding = 0
        if has_padding:
            padding = data[-1]
            if padding == 0 or end - padding < offset:
                raise RtpParseError(f"padding count {padding} is invalid for a {end}-byte packet")
            end -= padding
        return cls(
            payload_type=b1 & 0x7F,
            sequence=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=bytes(data[offset:end]),
            marker=bool(b1 & 0x80),
            csrcs=csrcs,
            extension_profile=ext_profile,
            extension_data=ext_data,
            padding=padding,
            version=version,
        )

    def pack(self) -> bytes:
        _check("payload_type", self.payload_type, 0x7F)
        _check("sequence", self.sequence, 0xFFFF)
        _check("timestamp", self.timestamp, 0xFFFFFFFF)
        _check("ssrc", self.ssrc, 0xFFFFFFFF)
        _check("padding", self.padding, 0xFF)
        if len(self.csrcs) > 15:
            raise ValueError(f"{len(self.csrcs)} CSRCs, at most 15 allowed")
        if len(self.extension_data) % 4:
            raise ValueError("extension_data length must be a multiple of 4")
        b0 = (self.version << 6) | len(self.csrcs)
        if self.padding:
            b0 |= 0x20
        if self.extension_profile is not None:
            b0 |= 0x10
        b1 = self.payload_type | (0x80 if self.marker else 0)
        parts = [_FIXED.pack(b0, b1, self.sequence, self.timestamp, self.ssrc)]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension_profile is not None:
            parts.append(struct.pack("!HH", self.extension_profile, len(self.extension_data) // 4))
            parts.append(self.extension_data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def _check(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} {value} out of range 0..{maximum}")


def looks_like_rtcp(data: bytes) -> bool:
    """RFC 5761 section 4 demultiplexing: RTCP packet types 192-223 in the second octet."""
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


def seq_next(seq: int, step: int = 1) -> int:
    """Sequence number arithmetic modulo 2**16."""
    return (seq + step) & 0xFFFF


def ts_next(ts: int, step: int) -> int:
    """Timestamp arithmetic modulo 2**32."""
    return (ts + step) & 0xFFFFFFFF

"""RTCP in a capture (RFC 3550 section 6): compound packets parsed, sans-I/O, and found.

:func:`parse` reads one UDP payload as a compound RTCP packet: sender reports (SR, 200),
receiver reports (RR, 201) with their report blocks, and the others by type (SDES 202,
BYE 203, APP 204, RFC 4585 feedback 205/206, XR 207). RFC 5506 reduced-size packets (no
SR/RR first, as baresip sends with a=rtcp-rsize) are read as well. :func:`rtcp_packets`
finds the capture's RTCP: UDP payloads whose first octets are an RTCP header (version 2,
a packet type 200-207 and a length that fits the datagram).

Where a party listens for RTCP (RFC 3605: the SDP's a=rtcp port, by default the RTP
port + 1, RFC 3550 section 11) is the caller's business: this module reads packets.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from harness.capture.capture import Capture

SR, RR, SDES, BYE, APP = 200, 201, 202, 203, 204
NAMES = {SR: "SR", RR: "RR", SDES: "SDES", BYE: "BYE", APP: "APP", 205: "RTPFB",
         206: "PSFB", 207: "XR"}


class RtcpError(ValueError):
    """Not an RTCP compound packet; the message says which octet is wrong."""


@dataclass(frozen=True)
class ReportBlock:
    """What a receiver says about one source (RFC 3550 6.4.1)."""

    ssrc: int
    fraction_lost: float  # 0..1 since the last report
    cumulative_lost: int  # may be negative with duplicates
    highest_seq: int  # extended highest sequence number received
    jitter: int  # interarrival jitter, in the source's RTP timestamp units
    lsr: int
    dlsr: int

    def jitter_ms(self, clock_rate: int = 8000) -> float:
        return self.jitter * 1000.0 / clock_rate


@dataclass(frozen=True)
class RtcpPacket:
    """One packet of a compound: its type, the sender's SSRC, and for SR/RR the figures."""

    packet_type: int
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    ntp: int | None = None  # SR: 64-bit NTP timestamp
    rtp_timestamp: int | None = None  # SR
    packet_count: int | None = None  # SR: RTP packets sent
    octet_count: int | None = None  # SR: payload octets sent

    @property
    def name(self) -> str:
        return NAMES.get(self.packet_type, str(self.packet_type))


def _report_blocks(body: bytes, count: int, at: int) -> tuple[ReportBlock, ...]:
    out = []
    for i in range(count):
        b = body[i * 24:(i + 1) * 24]
        if len(b) < 24:
            raise RtcpError(f"report block {i + 1} of {count} cut short at octet {at + i * 24}")
        ssrc, lost, highest, jitter, lsr, dlsr = struct.unpack("!IIIIII", b)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:  # signed 24 bits
            cumulative -= 1 << 24
        out.append(ReportBlock(ssrc, (lost >> 24) / 256.0, cumulative, highest, jitter, lsr,
                               dlsr))
    return tuple(out)


def parse(data: bytes) -> list[RtcpPacket]:
    """The packets of one compound RTCP datagram. RtcpError when it is not one."""
    out: list[RtcpPacket] = []
    at = 0
    while at < len(data):
        if len(data) - at < 4:
            raise RtcpError(f"{len(data) - at} stray octets at octet {at}")
        first, pt, words = struct.unpack("!BBH", data[at:at + 4])
        if first >> 6 != 2:
            raise RtcpError(f"version {first >> 6} at octet {at}, not 2")
        if pt not in NAMES:
            raise RtcpError(f"packet type {pt} at octet {at} is not RTCP (200-207)")
        end = at + 4 * (words + 1)
        if end > len(data):
            raise RtcpError(f"the {NAMES[pt]} at octet {at} says {4 * (words + 1)} octets, "
                            f"{len(data) - at} left")
        count = first & 0x1F
        body = data[at + 4:end]
        ssrc = struct.unpack("!I", body[:4])[0] if len(body) >= 4 else 0
        if pt == SR:
            if len(body) < 24:
                raise RtcpError(f"sender report at octet {at} shorter than its sender info")
            ntp_hi, ntp_lo, rtp_ts, packets, octets = struct.unpack("!IIIII", body[4:24])
            out.append(RtcpPacket(SR, ssrc, _report_blocks(body[24:], count, at + 28),
                                  (ntp_hi << 32) | ntp_lo, rtp_ts, packets, octets))
        elif pt == RR:
            out.append(RtcpPacket(RR, ssrc, _report_blocks(body[4:], count, at + 8)))
        else:
            out.append(RtcpPacket(pt, ssrc))
        at = end
    return out


@dataclass(frozen=True)
class CapturedRtcp:
    frame: int
    time: float  # epoch seconds
    src: str
    sport: int
    dst: str
    dport: int
    packets: list[RtcpPacket] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [p.name for p in self.packets]


def rtcp_packets(cap: Capture) -> list[CapturedRtcp]:
    """Every UDP datagram of the capture that parses as compound RTCP, in capture order."""
    head = cap.head
    sel = ((cap.proto == 17) & (cap.payload_len >= 8) & ((head[:, 0] >> 6) == 2)
           & (head[:, 1] >= 200) & (head[:, 1] <= 207))
    out = []
    for i in np.flatnonzero(sel):
        try:
            packets = parse(bytes(cap.payload(int(i))))
        except RtcpError:
            continue  # RTP with a marker and payload type 72-79, or noise
        out.append(CapturedRtcp(int(i) + 1, float(cap.time[i]), cap.src(int(i)),
                                int(cap.sport[i]), cap.dst(int(i)), int(cap.dport[i]),
                                packets))
    return out

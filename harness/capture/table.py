"""The per-packet arrays that header decoding fills in."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
HEAD = 12  # payload bytes kept per packet (an RTP fixed header)
#: an IP fragment: (packet, offset in the datagram, datagram key, protocol, more fragments,
#: start and end of its data in the file buffer)
Fragment = tuple[int, int, tuple[object, ...], int, bool, int, int]


@dataclass
class PacketTable:
    """Per-packet arrays (index i is Wireshark's frame i + 1)."""

    ts_ns: np.ndarray  # int64 epoch ns
    ip_version: np.ndarray  # uint8: 4, 6 or 0 (not IP / undecodable)
    proto: np.ndarray  # uint8: 17 UDP or 6 TCP where the header was decoded, else IP proto
    src_hi: np.ndarray  # uint64
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    sport: np.ndarray  # uint16 (a view of ``ports``)
    dport: np.ndarray  # uint16 (a view of ``ports``)
    ports: np.ndarray  # >u4: sport << 16 | dport, one array for both
    payload_off: np.ndarray  # int64 offset into the capture buffer
    payload_len: np.ndarray  # int32 bytes captured
    payload_wire_len: np.ndarray  # int32 bytes the headers announce (snaplen cuts differ)
    head: np.ndarray  # (N, 12) uint8: first payload bytes (zero past the captured ones)
    tcp_seq: np.ndarray  # int64 (TCP only)
    tcp_flags: np.ndarray  # uint8 (TCP only)
    fragment: np.ndarray  # bool: an IP fragment whose datagram is reported elsewhere
    extra: bytes = b""  # reassembled datagrams, addressed past the end of the file
    warnings: list[str] = field(default_factory=list)

"""The fast path of header decoding: a chunk whose every packet is plain IPv4/UDP.

Most packets of a call capture are RTP: Ethernet (or Linux cooked) + IPv4 without options,
not a fragment + UDP. Such packets have every header field at a fixed offset, so one
gather of their first bytes, viewed through a structured dtype, decodes them with one
numpy step per field and none of the per-layout grouping of the general decoder
(:mod:`harness.capture.links`, :mod:`~harness.capture.ip`,
:mod:`~harness.capture.transport`). A chunk with any other packet (VLAN tags, IP options,
fragments, IPv6, TCP, ICMP, a cut-short or malformed header, another link type) is left to
the general decoder whole, so both give the same table (the unit tests compare them).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from harness.capture.addresses import IPV4_MAPPED
from harness.capture.records import Buffer, Records, gather
from harness.capture.table import HEAD, PROTO_UDP, PacketTable

#: link type -> bytes of link header before the IPv4 header, offset of the protocol field
FAST_LINKS = {1: (14, 12), 113: (16, 14)}
_MAPPED = np.uint64(IPV4_MAPPED)
_UDP_HEADERS = 20 + 8  # IPv4 without options, UDP


@cache
def _layout(pre: int, hlen: int, col: int) -> np.dtype:
    """The fields of a record header (``pre`` bytes, pcap) and a packet's link, IPv4,
    UDP headers and first payload bytes, at their fixed offsets."""
    ip = pre + hlen
    udp = ip + 20
    fields = {
        # ethertype (SLL: protocol), then IPv4's version and header length, and TOS
        "ether": (">u4", pre + col),
        "total": (">u2", ip + 2),
        "frag": (">u4", ip + 6),  # flags and fragment offset, TTL, protocol
        "src": (">u4", ip + 12),
        "dst": (">u4", ip + 16),
        "ports": (">u4", udp),
        "ulen": (">u2", udp + 4),
        "head": ("V12", udp + 8),
    }
    if pre:
        fields["sec"] = ("V4", 0)  # read with the file's byte order
        fields["frac"] = ("V4", 4)
    return np.dtype(
        {
            "names": list(fields),
            "formats": [f for f, _o in fields.values()],
            "offsets": [o for _f, o in fields.values()],
            "itemsize": udp + 8 + HEAD,
        }
    )


def decode_fast(t: PacketTable, rec: Records, buf: Buffer, lt: int, lo: int, hi: int) -> bool:
    """Decode packets ``lo:hi`` (all of link type ``lt``) into ``t`` if every one is plain
    IPv4/UDP with its headers captured; False (``t`` untouched) otherwise."""
    link = FAST_LINKS.get(lt)
    if link is None:
        return False
    hlen, col = link
    caplen = rec.caplen[lo:hi]
    start = hlen + _UDP_HEADERS  # the UDP payload
    if bool(np.any(caplen < start)):
        return False
    pre = 16 if rec.pcap_header is not None else 0
    dt = _layout(pre, hlen, col)
    data_off = rec.data_off[lo:hi]
    r = gather(buf, data_off - pre, dt.itemsize).view(dt)[:, 0]
    # IPv4 with a 20-byte header; UDP, neither MF nor an offset (not a fragment)
    if not (
        bool(np.all((r["ether"] >> 8) == 0x080045))
        and bool(np.all((r["frag"] & 0x3FFF00FF) == PROTO_UDP))
    ):
        return False
    total = r["total"].astype(np.int32)
    ulen = r["ulen"].astype(np.int32)
    # total 0 (TSO) and lengths below the headers' are the general decoder's cases
    if bool(np.any(total < _UDP_HEADERS)) or bool(np.any(ulen < 8)):
        return False
    g = slice(lo, hi)
    if rec.pcap_header is not None:
        endian, frac_ns = rec.pcap_header
        ts = t.ts_ns[g]
        ts[:] = r["sec"].view(endian + "u4")
        ts *= 1_000_000_000
        frac = r["frac"].view(endian + "u4").astype(np.int64)
        frac *= frac_ns
        ts += frac
    t.ip_version[g] = 4
    t.proto[g] = PROTO_UDP
    np.bitwise_or(r["src"], _MAPPED, out=t.src_lo[g])
    np.bitwise_or(r["dst"], _MAPPED, out=t.dst_lo[g])
    t.ports[g] = r["ports"]
    wire = np.minimum(ulen, total - 20)
    wire -= 8
    captured = np.minimum(wire, caplen - start)
    np.maximum(captured, 0, out=captured)
    np.add(data_off, start, out=t.payload_off[g])
    t.payload_wire_len[g] = wire
    t.payload_len[g] = captured
    head = t.head[g]
    head.view("V12")[:, 0] = r["head"]
    short = np.flatnonzero(captured < HEAD)
    if short.size:  # keep only captured bytes (the rest of a row is the next record's)
        keep = np.arange(HEAD)[None, :] < captured[short, None]
        head[short] *= keep.astype(np.uint8)
    return True

"""UDP and TCP headers, decoded on a chunk's arrays: ports, TCP sequence and flags, and
where each packet's payload lies (as captured, and as the headers announce it); an ICMPv4
message's payload is the whole message (an error quotes the datagram it answers)."""

from __future__ import annotations

import numpy as np

from harness.capture.rows import Chunk, Ix, u16, u32
from harness.capture.table import HEAD, PROTO_ICMP, PROTO_TCP, PROTO_UDP


def decode_transport(ch: Chunk) -> None:
    t, lo, k, l4_end = ch.t, ch.lo, ch.k, ch.l4_end
    ok_ip = (t.ip_version[lo : lo + k] != 0) & ~t.fragment[lo : lo + k]
    proto = t.proto[lo : lo + k]
    ix = Ix(np.flatnonzero(ok_ip & (proto == PROTO_UDP)), k, lo)
    for c, gx, h in ch.layouts(ix, ch.l4, 8, "UDP", clear_proto=True):
        ulen = u16(h[:, 4:6]).astype(np.int64)
        ip_len = l4_end[gx.loc] - c
        if not ulen.all():
            ulen = np.where(ulen == 0, ip_len, ulen)  # jumbogram
        bad = ulen < 8
        if np.any(bad):
            gx = _drop(ch, gx, bad, "bad UDP length field")
            h, ulen, ip_len = h[~bad], ulen[~bad], ip_len[~bad]
        t.sport[gx.glob] = u16(h[:, 0:2])
        t.dport[gx.glob] = u16(h[:, 2:4])
        _payload(ch, gx, c + 8, np.minimum(ulen, ip_len) - 8)
    ix = Ix(np.flatnonzero(ok_ip & (proto == PROTO_TCP)), k, lo)
    for c, gx, h in ch.layouts(ix, ch.l4, 20, "TCP", clear_proto=True):
        doff = (h[:, 12] >> 4).astype(np.int64) * 4
        ip_len = l4_end[gx.loc] - c
        bad = (doff < 20) | (doff > ip_len)
        if np.any(bad):
            gx = _drop(ch, gx, bad, "bad TCP header length")
            h, doff, ip_len = h[~bad], doff[~bad], ip_len[~bad]
        g = gx.glob
        t.sport[g] = u16(h[:, 0:2])
        t.dport[g] = u16(h[:, 2:4])
        t.tcp_seq[g] = u32(h[:, 4:8])
        t.tcp_flags[g] = h[:, 13]
        _payload(ch, gx, c + doff, ip_len - doff)
    ipv4 = t.ip_version[lo : lo + k] == 4
    ix = Ix(np.flatnonzero(ok_ip & ipv4 & (proto == PROTO_ICMP)), k, lo)
    for c, gx, _h in ch.layouts(ix, ch.l4, 8, "ICMP"):
        _payload(ch, gx, c, l4_end[gx.loc] - c)


def _drop(ch: Chunk, gx: Ix, bad: np.ndarray, what: str) -> Ix:
    """Report the packets ``bad`` selects, clear their transport protocol; the rest."""
    ch.warn.add(gx.frames0(bad), what)
    ch.t.proto[gx.frames0(bad)] = 0
    return gx.subset(~bad)


def _payload(ch: Chunk, gx: Ix, start: int | np.ndarray, wire: np.ndarray) -> None:
    t, rows = ch.t, ch.rows
    wire = np.maximum(wire, 0)
    captured = np.minimum(start + wire, ch.end[gx.loc]) - start
    np.maximum(captured, 0, out=captured)
    g = gx.glob
    t.payload_off[g] = rows.data_off[gx.loc] + start
    t.payload_wire_len[g] = wire
    t.payload_len[g] = captured
    head = rows.take(gx.loc, start, HEAD)
    t.head[g] = head
    short = np.flatnonzero(captured < HEAD)
    if short.size:  # keep only captured bytes
        keep = (np.arange(HEAD)[None, :] < captured[short, None]).astype(np.uint8)
        t.head[gx.frames0(short)] = head[short] * keep

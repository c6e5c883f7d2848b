"""IPv4 and IPv6 headers (IPv6 with extension headers), decoded on a chunk's arrays.

Each sets the packets' version, protocol and addresses (two uint64 halves of the IPv6
form, see :mod:`harness.capture.addresses`) and where their transport header starts and
the IP payload ends. Fragments are noted for :func:`harness.capture.fragments.reassemble`.
"""

from __future__ import annotations

import struct

import numpy as np

from harness.capture.addresses import IPV4_MAPPED
from harness.capture.rows import Chunk, Ix, u16, u32, u64

IPV4_MAPPED_LO = np.uint64(IPV4_MAPPED)
IPV6_EXT_HEADERS = (0, 43, 60, 51)


def decode_ipv4(ch: Chunk, ix: Ix) -> None:
    t, end, l4, l4_end = ch.t, ch.end, ch.l4, ch.l4_end
    for c, gx, h in ch.layouts(ix, ch.l3, 20, "IPv4"):
        total = u16(h[:, 2:4]).astype(np.int64)
        if not total.all():
            total = np.where(total == 0, end[gx.loc] - c, total)  # TSO: length left as 0
        ihl: int | np.ndarray
        if bool(np.all(h[:, 0] == 0x45)):  # version 4 without options: the usual header
            ihl = 20
            bad = total < 20
        else:
            ihl = (h[:, 0] & 0x0F).astype(np.int64) * 4
            bad = ((h[:, 0] >> 4) != 4) | (ihl < 20) | (total < ihl)
        if np.any(bad):
            ch.warn.add(gx.frames0(bad), "bad IPv4 header (version or length fields)")
            keep = ~bad
            gx, h, total = gx.subset(keep), h[keep], total[keep]
            if isinstance(ihl, np.ndarray):
                ihl = ihl[keep]
        g = gx.glob
        t.ip_version[g] = 4
        t.proto[g] = h[:, 9]
        for col, addr in ((12, t.src_lo), (16, t.dst_lo)):
            if isinstance(g, slice):
                np.bitwise_or(u32(h[:, col : col + 4]), IPV4_MAPPED_LO, out=addr[g])
            else:
                addr[g] = u32(h[:, col : col + 4]) | IPV4_MAPPED_LO
        l4[gx.loc] = c + ihl
        l4_end[gx.loc] = c + total
        is_frag = (u16(h[:, 6:8]) & 0x3FFF) != 0  # MF set or an offset
        if np.any(is_frag):
            for i, r in zip(gx.idx[is_frag].tolist(), h[is_frag], strict=True):
                fl = (int(r[6]) << 8) | int(r[7])
                key = (4, bytes(r[12:20]), (int(r[4]) << 8) | int(r[5]), int(r[9]))
                _fragment(ch, i, key, int(r[9]), (fl & 0x1FFF) * 8, bool(fl & 0x2000), 0)
            t.fragment[gx.frames0(is_frag)] = True


def decode_ipv6(ch: Chunk, ix: Ix) -> None:
    t, end, l4, l4_end = ch.t, ch.end, ch.l4, ch.l4_end
    for c, gx, h in ch.layouts(ix, ch.l3, 40, "IPv6"):
        bad = (h[:, 0] >> 4) != 6
        if np.any(bad):
            ch.warn.add(gx.frames0(bad), "bad IPv6 header (version field)")
            gx, h = gx.subset(~bad), h[~bad]
        idx = gx.idx
        plen = u16(h[:, 4:6]).astype(np.int64)
        plen = np.where(plen == 0, end[idx] - c - 40, plen)  # jumbogram / TSO
        g = gx.glob
        t.ip_version[g] = 6
        t.src_hi[g] = u64(h[:, 8:16])
        t.src_lo[g] = u64(h[:, 16:24])
        t.dst_hi[g] = u64(h[:, 24:32])
        t.dst_lo[g] = u64(h[:, 32:40])
        nh = h[:, 6].astype(np.int64)
        l4[idx] = c + 40
        l4_end[idx] = c + 40 + plen
        for _ in range(8):  # extension headers: rare, walked on the subset that has them
            ext = np.flatnonzero(np.isin(nh, IPV6_EXT_HEADERS))
            if ext.size == 0:
                break
            ok = end[idx[ext]] - l4[idx[ext]] >= 2
            if not np.all(ok):
                ch.warn.add(gx.lo + idx[ext[~ok]], "IPv6 extension header cut short")
                nh[ext[~ok]] = 59  # no next header
                ext = ext[ok]
            e = ch.rows.take(idx[ext], l4[idx[ext]], 2).astype(np.int64)
            size = np.where(nh[ext] == 51, (e[:, 1] + 2) * 4, (e[:, 1] + 1) * 8)
            nh[ext] = e[:, 0]
            l4[idx[ext]] += size
        is_frag = np.flatnonzero(nh == 44)
        if is_frag.size:
            fi = idx[is_frag]
            ok = end[fi] - l4[fi] >= 8
            fh = ch.rows.take(fi, l4[fi], 8)
            for j in np.flatnonzero(ok).tolist():
                nxt, _r, fo, ident = struct.unpack("!BBHI", fh[j].tobytes())
                key = (6, h[is_frag[j], 8:40].tobytes(), ident, nxt)
                _fragment(ch, int(fi[j]), key, nxt, fo & 0xFFF8, bool(fo & 1), 8)
            t.fragment[gx.lo + fi] = True
        t.proto[g] = nh.astype(np.uint8)


def _fragment(
    ch: Chunk, i: int, key: tuple[object, ...], proto: int, offset: int, more: bool, skip: int
) -> None:
    """Note packet ``i`` (chunk-relative) as a fragment: its data starts ``skip`` bytes
    after its last IP header (IPv6's fragment header)."""
    start = int(ch.rows.data_off[i] + ch.l4[i]) + skip
    stop = int(ch.rows.data_off[i] + min(ch.l4_end[i], ch.end[i]))
    ch.frags.append((ch.lo + i, offset, key, proto, more, start, stop))

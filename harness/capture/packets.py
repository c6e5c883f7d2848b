"""Link, IP and transport headers of every packet, decoded on arrays.

Link types: Ethernet (with stacked 802.1Q/802.1ad tags), Linux cooked SLL and SLL2
(``tcpdump -i any``), raw IP (101, and the platform values 12 and 14), IPv4 (228), IPv6
(229), BSD loopback (0, host byte order) and OpenBSD loopback (108). IPv4 and IPv6 (with
extension headers); IP fragments are reassembled on a slow path (they are rare). UDP and TCP.

Decoding works on chunks: the first :data:`ROW` bytes of every packet of the chunk are
copied into one (N, ROW) array with a single gather, and every header field is a column
slice of it (per group of packets that share a header layout). Fields beyond those bytes
(long IPv6 extension chains, TCP options) are gathered from the file buffer.

Addresses are kept as two uint64 halves of the 16-byte IPv6 form (IPv4 as ``::ffff:a.b.c.d``,
whose high half is 0) so that one set of arrays serves both versions.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

import numpy as np

from harness.capture.formats import Records, gather
from harness.capture.parallel import can_fork, shared_zeros, split

LINKTYPE_NAMES = {
    0: "BSD loopback",
    1: "Ethernet",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    108: "OpenBSD loopback",
    113: "Linux cooked (SLL)",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked v2 (SLL2)",
}
KNOWN_LINKTYPE_NAMES = {
    6: "Token Ring",
    9: "PPP",
    10: "FDDI",
    105: "IEEE 802.11",
    119: "Prism",
    127: "802.11 radiotap",
    147: "user 0",
    195: "IEEE 802.15.4",
    201: "Bluetooth HCI H4",
    220: "USB Linux mmapped",
    249: "USBPcap",
}
SUPPORTED_LINKTYPES = frozenset(LINKTYPE_NAMES)

ROW = 80  # Ethernet + VLAN + IPv6 + UDP + RTP header: 14 + 4 + 40 + 8 + 12 = 78
CHUNK = 1 << 13  # packets decoded together: their rows and temporaries stay in the CPU cache
ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
IPV4_MAPPED_LO = np.uint64(0xFFFF_0000_0000)
IPV6_EXT_HEADERS = (0, 43, 60, 51)
PROTO_TCP = 6
PROTO_UDP = 17
HEAD = 12  # payload bytes kept per packet (an RTP fixed header)
_MAX_WARNINGS = 20


def linktype_name(linktype: int) -> str:
    name = LINKTYPE_NAMES.get(linktype) or KNOWN_LINKTYPE_NAMES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


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


class _Warn:
    """Malformed-packet warnings: the first few by packet number, and a count of the rest."""

    def __init__(self, sink: list[str]) -> None:
        self.sink = sink
        self.items: list[tuple[int, str]] = []
        self.count = 0

    def add(self, index: np.ndarray, what: str) -> None:
        self.items.extend((int(i), what) for i in index[:_MAX_WARNINGS].tolist())
        self.count += int(index.size)
        if len(self.items) > 10 * _MAX_WARNINGS:
            self.items = sorted(self.items)[:_MAX_WARNINGS]

    def close(self) -> None:
        shown = sorted(self.items)[:_MAX_WARNINGS]
        self.sink.extend(f"packet {i + 1}: {what}" for i, what in shown)
        if self.count > len(shown):
            self.sink.append(f"... and {self.count - len(shown)} more malformed packets")


def _u16(b: np.ndarray) -> np.ndarray:
    """Big-endian uint16 of a (N, 2) byte array (a view when the bytes are adjacent)."""
    if b.strides[-1] != 1:
        b = np.ascontiguousarray(b)
    return b.view(">u2")[:, 0]


def _u32(b: np.ndarray) -> np.ndarray:
    if b.strides[-1] != 1:
        b = np.ascontiguousarray(b)
    return b.view(">u4")[:, 0]


def _u64(b: np.ndarray) -> np.ndarray:
    if b.strides[-1] != 1:
        b = np.ascontiguousarray(b)
    return b.view(">u8")[:, 0]


class _Rows:
    """The first ROW bytes of each packet of a chunk, with fallbacks to the file buffer.

    With ``pre`` > 0 the rows also hold the ``pre`` bytes before each packet (a pcap
    record header), available as ``header``."""

    def __init__(self, buf: bytes, data_off: np.ndarray, caplen: np.ndarray, pre: int = 0) -> None:
        self.buf = buf
        self.data_off = data_off
        self.caplen = caplen
        full = gather(buf, data_off - pre, pre + ROW)
        self.header = full[:, :pre]
        self.rows = full[:, pre:]

    def take(self, idx: np.ndarray | slice, col: int | np.ndarray, width: int) -> np.ndarray:
        """(len(idx), width) bytes at packet-relative offset ``col`` (scalar or per row)."""
        if np.isscalar(col) or np.ndim(col) == 0:
            c = int(col)
            if c + width <= ROW:
                return self.rows[idx, c : c + width]
            return gather(self.buf, self.data_off[idx] + c, width)
        col = np.asarray(col, dtype=np.int64)
        if isinstance(idx, slice):
            idx = np.arange(self.rows.shape[0])[idx]
        if idx.size and int(col.max()) + width <= ROW:
            return self.rows[idx[:, None], col[:, None] + np.arange(width)]
        return gather(self.buf, self.data_off[idx] + col, width)


class _Ix:
    """Some packets of a chunk. When they are all of them, indexing uses slices (views,
    no gathers or scatters): ``loc`` indexes chunk arrays, ``glob`` the table's arrays."""

    def __init__(self, idx: np.ndarray, k: int, lo: int) -> None:
        self.idx, self.k, self.lo = idx, k, lo
        full = idx.size == k
        self.loc: np.ndarray | slice = slice(None) if full else idx
        self.glob: np.ndarray | slice = slice(lo, lo + k) if full else lo + idx

    @property
    def size(self) -> int:
        return int(self.idx.size)

    def subset(self, mask: np.ndarray) -> _Ix:
        return _Ix(self.idx[mask], self.k, self.lo)

    def frames0(self, mask: np.ndarray) -> np.ndarray:
        """0-based packet numbers of the packets selected by ``mask`` (for warnings)."""
        return self.lo + self.idx[mask]


def _groups(values: np.ndarray, ix: _Ix) -> list[tuple[int, _Ix]]:
    """Split packets by the value of ``values`` (a handful of distinct header layouts)."""
    if ix.size == 0:
        return []
    v = values[ix.loc]
    first = int(v[0])
    if bool(np.all(v == first)):
        return [(first, ix)]
    return [(int(u), ix.subset(v == u)) for u in np.unique(v)]


PARALLEL_MIN = 200_000  # packets: below this a second process costs more than it saves


def decode(rec: Records, buf: bytes, workers: int = 1) -> PacketTable:
    """Decode every packet; with ``workers=2`` (and a large capture) a forked process
    decodes the second half into shared arrays."""
    n = len(rec)
    parallel = workers > 1 and n >= PARALLEL_MIN and can_fork()
    zeros = shared_zeros if parallel else np.zeros
    warnings: list[str] = []
    warn = _Warn(warnings)
    ports = zeros(n, dtype=">u4")
    t = PacketTable(
        ts_ns=rec.ts_ns if rec.ts_ns is not None else zeros(n, dtype=np.int64),
        ip_version=zeros(n, dtype=np.uint8),
        proto=zeros(n, dtype=np.uint8),
        src_hi=zeros(n, dtype=np.uint64),
        src_lo=zeros(n, dtype=np.uint64),
        dst_hi=zeros(n, dtype=np.uint64),
        dst_lo=zeros(n, dtype=np.uint64),
        sport=ports.view(">u2")[0::2],
        dport=ports.view(">u2")[1::2],
        ports=ports,
        payload_off=zeros(n, dtype=np.int64),
        payload_len=zeros(n, dtype=np.int32),
        payload_wire_len=zeros(n, dtype=np.int32),
        head=zeros((n, HEAD), dtype=np.uint8),
        tcp_seq=zeros(n, dtype=np.int64),
        tcp_flags=zeros(n, dtype=np.uint8),
        fragment=zeros(n, dtype=bool),
        warnings=warnings,
    )
    frags: list[tuple] = []
    unsupported: dict[int, tuple[int, int]] = {}

    def run(lo: int, hi: int, w: _Warn, fr: list, un: dict) -> tuple:
        for start in range(lo, hi, CHUNK):
            _decode_chunk(t, rec, buf, start, min(hi, start + CHUNK), w, fr, un)
        return w.items, w.count, fr, un

    if parallel:
        mid = (n // 2 + CHUNK - 1) // CHUNK * CHUNK
        _mine, (items, count, their_frags, their_un) = split(
            lambda: run(0, mid, warn, frags, unsupported),
            lambda: run(mid, n, _Warn([]), [], {}),
        )
        warn.items.extend(items)
        warn.count += count
        frags.extend(their_frags)
        for lt, (c, first) in their_un.items():
            c0, f0 = unsupported.get(lt, (0, first))
            unsupported[lt] = (c0 + c, min(f0, first))
    else:
        run(0, n, warn, frags, unsupported)
    for lt, (count, first) in sorted(unsupported.items()):
        warnings.insert(
            0,
            f"link type {linktype_name(lt)} is not supported: {count} packets skipped"
            f" (first is packet {first + 1})",
        )
    if frags:
        _reassemble(t, frags, np.frombuffer(buf, dtype=np.uint8), len(buf))
    warn.close()
    return t


def _decode_chunk(
    t: PacketTable,
    rec: Records,
    buf: bytes,
    lo: int,
    hi: int,
    warn: _Warn,
    frags: list,
    unsupported: dict,
) -> None:
    data_off = rec.data_off[lo:hi]
    caplen = rec.caplen[lo:hi].astype(np.int64)
    if rec.pcap_header is None:
        rows = _Rows(buf, data_off, caplen)
    else:
        endian, frac_ns = rec.pcap_header
        rows = _Rows(buf, data_off, caplen, pre=16)
        hdr = rows.header.view(endian + "u4")
        ts = t.ts_ns[lo:hi]
        ts[:] = hdr[:, 0]
        ts *= 1_000_000_000
        ts += hdr[:, 1].astype(np.int64) * frac_ns
    k = hi - lo
    l3 = np.zeros(k, dtype=np.int64)  # network header offset, relative to the packet
    ipver = np.zeros(k, dtype=np.uint8)
    lts = rec.linktype[lo:hi]
    for lt, ix in _groups(lts, _Ix(np.arange(k), k, lo)):
        if lt not in SUPPORTED_LINKTYPES:
            count, first = unsupported.get(lt, (0, lo + int(ix.idx[0])))
            unsupported[lt] = (count + ix.size, first)
            continue
        _link(rows, lt, ix, l3, ipver)
    end = caplen  # captured bytes, relative to the packet start
    l4 = np.zeros(k, dtype=np.int64)
    l4_end = np.zeros(k, dtype=np.int64)
    _ipv4(t, rows, _Ix(np.flatnonzero(ipver == 4), k, lo), l3, end, l4, l4_end, warn, frags)
    _ipv6(t, rows, _Ix(np.flatnonzero(ipver == 6), k, lo), l3, end, l4, l4_end, warn, frags)
    _transport(t, rows, lo, k, l4, l4_end, end, warn)


def _link(rows: _Rows, lt: int, ix: _Ix, l3: np.ndarray, ipver: np.ndarray) -> None:
    idx = ix.idx
    cap = rows.caplen[ix.loc]
    if lt in (1, 113, 276):
        hlen, col = {1: (14, 12), 113: (16, 14), 276: (20, 0)}[lt]
        long_enough = cap >= hlen
        if bool(long_enough.all()):  # rows as a slice where it can be: views, no gathers
            sub: np.ndarray | slice = ix.loc
        else:
            sub = idx = idx[long_enough]
        et = _u16(rows.take(sub, col, 2)).astype(np.int64)
        off = np.full(idx.size, hlen, dtype=np.int64)
        for _ in range(4):  # 802.1Q / 802.1ad tags, possibly stacked
            tagged = np.flatnonzero(np.isin(et, VLAN_TPIDS))
            if tagged.size == 0:
                break
            ok = rows.caplen[idx[tagged]] >= off[tagged] + 4
            et[tagged[~ok]] = 0
            tagged = tagged[ok]
            et[tagged] = _u16(rows.take(idx[tagged], off[tagged] + 2, 2))
            off[tagged] += 4
        l3[sub] = off
        ipver[sub] = np.where(et == ETH_IPV4, 4, np.where(et == ETH_IPV6, 6, 0))
    elif lt in (0, 108):
        idx = idx[cap >= 4]
        raw = np.ascontiguousarray(rows.take(idx, 0, 4))
        if lt == 108:
            af = raw.view(">u4")[:, 0].astype(np.int64)
        else:
            af = raw.view("<u4")[:, 0].astype(np.int64)
            swap = (af & 0xFFFF0000) != 0
            af[swap] = raw[swap].view(">u4")[:, 0]
        l3[idx] = 4
        ipver[idx[af == 2]] = 4
        ipver[idx[np.isin(af, (10, 24, 28, 30))]] = 6
    else:  # raw IP: the version nibble decides
        idx = idx[cap >= 1]
        nib = rows.take(idx, 0, 1)[:, 0] >> 4
        if lt != 229:
            ipver[idx[nib == 4]] = 4
        if lt != 228:
            ipver[idx[nib == 6]] = 6
        l3[idx] = 0


def _ipv4(
    t: PacketTable,
    rows: _Rows,
    ix: _Ix,
    l3: np.ndarray,
    end: np.ndarray,
    l4: np.ndarray,
    l4_end: np.ndarray,
    warn: _Warn,
    frags: list,
) -> None:
    if ix.size == 0:
        return
    short = end[ix.loc] - l3[ix.loc] < 20
    if np.any(short):
        warn.add(ix.frames0(short), "IPv4 header cut short")
        ix = ix.subset(~short)
    for c, gx in _groups(l3, ix):
        h = rows.take(gx.loc, c, 20)
        total = _u16(h[:, 2:4]).astype(np.int64)
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
            warn.add(gx.frames0(bad), "bad IPv4 header (version or length fields)")
            keep = ~bad
            gx, h, total = gx.subset(keep), h[keep], total[keep]
            if isinstance(ihl, np.ndarray):
                ihl = ihl[keep]
        g = gx.glob
        t.ip_version[g] = 4
        t.proto[g] = h[:, 9]
        for col, addr in ((12, t.src_lo), (16, t.dst_lo)):
            if isinstance(g, slice):
                np.bitwise_or(_u32(h[:, col : col + 4]), IPV4_MAPPED_LO, out=addr[g])
            else:
                addr[g] = _u32(h[:, col : col + 4]) | IPV4_MAPPED_LO
        l4[gx.loc] = c + ihl
        l4_end[gx.loc] = c + total
        is_frag = (_u16(h[:, 6:8]) & 0x3FFF) != 0  # MF set or an offset
        if np.any(is_frag):
            for i, r in zip(gx.idx[is_frag].tolist(), h[is_frag], strict=True):
                fl = (int(r[6]) << 8) | int(r[7])
                key = (4, bytes(r[12:20]), (int(r[4]) << 8) | int(r[5]), int(r[9]))
                start = int(rows.data_off[i]) + int(l4[i])
                stop = int(rows.data_off[i]) + int(min(l4_end[i], end[i]))
                frags.append(
                    (gx.lo + i, (fl & 0x1FFF) * 8, key, int(r[9]), bool(fl & 0x2000), start, stop)
                )
            t.fragment[gx.frames0(is_frag)] = True


def _ipv6(
    t: PacketTable,
    rows: _Rows,
    ix: _Ix,
    l3: np.ndarray,
    end: np.ndarray,
    l4: np.ndarray,
    l4_end: np.ndarray,
    warn: _Warn,
    frags: list,
) -> None:
    if ix.size == 0:
        return
    short = end[ix.loc] - l3[ix.loc] < 40
    if np.any(short):
        warn.add(ix.frames0(short), "IPv6 header cut short")
        ix = ix.subset(~short)
    for c, gx in _groups(l3, ix):
        h = rows.take(gx.loc, c, 40)
        bad = (h[:, 0] >> 4) != 6
        if np.any(bad):
            warn.add(gx.frames0(bad), "bad IPv6 header (version field)")
            gx, h = gx.subset(~bad), h[~bad]
        idx = gx.idx
        plen = _u16(h[:, 4:6]).astype(np.int64)
        plen = np.where(plen == 0, end[idx] - c - 40, plen)  # jumbogram / TSO
        g = gx.glob
        t.ip_version[g] = 6
        t.src_hi[g] = _u64(h[:, 8:16])
        t.src_lo[g] = _u64(h[:, 16:24])
        t.dst_hi[g] = _u64(h[:, 24:32])
        t.dst_lo[g] = _u64(h[:, 32:40])
        nh = h[:, 6].astype(np.int64)
        l4[idx] = c + 40
        l4_end[idx] = c + 40 + plen
        for _ in range(8):  # extension headers: rare, walked on the subset that has them
            ext = np.flatnonzero(np.isin(nh, IPV6_EXT_HEADERS))
            if ext.size == 0:
                break
            ok = end[idx[ext]] - l4[idx[ext]] >= 2
            if not np.all(ok):
                warn.add(gx.lo + idx[ext[~ok]], "IPv6 extension header cut short")
                nh[ext[~ok]] = 59  # no next header
                ext = ext[ok]
            e = rows.take(idx[ext], l4[idx[ext]], 2).astype(np.int64)
            size = np.where(nh[ext] == 51, (e[:, 1] + 2) * 4, (e[:, 1] + 1) * 8)
            nh[ext] = e[:, 0]
            l4[idx[ext]] += size
        is_frag = np.flatnonzero(nh == 44)
        if is_frag.size:
            fi = idx[is_frag]
            ok = end[fi] - l4[fi] >= 8
            fh = rows.take(fi, l4[fi], 8)
            for j in np.flatnonzero(ok).tolist():
                i = int(fi[j])
                nxt, _r, fo, ident = struct.unpack("!BBHI", fh[j].tobytes())
                key = (6, h[is_frag[j], 8:40].tobytes(), ident, nxt)
                start = int(rows.data_off[i] + l4[i]) + 8
                stop = int(rows.data_off[i] + min(l4_end[i], end[i]))
                frags.append((gx.lo + i, fo & 0xFFF8, key, nxt, bool(fo & 1), start, stop))
            t.fragment[gx.lo + fi] = True
        t.proto[g] = nh.astype(np.uint8)


def _transport(
    t: PacketTable,
    rows: _Rows,
    lo: int,
    k: int,
    l4: np.ndarray,
    l4_end: np.ndarray,
    end: np.ndarray,
    warn: _Warn,
) -> None:
    ok_ip = (t.ip_version[lo : lo + k] != 0) & ~t.fragment[lo : lo + k]
    proto = t.proto[lo : lo + k]
    ix = _Ix(np.flatnonzero(ok_ip & (proto == PROTO_UDP)), k, lo)
    short = end[ix.loc] - l4[ix.loc] < 8
    if np.any(short):
        warn.add(ix.frames0(short), "UDP header cut short")
        t.proto[ix.frames0(short)] = 0
        ix = ix.subset(~short)
    for c, gx in _groups(l4, ix):
        h = rows.take(gx.loc, c, 8)
        ulen = _u16(h[:, 4:6]).astype(np.int64)
        ip_len = l4_end[gx.loc] - c
        if not ulen.all():
            ulen = np.where(ulen == 0, ip_len, ulen)  # jumbogram
        bad = ulen < 8
        if np.any(bad):
            warn.add(gx.frames0(bad), "bad UDP length field")
            t.proto[gx.frames0(bad)] = 0
            gx, h, ulen, ip_len = gx.subset(~bad), h[~bad], ulen[~bad], ip_len[~bad]
        t.sport[gx.glob] = _u16(h[:, 0:2])
        t.dport[gx.glob] = _u16(h[:, 2:4])
        _payload(t, rows, gx, c + 8, np.minimum(ulen, ip_len) - 8, end)
    ix = _Ix(np.flatnonzero(ok_ip & (proto == PROTO_TCP)), k, lo)
    short = end[ix.loc] - l4[ix.loc] < 20
    if np.any(short):
        warn.add(ix.frames0(short), "TCP header cut short")
        t.proto[ix.frames0(short)] = 0
        ix = ix.subset(~short)
    for c, gx in _groups(l4, ix):
        h = rows.take(gx.loc, c, 20)
        doff = (h[:, 12] >> 4).astype(np.int64) * 4
        ip_len = l4_end[gx.loc] - c
        bad = (doff < 20) | (doff > ip_len)
        if np.any(bad):
            warn.add(gx.frames0(bad), "bad TCP header length")
            t.proto[gx.frames0(bad)] = 0
            gx, h, doff, ip_len = gx.subset(~bad), h[~bad], doff[~bad], ip_len[~bad]
        g = gx.glob
        t.sport[g] = _u16(h[:, 0:2])
        t.dport[g] = _u16(h[:, 2:4])
        t.tcp_seq[g] = _u32(h[:, 4:8])
        t.tcp_flags[g] = h[:, 13]
        _payload(t, rows, gx, c + doff, ip_len - doff, end)


def _payload(
    t: PacketTable, rows: _Rows, gx: _Ix, start: int | np.ndarray, wire: np.ndarray, end: np.ndarray
) -> None:
    wire = np.maximum(wire, 0)
    captured = np.minimum(start + wire, end[gx.loc]) - start
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


def _reassemble(t: PacketTable, frags: list, u8: np.ndarray, file_len: int) -> None:
    """IP fragment reassembly; the datagram is reported at the fragment that completes it."""
    pending: dict[tuple, list[tuple[int, bytes, bool]]] = {}
    extra = bytearray()
    for i, offset, key, proto, more, start, stop in frags:
        parts = pending.setdefault(key, [])
        parts.append((offset, u8[start:stop].tobytes(), more))
        if all(p[2] for p in parts):
            continue  # the last fragment has not arrived
        parts.sort(key=lambda p: p[0])
        covered = 0
        for off, chunk, _more in parts:
            if off > covered:
                break
            covered = max(covered, off + len(chunk))
        total = max(off + len(chunk) for off, chunk, more in parts if not more)
        if covered < total:
            continue
        assembled = bytearray(total)
        for off, chunk, _more in parts:
            assembled[off : off + len(chunk)] = chunk
        del assembled[total:]
        del pending[key]
        t.fragment[i] = False
        base = file_len + len(extra)
        extra += assembled
        t.proto[i] = proto
        if proto == PROTO_UDP and total >= 8:
            sp, dp, ulen = struct.unpack_from("!HHH", assembled, 0)
            t.sport[i], t.dport[i] = sp, dp
            length = max(0, min(ulen or total, total) - 8)
            _set_payload(t, i, base + 8, length, assembled[8 : 8 + length])
        elif proto == PROTO_TCP and total >= 20:
            sp, dp, seq = struct.unpack_from("!HHI", assembled, 0)
            doff = (assembled[12] >> 4) * 4
            t.sport[i], t.dport[i] = sp, dp
            t.tcp_seq[i] = seq
            t.tcp_flags[i] = assembled[13]
            _set_payload(t, i, base + doff, max(0, total - doff), assembled[doff:])
        else:
            t.proto[i] = 0
    t.extra = bytes(extra)


def _set_payload(t: PacketTable, i: int, off: int, length: int, data: bytes) -> None:
    t.payload_off[i] = off
    t.payload_len[i] = t.payload_wire_len[i] = length
    head = data[:HEAD]
    t.head[i] = np.frombuffer(head.ljust(HEAD, b"\0"), dtype=np.uint8)


def addr_to_str(hi: int, lo: int) -> str:
    """Text form of an address kept as two uint64 halves."""
    hi, lo = int(hi), int(lo)
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def addr_from_str(text: str) -> tuple[int, int]:
    """The (hi, lo) halves of an address given as text; ValueError if it is not an address."""
    ip = ipaddress.ip_address(text.strip("[]"))
    if ip.version == 4:
        return 0, 0xFFFF_0000_0000 | int(ip)
    value = int(ip)
    return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF

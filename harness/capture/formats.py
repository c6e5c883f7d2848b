"""pcap and pcapng containers: walk the records once, return per-packet numpy arrays.

The walk is the only sequential step: one record's length says where the next one starts.
It runs in Python but skips ahead in bulk where records have the same size (a run of
same-sized records is proved, not guessed: every length field in the run is checked with
one strided numpy view). Everything after the walk works on arrays.

Problems that leave part of the file readable (a cut-off last record, a corrupt length) end
the walk with a warning; problems that leave nothing readable raise :class:`CaptureError`.
"""

from __future__ import annotations

import struct
import sys
from array import array
from dataclasses import dataclass, field

import numpy as np

from harness.capture.errors import CaptureError

# Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD: a larger record length means a corrupt file.
MAX_CAPLEN = 262144

PCAP_MAGICS = {
    0xA1B2C3D4: ("<", 1000),  # little-endian, microseconds
    0xD4C3B2A1: (">", 1000),
    0xA1B23C4D: ("<", 1),  # little-endian, nanoseconds
    0x4D3CB2A1: (">", 1),
}
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
PCAPNG_IDB = 1
PCAPNG_OPB = 2
PCAPNG_SPB = 3
PCAPNG_EPB = 6

_GATHER_CHUNK = 1 << 17


@dataclass
class Records:
    """One entry per packet record, in file order (entry i is Wireshark's frame i + 1)."""

    data_off: np.ndarray  # int64: offset of the packet's first byte in the file buffer
    caplen: np.ndarray  # int32: bytes captured
    wirelen: np.ndarray | None  # bytes on the wire (pcapng; pcap: not read)
    ts_ns: np.ndarray | None  # int64: epoch nanoseconds (None: read from the record headers)
    linktype: np.ndarray  # int32
    file_format: str  # "pcap" or "pcapng"
    warnings: list[str] = field(default_factory=list)
    #: pcap: (byte order, ns per fraction unit) of the 16-byte record header that precedes
    #: each packet; the decoder reads times from it along with the packet headers
    pcap_header: tuple[str, int] | None = None

    def __len__(self) -> int:
        return int(self.data_off.size)


def gather(buf: bytes | np.ndarray, offs: np.ndarray, width: int) -> np.ndarray:
    """Bytes ``buf[off:off + width]`` for every offset, as a C-contiguous (N, width) uint8 array.

    One fancy index on a ``V<width>`` view with a one-byte stride: a memcpy per row.
    Rows that would run past the end of the buffer are zero-padded.
    """
    raw = buf if not isinstance(buf, np.ndarray) else buf.data
    size = len(raw) if not isinstance(buf, np.ndarray) else buf.size
    offs = np.asarray(offs, dtype=np.int64)
    out = np.zeros((offs.size, width), dtype=np.uint8)
    if offs.size == 0:
        return out
    limit = size - width
    if limit >= 0:
        view = np.ndarray((limit + 1,), dtype=f"V{width}", buffer=raw, offset=0, strides=(1,))
        safe = offs <= limit
        if bool(safe.all()):
            for lo in range(0, offs.size, _GATHER_CHUNK):
                hi = min(lo + _GATHER_CHUNK, offs.size)
                out[lo:hi] = view[offs[lo:hi]].view(np.uint8).reshape(-1, width)
            return out
        ok = np.flatnonzero(safe)
        out[ok] = view[offs[ok]].view(np.uint8).reshape(-1, width)
    u8 = np.frombuffer(raw, dtype=np.uint8)
    for i in np.flatnonzero(offs > max(limit, -1)).tolist():
        chunk = u8[max(0, int(offs[i])) : int(offs[i]) + width]
        out[i, : chunk.size] = chunk
    return out


class _OffsetCollector:
    """Record offsets in file order: single offsets plus proved runs of equal stride."""

    def __init__(self) -> None:
        self.pieces: list[np.ndarray] = []
        self.singles = array("q")
        self.flushed = 0

    @property
    def count(self) -> int:
        return self.flushed + len(self.singles)

    def add(self, off: int) -> None:
        self.singles.append(off)

    def add_run(self, start: int, stride: int, count: int) -> None:
        self._flush()
        self.pieces.append(start + stride * np.arange(count, dtype=np.int64))
        self.flushed += count

    def _flush(self) -> None:
        if self.singles:
            self.flushed += len(self.singles)
            self.pieces.append(np.frombuffer(self.singles, dtype=np.int64))
            self.singles = array("q")

    def array(self) -> np.ndarray:
        self._flush()
        if not self.pieces:
            return np.zeros(0, dtype=np.int64)
        if len(self.pieces) == 1:
            return self.pieces[0]
        return np.concatenate(self.pieces)


def read_records(buf: bytes) -> Records:
    """Parse a pcap or pcapng file held in ``buf``; raise CaptureError if it is neither."""
    if len(buf) == 0:
        raise CaptureError("empty file: not a capture")
    if len(buf) < 4:
        raise CaptureError(f"not a capture file: only {len(buf)} bytes")
    magic = struct.unpack_from("<I", buf, 0)[0]
    if magic in PCAP_MAGICS:
        return _read_pcap(buf, *PCAP_MAGICS[magic])
    if magic == PCAPNG_SHB:
        return _read_pcapng(buf)
    head = buf[:8]
    shown = head.decode("ascii", "replace") if all(32 <= b < 127 for b in head) else head.hex(" ")
    raise CaptureError(f"not a pcap or pcapng file: it starts with {shown!r}")


# ---------------------------------------------------------------- pcap


def _read_pcap(buf: bytes, endian: str, frac_ns: int) -> Records:
    if len(buf) < 24:
        raise CaptureError(f"truncated pcap file header: {len(buf)} of 24 bytes")
    network = struct.unpack_from(endian + "I", buf, 20)[0]
    linktype = network & 0x03FFFFFF
    offs = _walk_pcap(buf, endian)
    n = len(buf)
    warnings: list[str] = []
    # Each record ends where the next begins: only the last one can run past the file.
    caplen = np.empty(offs.size, dtype=np.int64)
    if offs.size:
        np.subtract(offs[1:], offs[:-1], out=caplen[:-1])
        caplen[:-1] -= 16
        last = int(offs[-1])
        caplen[-1] = struct.unpack_from(endian + "I", buf, last + 8)[0] if last + 12 <= n else 0
    corrupt = np.flatnonzero(caplen > MAX_CAPLEN)
    keep = offs.size
    if corrupt.size:
        keep = int(corrupt[0])
        warnings.append(
            f"packet {keep + 1}: corrupt record (captured length {int(caplen[keep])} >"
            f" {MAX_CAPLEN}); the rest of the file is ignored"
        )
    elif offs.size:
        last, c = int(offs[-1]), int(caplen[-1])
        if last + 16 > n:
            keep -= 1
            warnings.append(f"packet {keep + 1}: record header cut short ({n - last} of 16 bytes)")
        elif last + 16 + c > n:
            keep -= 1
            warnings.append(f"packet {keep + 1}: cut short ({n - last - 16} of {c} bytes)")
    offs, caplen = offs[:keep], caplen[:keep]
    offs += 16
    return Records(
        data_off=offs,
        caplen=caplen.astype(np.int32),
        wirelen=None,
        ts_ns=None,
        linktype=np.broadcast_to(np.int32(linktype), (offs.size,)),
        file_format="pcap",
        warnings=warnings,
        pcap_header=(endian, frac_ns),
    )


def _walk_pcap(buf: bytes, endian: str) -> np.ndarray:
    """Offsets of the record headers, up to the first length field past the end of the file
    (a record that is cut short or corrupt is included; the caller checks).

    A minimal Python loop (note the offset, jump by the length), broken every 512 records to
    try a run: if the next records all have the last record's length, one strided numpy view
    proves it and the loop jumps past them.
    """
    unpack = struct.Struct(endian + "I").unpack_from
    dtype = np.dtype(endian + "u4")
    n = len(buf)
    col = _OffsetCollector()
    singles = col.singles
    add = singles.append
    block = range(512)
    block8 = range(64)
    o = 24
    native = (endian == "<") == (sys.byteorder == "little")
    if native:
        # The length at o + 8 is word (o >> 2) + 2 of a uint32 view that starts at o & 3:
        # cheaper than struct.unpack_from in the loop.
        mv = memoryview(buf)
        words = tuple(mv[k : k + (n - k) // 4 * 4].cast("I") for k in range(4))
    try:
        while True:
            if native:  # unrolled: the loop's own cost is a good part of each step
                for _ in block8:
                    add(o)
                    o += 16 + words[o & 3][(o >> 2) + 2]
                    add(o)
                    o += 16 + words[o & 3][(o >> 2) + 2]
                    add(o)
                    o += 16 + words[o & 3][(o >> 2) + 2]
                    add(o)
                    o += 16 + words[o & 3][(o >> 2) + 2]
                    add(o)
                    o += 16 + words[o & 3][(o >> 2) + 2]
                    add(o)
                    o += 16 + words[o & 3][(o >> 2) + 2]
                    add(o)
                    o += 16 + words[o & 3][(o >> 2) + 2]
                    add(o)
                    o += 16 + words[o & 3][(o >> 2) + 2]
            else:
                for _ in block:
                    add(o)
                    o += 16 + unpack(buf, o + 8)[0]
            c = o - singles[-1] - 16 if singles else -1
            kmax = 256
            while unpack(buf, o + 8)[0] == c:  # runs of same-sized records, growing steps
                stride = 16 + c
                k = min(kmax, (n - o) // stride)
                if c > MAX_CAPLEN or k < 64:
                    break
                lengths = np.ndarray((k,), dtype, buf, o + 8, (stride,))
                bad = np.flatnonzero(lengths != c)
                run = int(bad[0]) if bad.size else k
                if run < 64:
                    break
                col.add_run(o, stride, run)
                singles = col.singles
                add = singles.append
                o += run * stride
                if run < k:
                    break
                kmax *= 8
    except (struct.error, IndexError):
        pass  # the next length field lies past the end of the file
    offs = col.array()
    if offs.size and offs[-1] >= n:
        offs = offs[:-1]  # the clean end of the file
    if o < n and (offs.size == 0 or offs[-1] != o):
        offs = np.append(offs, o)  # a header cut short: reported by the caller
    return offs


# ---------------------------------------------------------------- pcapng


@dataclass
class _Iface:
    linktype: int
    snaplen: int
    tsresol: int = 6  # if_tsresol byte: 10^-6 by default
    tsoffset: int = 0  # seconds


def _read_pcapng(buf: bytes) -> Records:
    n = len(buf)
    u8 = np.frombuffer(buf, dtype=np.uint8)
    warnings: list[str] = []
    ifaces: list[_Iface] = []
    # Per packet block: offset, kind, section endianness, first interface index of its section.
    col = _OffsetCollector()
    meta: list[tuple[int, int, str, int]] = []  # (first packet index, kind, endian, iface_base)
    o = 0
    endian = "<"
    iface_base = 0
    cur_meta: tuple[int, str, int] | None = None
    prev_len, same, backoff, wait = -1, 0, 8, 0

    def note(kind: int) -> None:
        nonlocal cur_meta
        key = (kind, endian, iface_base)
        if cur_meta != key:
            meta.append((col.count, kind, endian, iface_base))
            cur_meta = key

    while o < n:
        if o + 12 > n:
            warnings.append(f"packet {col.count + 1}: block header cut short ({n - o} bytes)")
            break
        btype = struct.unpack_from(endian + "I", buf, o)[0]
        if btype == PCAPNG_SHB:
            bom = struct.unpack_from("<I", buf, o + 8)[0]
            if bom == PCAPNG_BOM:
                endian = "<"
            elif bom == struct.unpack("<I", struct.pack(">I", PCAPNG_BOM))[0]:
                endian = ">"
            else:
                if o == 0:
                    raise CaptureError("pcapng section header has a bad byte-order magic")
                warnings.append(f"after packet {col.count}: corrupt section header; rest ignored")
                break
            iface_base = len(ifaces)
        blen = struct.unpack_from(endian + "I", buf, o + 4)[0]
        if blen < 12 or blen % 4:
            if o == 0:
                raise CaptureError(f"pcapng section header has a bad block length {blen}")
            warnings.append(
                f"packet {col.count + 1}: corrupt block (length {blen}); the rest of the file"
                " is ignored"
            )
            break
        if o + blen > n:
            if o == 0:
                raise CaptureError(f"truncated pcapng section header: {n} of {blen} bytes")
            warnings.append(f"packet {col.count + 1}: block cut short ({n - o} of {blen} bytes)")
            break
        if btype == PCAPNG_EPB:
            note(PCAPNG_EPB)
            if blen != prev_len:
                prev_len, same = blen, 0
            else:
                same += 1
            if same >= 4 and not wait:
                k = min(1 << 20, (n - o) // blen)
                dt = np.dtype(endian + "u4")
                types = np.ndarray((k,), dt, buf, o, (blen,))
                lens = np.ndarray((k,), dt, buf, o + 4, (blen,))
                bad = np.flatnonzero((types != PCAPNG_EPB) | (lens != blen))
                run = int(bad[0]) if bad.size else k
                same = 0
                if run >= 64:
                    backoff = 8
                    col.add_run(o, blen, run)
                    o += run * blen
                    continue
                backoff = min(backoff * 2, 1 << 14)
                wait = backoff
            elif wait:
                wait -= 1
            col.add(o)
        elif btype in (PCAPNG_SPB, PCAPNG_OPB):
            note(btype)
            col.add(o)
        elif btype == PCAPNG_IDB:
            ifaces.append(_parse_idb(buf, o, blen, endian))
        elif o == 0 and btype != PCAPNG_SHB:
            raise CaptureError("not a pcapng file: first block is not a section header")
        o += blen

    offs = col.array()
    return _pcapng_records(u8, buf, offs, meta, ifaces, warnings)


def _parse_idb(buf: bytes, o: int, blen: int, endian: str) -> _Iface:
    if blen < 20:
        return _Iface(linktype=-1, snaplen=0)
    linktype, _res, snaplen = struct.unpack_from(endian + "HHI", buf, o + 8)
    iface = _Iface(linktype=linktype, snaplen=snaplen)
    p, end = o + 16, o + blen - 4
    while p + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, p)
        if code == 0:
            break
        value = buf[p + 4 : p + 4 + length]
        if code == 9 and length >= 1:
            iface.tsresol = value[0]
        elif code == 14 and length == 8:
            iface.tsoffset = struct.unpack(endian + "q", value)[0]
        p += 4 + ((length + 3) & ~3)
    return iface


def _pcapng_records(
    u8: np.ndarray,
    buf: bytes,
    offs: np.ndarray,
    meta: list[tuple[int, int, str, int]],
    ifaces: list[_Iface],
    warnings: list[str],
) -> Records:
    total = offs.size
    data_off = np.zeros(total, dtype=np.int64)
    caplen = np.zeros(total, dtype=np.int64)
    wirelen = np.zeros(total, dtype=np.int64)
    ts_raw = np.zeros(total, dtype=np.uint64)
    iface = np.zeros(total, dtype=np.int64)
    bounds = [m[0] for m in meta] + [total]
    for (lo, kind, endian, base), hi in zip(meta, bounds[1:], strict=True):
        if hi <= lo:
            continue
        o = offs[lo:hi]
        blen = gather(u8, o + 4, 4).view(endian + "u4")[:, 0].astype(np.int64)
        if kind == PCAPNG_SPB:
            origlen = gather(u8, o + 8, 4).view(endian + "u4")[:, 0].astype(np.int64)
            snap = ifaces[base].snaplen if base < len(ifaces) else 0
            cap = np.minimum(origlen, blen - 16)
            if snap:
                cap = np.minimum(cap, snap)
            data_off[lo:hi] = o + 12
            caplen[lo:hi] = cap
            wirelen[lo:hi] = origlen
            iface[lo:hi] = base
            continue
        hdr = gather(u8, o + 8, 20).view(endian + "u4").astype(np.int64)
        if kind == PCAPNG_OPB:
            ids = hdr[:, 0] & 0xFFFF if endian == "<" else hdr[:, 0] >> 16
        else:
            ids = hdr[:, 0]
        iface[lo:hi] = base + ids
        ts_raw[lo:hi] = (hdr[:, 1].astype(np.uint64) << np.uint64(32)) | hdr[:, 2].astype(np.uint64)
        cap = hdr[:, 3]
        room = blen - 32
        if np.any(cap > room):
            first = lo + int(np.flatnonzero(cap > room)[0]) + 1
            warnings.append(
                f"packet {first}: captured length exceeds its block; data clipped to the block"
            )
            cap = np.minimum(cap, room)
        data_off[lo:hi] = o + 28
        caplen[lo:hi] = cap
        wirelen[lo:hi] = np.maximum(hdr[:, 4], cap)

    linktype = np.full(total, -1, dtype=np.int32)
    ts_ns = np.zeros(total, dtype=np.int64)
    bad_iface = (iface < 0) | (iface >= len(ifaces))
    if np.any(bad_iface):
        first = int(np.flatnonzero(bad_iface)[0]) + 1
        warnings.append(f"packet {first}: refers to an interface that was never described")
    for idx, desc in enumerate(ifaces):
        sel = iface == idx
        if not np.any(sel):
            continue
        linktype[sel] = desc.linktype
        ts_ns[sel] = _ts_to_ns(ts_raw[sel], desc.tsresol) + desc.tsoffset * 1_000_000_000
    return Records(
        data_off=data_off,
        caplen=caplen,
        wirelen=wirelen,
        ts_ns=ts_ns,
        linktype=linktype,
        file_format="pcapng",
        warnings=warnings,
    )


def _ts_to_ns(raw: np.ndarray, tsresol: int) -> np.ndarray:
    exp = tsresol & 0x7F
    if tsresol & 0x80:
        # Power-of-two resolution: rare; exact enough in long double-free integer arithmetic.
        return np.array([(int(v) * 1_000_000_000) >> exp for v in raw], dtype=np.int64)
    if exp <= 9:
        return raw.astype(np.int64) * (10 ** (9 - exp))
    return (raw // np.uint64(10 ** (exp - 9))).astype(np.int64)

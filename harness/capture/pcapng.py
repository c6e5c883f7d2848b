"""pcapng files: blocks (section headers, interface descriptions, packets) in any order.

Enhanced packet blocks of large files are walked in lockstep
(:mod:`harness.capture.lockstep`); the walk in Python skips ahead in bulk over runs of
same-sized packet blocks (proved with one strided view of their type and length fields).
Interface descriptions give each packet its link type and time resolution.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import partial

import numpy as np

import harness.capture.lockstep as lockstep
from harness.capture.errors import CaptureError
from harness.capture.lockstep import Step, Step1, walk_lockstep
from harness.capture.records import Buffer, OffsetCollector, Records, gather

PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
PCAPNG_IDB = 1
PCAPNG_OPB = 2
PCAPNG_SPB = 3
PCAPNG_EPB = 6


@dataclass
class _Iface:
    linktype: int
    snaplen: int
    tsresol: int = 6  # if_tsresol byte: 10^-6 by default
    tsoffset: int = 0  # seconds


def read_pcapng(buf: Buffer) -> Records:
    n = len(buf)
    u8 = np.frombuffer(buf, dtype=np.uint8)
    warnings: list[str] = []
    ifaces: list[_Iface] = []
    # Per packet block: offset, kind, section endianness, first interface index of its section.
    col = OffsetCollector()
    meta: list[tuple[int, int, str, int]] = []  # (first packet index, kind, endian, iface_base)
    o = 0
    endian = "<"
    iface_base = 0
    cur_meta: tuple[int, str, int] | None = None
    prev_len, same, backoff, wait = -1, 0, 8, 0
    rounds = lockstep.ROUNDS

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
            if rounds and n - o >= lockstep.LOCKSTEP_MIN:  # a large file: the blocks in lockstep
                rounds -= 1
                start = o
                guess = partial(_epb_starts, buf, endian)
                o = walk_lockstep(buf, o, col, guess, _pcapng_steps(buf, endian))
                if o - start < (n - start) // 4:
                    rounds = 0  # the guesses keep failing: not worth another round
                if o != start:
                    continue
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


def _epb_starts(buf: Buffer, endian: str, lo: int, count: int) -> np.ndarray:
    """:func:`harness.capture.lockstep.guess_starts` for pcapng: an enhanced packet block
    (on a 4-byte boundary) followed by two more (type, length, and the same length again at
    the block's end)."""
    if count <= 0:  # a small file: no lockstep, and maybe too short to view
        return np.zeros(0, dtype=np.int64)
    n = len(buf)
    low, high = (0, 3) if endian == "<" else (3, 0)  # the block type's low and high bytes
    u32 = lockstep.word_view(buf)
    dt = endian + "u4"

    def check(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        blen = u32[p + 4].view(dt).astype(np.int64)
        ok = (
            (u32[p].view(dt) == PCAPNG_EPB)
            & (blen >= 32)
            & (blen % 4 == 0)
            & (p + blen <= n)
            & (u32[np.clip(p + blen - 4, 0, n - 4)].view(dt) == blen)
        )
        return ok, p + blen

    marks = ((low, PCAPNG_EPB), (high, 0))
    return lockstep.guess_starts(buf, lo, count, 4, marks, check, 8)


def _pcapng_steps(buf: Buffer, endian: str) -> tuple[Step, Step1]:
    """One block on, for walkers over enhanced packet blocks: they walk only sound ones (the
    Python walk takes any other block, and reports the broken ones)."""
    n = len(buf)
    u64 = np.ndarray((n - 7,), "V8", buf, 0, (1,))  # the 8 bytes at every offset
    dt = endian + "u4"
    unpack = struct.Struct(endian + "II").unpack_from

    def step(o: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        head = u64[o].view(dt).reshape(-1, 2)  # block type and length
        blen = head[:, 1].astype(np.int64)
        nxt = o + blen
        walked = (head[:, 0] == PCAPNG_EPB) & (blen >= 12) & ((blen & 3) == 0) & (nxt <= n)
        return nxt, walked

    def step1(p: int) -> int | None:
        btype: int
        blen: int
        btype, blen = unpack(buf, p)
        if btype != PCAPNG_EPB or blen < 12 or blen % 4 or p + blen > n:
            return None
        return p + blen

    return step, step1


def _parse_idb(buf: Buffer, o: int, blen: int, endian: str) -> _Iface:
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


_SLICE = 1 << 16  # packet blocks whose headers are read together


def _pcapng_records(
    u8: np.ndarray,
    buf: Buffer,
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
    clipped: set[int] = set()  # the runs of blocks already reported for clipped data
    # Block headers are read a slice at a time so that their temporaries stay small
    # beside the file (a large capture is mapped whole at this point).
    pieces = [
        (piece, min(piece + _SLICE, hi), kind, endian, base, lo)
        for (lo, kind, endian, base), hi in zip(meta, bounds[1:], strict=True)
        for piece in range(lo, hi, _SLICE)
    ]
    for lo, hi, kind, endian, base, run_start in pieces:
        o = offs[lo:hi]
        if kind == PCAPNG_SPB:
            hdr = gather(u8, o, 12).view(endian + "u4")  # type, length, original length
            blen = hdr[:, 1].astype(np.int64)
            origlen = hdr[:, 2].astype(np.int64)
            snap = ifaces[base].snaplen if base < len(ifaces) else 0
            cap = np.minimum(origlen, blen - 16)
            if snap:
                cap = np.minimum(cap, snap)
            data_off[lo:hi] = o + 12
            caplen[lo:hi] = cap
            wirelen[lo:hi] = origlen
            iface[lo:hi] = base
            continue
        # type, length, interface, time (high, low), captured and original length
        hdr = gather(u8, o, 28).view(endian + "u4")
        blen = hdr[:, 1].astype(np.int64)
        ids = hdr[:, 2].astype(np.int64)
        if kind == PCAPNG_OPB:
            ids = ids & 0xFFFF if endian == "<" else ids >> 16
        iface[lo:hi] = base + ids
        ts = ts_raw[lo:hi]
        ts[:] = hdr[:, 3]
        ts <<= np.uint64(32)
        ts |= hdr[:, 4]
        cap = hdr[:, 5].astype(np.int64)
        room = blen - 32
        if np.any(cap > room):
            if run_start not in clipped:  # the first such packet of the run, as one warning
                clipped.add(run_start)
                first = lo + int(np.flatnonzero(cap > room)[0]) + 1
                warnings.append(
                    f"packet {first}: captured length exceeds its block; data clipped to the block"
                )
            cap = np.minimum(cap, room)
        data_off[lo:hi] = o + 28
        caplen[lo:hi] = cap
        wirelen[lo:hi] = np.maximum(hdr[:, 6], cap)

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
        shift = desc.tsoffset * 1_000_000_000
        if bool(sel.all()):  # one interface: no selection to copy
            linktype[:] = desc.linktype
            ts_ns = _ts_to_ns(ts_raw, desc.tsresol) + shift
            break
        linktype[sel] = desc.linktype
        ts_ns[sel] = _ts_to_ns(ts_raw[sel], desc.tsresol) + shift
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
        scaled: np.ndarray = raw.astype(np.int64) * (10 ** (9 - exp))
        return scaled
    return (raw // np.uint64(10 ** (exp - 9))).astype(np.int64)

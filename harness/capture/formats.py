"""pcap and pcapng containers: walk the records once, return per-packet numpy arrays.

The walk is the only sequential step: one record's length says where the next one starts.
A large file (pcap records, pcapng enhanced packet blocks) is walked on arrays: a guessed
record start near every 64 KiB mark, found with a cheap byte test, lets thousands of walkers
step in lockstep, and a guess counts only when the walker before it lands on it exactly, so
the result is the sequential walk's (see :func:`_walk_lockstep`). What is left (the end of
the file, other blocks, everything after a wrong guess) runs in Python, skipping ahead in
bulk where records have the same size (a run of same-sized records is proved, not guessed:
every length field in the run is checked with one strided numpy view). Everything after the
walk works on arrays.

Problems that leave part of the file readable (a cut-off last record, a corrupt length) end
the walk with a warning; problems that leave nothing readable raise :class:`CaptureError`.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from harness.capture.errors import CaptureError
from harness.capture.parallel import can_fork, shared_zeros, split

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

# The lockstep walk of large files (_walk_lockstep).
LOCKSTEP_MIN = 4 << 20  # bytes: below this the Python walk is quick enough
SEGMENT = 1 << 16  # bytes between guessed record starts: one walker each
WINDOW = 512  # bytes searched for a record start at each segment's beginning
_LOCKSTEP_FEW = 64  # fewer live walkers than this: finish them in Python
_LOCKSTEP_TAIL = 4 * SEGMENT  # bytes a walker finished in Python may still walk
_LOCKSTEP_ROUNDS = 8  # a wrong guess starts a new round after it
_LOCKSTEP_SPLIT = 512  # walkers each process needs for a second process to pay
#: one record on for every walker (the next offsets, and which records are walked at all,
#: None for every one), and for one (None: not walked)
Step = Callable[[np.ndarray], tuple[np.ndarray, "np.ndarray | None"]]
Step1 = Callable[[int], "int | None"]


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
    limit = size - width
    if offs.size == 0 or limit < 0:
        out = np.zeros((offs.size, width), dtype=np.uint8)
    else:
        view = np.ndarray((limit + 1,), dtype=f"V{width}", buffer=raw, offset=0, strides=(1,))
        safe = offs <= limit
        if bool(safe.all()):  # the common case: the gathered rows are the result
            return view[offs].view(np.uint8).reshape(-1, width)
        out = np.zeros((offs.size, width), dtype=np.uint8)
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
        self.add_array(start + stride * np.arange(count, dtype=np.int64))

    def add_array(self, offs: np.ndarray) -> None:
        self._flush()
        self.pieces.append(offs)
        self.flushed += int(offs.size)

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


def read_records(buf: bytes, workers: int = 1) -> Records:
    """Parse a pcap or pcapng file held in ``buf``; raise CaptureError if it is neither.

    ``workers=2`` lets a forked process walk half of a large pcap file."""
    if len(buf) == 0:
        raise CaptureError("empty file: not a capture")
    if len(buf) < 4:
        raise CaptureError(f"not a capture file: only {len(buf)} bytes")
    magic = struct.unpack_from("<I", buf, 0)[0]
    if magic in PCAP_MAGICS:
        return _read_pcap(buf, *PCAP_MAGICS[magic], workers)
    if magic == PCAPNG_SHB:
        return _read_pcapng(buf)
    head = buf[:8]
    shown = head.decode("ascii", "replace") if all(32 <= b < 127 for b in head) else head.hex(" ")
    raise CaptureError(f"not a pcap or pcapng file: it starts with {shown!r}")


# ---------------------------------------------------------------- pcap


def _read_pcap(buf: bytes, endian: str, frac_ns: int, workers: int = 1) -> Records:
    if len(buf) < 24:
        raise CaptureError(f"truncated pcap file header: {len(buf)} of 24 bytes")
    network = struct.unpack_from(endian + "I", buf, 20)[0]
    linktype = network & 0x03FFFFFF
    offs = _walk_pcap(buf, endian, frac_ns, workers)
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


def _walk_pcap(buf: bytes, endian: str, frac_ns: int = 1000, workers: int = 1) -> np.ndarray:
    """Offsets of the record headers, up to the first length field past the end of the file
    (a record that is cut short or corrupt is included; the caller checks).

    Large files are walked in lockstep first (:func:`_walk_lockstep`); the rest is a
    minimal Python loop (note the offset, jump by the length), broken every 512 records to
    try a run: if the next records all have the last record's length, one strided numpy view
    proves it and the loop jumps past them.
    """
    unpack = struct.Struct(endian + "I").unpack_from
    dtype = np.dtype(endian + "u4")
    n = len(buf)
    col = _OffsetCollector()
    o = 24
    for _ in range(_LOCKSTEP_ROUNDS):
        if n - o < LOCKSTEP_MIN:
            break
        start = o
        guess = partial(_record_starts, buf, endian, frac_ns)
        o = _walk_lockstep(buf, o, col, guess, _pcap_steps(buf, endian), workers)
        if o - start < (n - start) // 4:
            break  # the guesses keep failing: not worth another round
    singles = col.singles
    add = singles.append
    block = range(512)
    block8 = range(64)
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


def _record_starts(buf: bytes, endian: str, frac_ns: int, lo: int, count: int) -> np.ndarray:
    """For each of ``count`` segments from ``lo`` (SEGMENT bytes apart), the first position
    in its first WINDOW bytes that looks like a pcap record header followed by two more
    (plausible lengths and times, the first record's top timestamp byte); -1 where none does.

    A guess, cheap and nearly always right: the caller proves every one it uses.
    """
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    n = len(buf)
    u8 = np.frombuffer(buf, dtype=np.uint8)
    top = 3 if endian == "<" else 0  # the most significant byte of the seconds
    cap_top = 11 if endian == "<" else 8  # ... and of the captured length (always 0)
    b3 = u8[24 + top]
    shape, strides = (count, WINDOW), (SEGMENT, 1)
    secs = np.ndarray(shape, np.uint8, buf, lo + top, strides)
    caps = np.ndarray(shape, np.uint8, buf, lo + cap_top, strides)
    hit = np.flatnonzero((secs == b3) & (caps == 0))
    seg, pos = np.divmod(hit, WINDOW)
    cand = lo + seg * SEGMENT + pos
    u32 = np.ndarray((n - 3,), "V4", buf, 0, (1,))  # the 4 bytes at every offset
    dt = endian + "u4"
    ok = np.ones(cand.size, dtype=bool)
    p = cand
    for _ in range(3):
        p = np.minimum(p, n - 16)
        caplen = u32[p + 8].view(dt)
        ok &= (
            (u8[p + top] == b3)
            & (caplen > 0)
            & (caplen <= MAX_CAPLEN)
            & (u32[p + 12].view(dt) >= caplen)
            & (u32[p + 4].view(dt) < 1_000_000_000 // frac_ns)
        )
        p = p + 16 + caplen
    seg, cand = seg[ok], cand[ok]
    first = np.flatnonzero(np.diff(seg, prepend=-1) != 0)
    out = np.full(count, -1, dtype=np.int64)
    out[seg[first]] = cand[first]
    return out


def _pcap_steps(buf: bytes, endian: str) -> tuple[Step, Step1]:
    """One record on: every walker at once, and one walker (a pcap walk never stops early;
    the caller checks the lengths)."""
    u32 = np.ndarray((len(buf) - 3,), "V4", buf, 0, (1,))  # the 4 bytes at every offset
    dt = endian + "u4"
    unpack = struct.Struct(endian + "I").unpack_from

    def step(o: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return o + 16 + u32[o + 8].view(dt), None

    def step1(p: int) -> int | None:
        return p + 16 + unpack(buf, p + 8)[0]

    return step, step1


def _walk_lockstep(
    buf: bytes,
    start: int,
    col: _OffsetCollector,
    starts_of: Callable[[int, int], np.ndarray],
    steps: tuple[Step, Step1],
    workers: int = 1,
) -> int:
    """Walk a large file from ``start`` (a record) with one walker per segment, all at once.

    Walker 0 starts at ``start``, walker j at the record start guessed for segment j
    (``starts_of(first segment's offset, count)``, -1 for none), and each walks until it
    reaches the next walker's start: one numpy step moves them all by a record. A guess is
    proved when the walker before it lands on it exactly; the offsets up to the first wrong
    guess are the sequential walk's and go to ``col``. Returns the offset reached there, a
    record start (or a past-the-end position) where the caller goes on. With ``workers=2`` a
    forked process walks the second half of the segments.
    """
    last = len(buf) - 16  # every walked offset leaves a record header readable
    count = (last - WINDOW - start) // SEGMENT
    guesses = starts_of(start + SEGMENT, count - 1)
    starts = np.concatenate(([start], guesses[guesses >= 0])).astype(np.int64)
    if starts.size < _LOCKSTEP_FEW:
        return start  # hardly any guess: nothing to gain
    half = starts.size // 2
    if workers > 1 and half >= _LOCKSTEP_SPLIT and can_fork():
        # the second half's offsets come back in shared memory: at most one per 16 bytes
        room = shared_zeros((last - int(starts[half])) // 16 + 1, np.int64)
        (offs, reached), (size, further) = split(
            partial(_lockstep, starts[:half], int(starts[half]), steps),
            partial(_lockstep_into, room, starts[half:], last, steps),
        )
        col.add_array(offs)
        if reached != starts[half]:  # the guess where the halves meet was wrong
            return reached
        offs, reached = room[:size], further
    else:
        offs, reached = _lockstep(starts, last, steps)
    col.add_array(offs)
    return reached


def _lockstep_into(
    out: np.ndarray, starts: np.ndarray, last: int, steps: tuple[Step, Step1]
) -> tuple[int, int]:
    """:func:`_lockstep` with the offsets left in ``out``: how many, and the offset reached."""
    offs, reached = _lockstep(starts, last, steps, out)
    return offs.size, reached


def _lockstep(
    starts: np.ndarray, last: int, steps: tuple[Step, Step1], out: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Walkers from ``starts`` (the first a record, the others guesses), each until the next
    one's start, the last until ``last``: the offsets up to the first wrong guess (in the
    beginning of ``out`` if given), and the offset reached there.

    ``steps``: one record on, for all walkers (and which records they walk at all: a walker
    stops at one it does not, a miss) and for one. Walkers left behind by the others are
    finished in Python, or stopped (a miss) if far behind."""
    step, step1 = steps
    ends = np.append(starts[1:], last)
    w = starts.size
    walks: list[tuple[np.ndarray, np.ndarray]] = []  # (walkers, their offsets) per step
    taken = np.zeros(w, dtype=np.int64)  # offsets each walker recorded
    reached = starts.copy()  # where each walker stopped
    live = np.arange(w)
    o = starts.copy()
    end = ends
    while live.size >= _LOCKSTEP_FEW:
        nxt, walked = step(o)
        if walked is not None and not walked.all():
            stop = ~walked
            reached[live[stop]] = o[stop]
            taken[live[stop]] = len(walks)
            live, o, end, nxt = live[walked], o[walked], end[walked], nxt[walked]
            if live.size < _LOCKSTEP_FEW:
                break
        walks.append((live, o))
        o = nxt
        going = o < end
        if not going.all():
            done = ~going
            reached[live[done]] = o[done]
            taken[live[done]] = len(walks)
            live, o, end = live[going], o[going], end[going]
    taken[live] = len(walks)
    tails: dict[int, array] = {}
    for j, p, e in zip(live.tolist(), o.tolist(), end.tolist(), strict=True):
        tail = tails[j] = array("q")
        stop = min(e, p + _LOCKSTEP_TAIL)
        while p < stop:
            q = step1(p)
            if q is None:
                break
            tail.append(p)
            p = q
        reached[j] = p
        taken[j] += len(tail)
    # Walker j's guess holds if walker j - 1 reached it: keep walkers up to the first miss.
    miss = np.flatnonzero(reached[:-1] != starts[1:])
    keep = int(miss[0]) + 1 if miss.size else w
    # Walker j's k-th offset goes to base[j] + k: the walkers' offsets one after the other.
    base = np.zeros(w + 1, dtype=np.int64)
    np.cumsum(taken, out=base[1:])
    size = int(base[keep])
    offs = np.empty(size, dtype=np.int64) if out is None else out[:size]
    for k, (walkers, at) in enumerate(walks):
        if walkers[0] >= keep:  # (walkers are in order)
            break
        sel = walkers < keep
        if sel.all():
            offs[base[walkers] + k] = at
        else:
            offs[base[walkers[sel]] + k] = at[sel]
    for j, tail in tails.items():
        if j < keep and len(tail):
            at = int(base[j + 1]) - len(tail)
            offs[at : at + len(tail)] = np.frombuffer(tail, dtype=np.int64)
    return offs, int(reached[keep - 1])


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
    rounds = _LOCKSTEP_ROUNDS

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
            if rounds and n - o >= LOCKSTEP_MIN:  # a large file: the blocks in lockstep
                rounds -= 1
                start = o
                guess = partial(_epb_starts, buf, endian)
                o = _walk_lockstep(buf, o, col, guess, _pcapng_steps(buf, endian))
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


def _epb_starts(buf: bytes, endian: str, lo: int, count: int) -> np.ndarray:
    """:func:`_record_starts` for pcapng: the first position (blocks start on 4-byte
    boundaries) that looks like an enhanced packet block followed by two more (type,
    length, and the same length again at the block's end)."""
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    n = len(buf)
    low, high = (0, 3) if endian == "<" else (3, 0)  # the block type's low and high bytes
    shape, strides = (count, WINDOW // 4), (SEGMENT, 4)
    types_low = np.ndarray(shape, np.uint8, buf, lo + low, strides)
    types_high = np.ndarray(shape, np.uint8, buf, lo + high, strides)
    hit = np.flatnonzero((types_low == PCAPNG_EPB) & (types_high == 0))
    seg, pos = np.divmod(hit, WINDOW // 4)
    cand = lo + seg * SEGMENT + 4 * pos
    u32 = np.ndarray((n - 3,), "V4", buf, 0, (1,))  # the 4 bytes at every offset
    dt = endian + "u4"
    ok = np.ones(cand.size, dtype=bool)
    p = cand
    for _ in range(3):
        p = np.minimum(p, n - 8)
        blen = u32[p + 4].view(dt).astype(np.int64)
        ok &= (
            (u32[p].view(dt) == PCAPNG_EPB)
            & (blen >= 32)
            & (blen % 4 == 0)
            & (p + blen <= n)
            & (u32[np.clip(p + blen - 4, 0, n - 4)].view(dt) == blen)
        )
        p = p + blen
    seg, cand = seg[ok], cand[ok]
    first = np.flatnonzero(np.diff(seg, prepend=-1) != 0)
    out = np.full(count, -1, dtype=np.int64)
    out[seg[first]] = cand[first]
    return out


def _pcapng_steps(buf: bytes, endian: str) -> tuple[Step, Step1]:
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
        btype, blen = unpack(buf, p)
        if btype != PCAPNG_EPB or blen < 12 or blen % 4 or p + blen > n:
            return None
        return p + blen

    return step, step1


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
        return raw.astype(np.int64) * (10 ** (9 - exp))
    return (raw // np.uint64(10 ** (exp - 9))).astype(np.int64)

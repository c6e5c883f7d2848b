"""pcap files: the file header, then a 16-byte header before every packet record.

The walk over the records is lockstep (:mod:`harness.capture.lockstep`) for large files;
what is left runs in Python, skipping ahead in bulk where records have the same size (a
run of same-sized records is proved, not guessed: every length field in the run is checked
with one strided numpy view). Times are read later, with the packet headers.
"""

from __future__ import annotations

import struct
import sys
from functools import partial

import numpy as np

import harness.capture.lockstep as lockstep
from harness.capture.errors import CaptureError
from harness.capture.lockstep import Step, Step1, walk_lockstep
from harness.capture.records import MAX_CAPLEN, Buffer, OffsetCollector, Records

PCAP_MAGICS = {
    0xA1B2C3D4: ("<", 1000),  # little-endian, microseconds
    0xD4C3B2A1: (">", 1000),
    0xA1B23C4D: ("<", 1),  # little-endian, nanoseconds
    0x4D3CB2A1: (">", 1),
}


def read_pcap(buf: Buffer, endian: str, frac_ns: int, workers: int = 1) -> Records:
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


def _walk_pcap(buf: Buffer, endian: str, frac_ns: int = 1000, workers: int = 1) -> np.ndarray:
    """Offsets of the record headers, up to the first length field past the end of the file
    (a record that is cut short or corrupt is included; the caller checks).

    Large files are walked in lockstep first (:mod:`harness.capture.lockstep`); the rest is
    a minimal Python loop (note the offset, jump by the length), broken every 512 records to
    try a run: if the next records all have the last record's length, one strided numpy view
    proves it and the loop jumps past them.
    """
    unpack = struct.Struct(endian + "I").unpack_from
    dtype = np.dtype(endian + "u4")
    n = len(buf)
    col = OffsetCollector()
    o = 24
    for _ in range(lockstep.ROUNDS):
        if n - o < lockstep.LOCKSTEP_MIN:
            break
        start = o
        guess = partial(record_starts, buf, endian, frac_ns)
        o = walk_lockstep(buf, o, col, guess, _pcap_steps(buf, endian), workers)
        if o - start < (n - start) // 4:
            break  # the guesses keep failing: not worth another round
    singles = col.singles
    add = singles.append
    block = range(512)
    block2 = range(256)
    native = (endian == "<") == (sys.byteorder == "little")
    if native:
        # The length at o + 8 is word (o >> 2) + 2 of a uint32 view that starts at o & 3:
        # cheaper than struct.unpack_from in the loop.
        mv = memoryview(buf)
        words = tuple(mv[k : k + (n - k) // 4 * 4].cast("I") for k in range(4))
    try:
        while True:
            if native:  # unrolled: the loop's own cost is a good part of each step
                for _ in block2:
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


def record_starts(buf: Buffer, endian: str, frac_ns: int, lo: int, count: int) -> np.ndarray:
    """:func:`harness.capture.lockstep.guess_starts` for pcap: a record header followed by
    two more (plausible lengths and times, the first record's top timestamp byte)."""
    if count <= 0:  # a small file: no lockstep, and maybe too short to view
        return np.zeros(0, dtype=np.int64)
    u8 = np.frombuffer(buf, dtype=np.uint8)
    top = 3 if endian == "<" else 0  # the most significant byte of the seconds
    cap_top = 11 if endian == "<" else 8  # ... and of the captured length (always 0)
    b3 = int(u8[24 + top])
    u32 = lockstep.word_view(buf)
    dt = endian + "u4"

    def check(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        caplen = u32[p + 8].view(dt)
        ok = (
            (u8[p + top] == b3)
            & (caplen > 0)
            & (caplen <= MAX_CAPLEN)
            & (u32[p + 12].view(dt) >= caplen)
            & (u32[p + 4].view(dt) < 1_000_000_000 // frac_ns)
        )
        return ok, p + 16 + caplen

    return lockstep.guess_starts(buf, lo, count, 1, ((top, b3), (cap_top, 0)), check, 16)


def _pcap_steps(buf: Buffer, endian: str) -> tuple[Step, Step1]:
    """One record on: every walker at once, and one walker (a pcap walk never stops early;
    the caller checks the lengths)."""
    u32 = lockstep.word_view(buf)
    dt = endian + "u4"
    unpack = struct.Struct(endian + "I").unpack_from

    def step(o: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return o + 16 + u32[o + 8].view(dt), None

    def step1(p: int) -> int | None:
        length: int = unpack(buf, p + 8)[0]
        return p + 16 + length

    return step, step1

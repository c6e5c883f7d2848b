"""Merge two classic pcap files by time, in place into the first (what mergecap does, for
the two tcpdumps of one test; the capture image has no Wireshark). Standard library only.

Both files must come from tcpdump on the same kind of interface (the agents capture on
"any", so both are LINUX_SLL or LINUX_SLL2) with the same time resolution; a trailing
record that tcpdump did not finish is dropped. Records with equal times keep the first
file's before the second's.
"""

from __future__ import annotations

import heapq
import os
import struct
from collections.abc import Iterator
from pathlib import Path

MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", "us"),
    b"\xa1\xb2\xc3\xd4": (">", "us"),
    b"\x4d\x3c\xb2\xa1": ("<", "ns"),
    b"\xa1\xb2\x3c\x4d": (">", "ns"),
}
HEADER = 24
RECORD = 16


class MergeError(Exception):
    """The two files cannot be merged; ``str()`` says why, in one line."""


def _header(data: bytes, name: str) -> tuple[str, str, int]:
    """(byte order, resolution, link type) of a pcap file's global header."""
    if len(data) < HEADER:
        raise MergeError(f"{name}: {len(data)} bytes, shorter than a pcap header")
    kind = MAGICS.get(data[:4])
    if kind is None:
        raise MergeError(f"{name}: not a classic pcap file (magic {data[:4].hex()})")
    order, res = kind
    linktype = struct.unpack(order + "I", data[20:24])[0] & 0x0FFFFFFF
    return order, res, linktype


def _records(data: bytes, order: str, tag: int) -> Iterator[tuple[int, int, int, bytes]]:
    """(ts_sec, ts_frac, tag, record bytes) of each whole record."""
    fmt = order + "IIII"
    off = HEADER
    while off + RECORD <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(fmt, data, off)
        end = off + RECORD + incl
        if end > len(data):
            return  # the last record was cut short
        yield sec, frac, tag, data[off:end]
        off = end


def merge_pcaps(first: Path, second: Path) -> int:
    """Writes the records of both files, by time, to ``first``; returns the record count.
    A missing or empty second file leaves ``first`` as it is."""
    if not second.exists() or second.stat().st_size == 0:
        return -1
    a, b = first.read_bytes(), second.read_bytes()
    ha, hb = _header(a, first.name), _header(b, second.name)
    if ha != hb:
        raise MergeError(f"{first.name} and {second.name} differ in byte order, time "
                         f"resolution or link type ({ha} vs {hb})")
    order = ha[0]
    snap = max(struct.unpack(order + "I", a[16:20])[0], struct.unpack(order + "I", b[16:20])[0])
    head = a[:16] + struct.pack(order + "I", snap) + a[20:24]
    tmp = first.with_name(first.name + ".merging")
    count = 0
    with tmp.open("wb") as out:
        out.write(head)
        for _sec, _frac, _tag, rec in heapq.merge(_records(a, order, 0), _records(b, order, 1)):
            out.write(rec)
            count += 1
    os.replace(tmp, first)
    return count

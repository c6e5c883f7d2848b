"""Packet records of a capture file, and the helpers the container readers share.

:class:`Records` is what a reader returns: one entry per packet record, in file order.
:func:`gather` copies a fixed-width slice at many offsets in one step;
:class:`OffsetCollector` gathers record offsets as a walk finds them.
"""

from __future__ import annotations

import mmap
from array import array
from dataclasses import dataclass, field

import numpy as np

# Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD: a larger record length means a corrupt file.
MAX_CAPLEN = 262144
Buffer = bytes | mmap.mmap  # a capture file's bytes (memory-mapped where possible)


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


def release(buf: Buffer, start: int = 0, stop: int | None = None) -> None:
    """Let go of the memory-mapped pages of ``buf[start:stop]`` that this process has read
    (whole pages only): they leave its resident memory but stay in the page cache, and a
    later read maps them again. A large capture is read once, front to back, so its peak
    memory is then that of the arrays decoded from it, not the file's size."""
    if not isinstance(buf, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return
    page = mmap.PAGESIZE
    lo = -(-start // page) * page
    hi = len(buf) if stop is None else min(stop, len(buf)) // page * page
    if hi > lo:
        try:
            buf.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):
            pass  # only memory use is at stake


def gather(buf: Buffer | np.ndarray, offs: np.ndarray, width: int) -> np.ndarray:
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
            rows: np.ndarray = view[offs].view(np.uint8).reshape(-1, width)
            return rows
        out = np.zeros((offs.size, width), dtype=np.uint8)
        ok = np.flatnonzero(safe)
        out[ok] = view[offs[ok]].view(np.uint8).reshape(-1, width)
    u8 = np.frombuffer(raw, dtype=np.uint8)
    for i in np.flatnonzero(offs > max(limit, -1)).tolist():
        chunk = u8[max(0, int(offs[i])) : int(offs[i]) + width]
        out[i, : chunk.size] = chunk
    return out


class OffsetCollector:
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

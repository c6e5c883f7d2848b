"""Decoding on chunks of packets: the first :data:`ROW` bytes of every packet of a chunk
are copied into one (N, ROW) array with a single gather, and every header field is a column
slice of it (per group of packets that share a header layout). Fields beyond those bytes
(long IPv6 extension chains, TCP options) are gathered from the file buffer.

:class:`Chunk` is one chunk's decoding state, shared by the link, IP and transport layers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from harness.capture.records import Buffer, gather
from harness.capture.table import Fragment, PacketTable

ROW = 80  # Ethernet + VLAN + IPv6 + UDP + RTP header: 14 + 4 + 40 + 8 + 12 = 78
_MAX_WARNINGS = 20


class Warnings:
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


def u16(b: np.ndarray) -> np.ndarray:
    """Big-endian uint16 of a (N, 2) byte array (a view when the bytes are adjacent)."""
    if b.strides[-1] != 1:
        b = np.ascontiguousarray(b)
    return b.view(">u2")[:, 0]


def u32(b: np.ndarray) -> np.ndarray:
    if b.strides[-1] != 1:
        b = np.ascontiguousarray(b)
    return b.view(">u4")[:, 0]


def u64(b: np.ndarray) -> np.ndarray:
    if b.strides[-1] != 1:
        b = np.ascontiguousarray(b)
    return b.view(">u8")[:, 0]


class Rows:
    """The first ROW bytes of each packet of a chunk, with fallbacks to the file buffer.

    With ``pre`` > 0 the rows also hold the ``pre`` bytes before each packet (a pcap
    record header), available as ``header``."""

    def __init__(self, buf: Buffer, data_off: np.ndarray, caplen: np.ndarray, pre: int = 0) -> None:
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
            picked: np.ndarray = self.rows[idx[:, None], col[:, None] + np.arange(width)]
            return picked
        return gather(self.buf, self.data_off[idx] + col, width)


class Ix:
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

    def subset(self, mask: np.ndarray) -> Ix:
        return Ix(self.idx[mask], self.k, self.lo)

    def frames0(self, mask: np.ndarray) -> np.ndarray:
        """0-based packet numbers of the packets selected by ``mask`` (for warnings)."""
        frames: np.ndarray = self.lo + self.idx[mask]
        return frames


def groups(values: np.ndarray, ix: Ix) -> list[tuple[int, Ix]]:
    """Split packets by the value of ``values`` (a handful of distinct header layouts)."""
    if ix.size == 0:
        return []
    v = values[ix.loc]
    first = int(v[0])
    if bool(np.all(v == first)):
        return [(first, ix)]
    return [(int(u), ix.subset(v == u)) for u in np.unique(v)]


@dataclass
class Chunk:
    """One chunk's decoding state: its rows and, per packet (chunk-relative), where the
    network and transport headers start and where the captured bytes end."""

    t: PacketTable
    rows: Rows
    lo: int  # the chunk's first packet
    k: int  # its number of packets
    end: np.ndarray  # captured bytes, relative to the packet start
    l3: np.ndarray  # network header offset
    l4: np.ndarray  # transport header offset
    l4_end: np.ndarray  # end of the IP payload the IP header announces
    warn: Warnings
    frags: list[Fragment]  # IP fragments, for reassembly

    def layouts(
        self, ix: Ix, at: np.ndarray, size: int, what: str, clear_proto: bool = False
    ) -> Iterator[tuple[int, Ix, np.ndarray]]:
        """The packets ``ix`` whose ``size``-byte header at offset ``at`` was captured, by
        offset: (offset, packets, their headers); the others are reported (and with
        ``clear_proto`` lose their transport protocol)."""
        short = self.end[ix.loc] - at[ix.loc] < size
        if np.any(short):
            self.warn.add(ix.frames0(short), f"{what} header cut short")
            if clear_proto:
                self.t.proto[ix.frames0(short)] = 0
            ix = ix.subset(~short)
        for c, gx in groups(at, ix):
            yield c, gx, self.rows.take(gx.loc, c, size)

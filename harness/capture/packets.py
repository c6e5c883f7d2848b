"""Link, IP and transport headers of every packet, decoded on arrays.

Decoding works on chunks of :data:`CHUNK` packets (their rows and temporaries stay in the
CPU cache; see :mod:`harness.capture.rows`), layer by layer: :mod:`~harness.capture.links`
(where the IP header starts), :mod:`~harness.capture.ip` (IPv4, IPv6 with extension
headers), :mod:`~harness.capture.transport` (UDP, TCP). IP fragments are reassembled on a
slow path (:mod:`~harness.capture.fragments`; they are rare). The result is a
:class:`~harness.capture.table.PacketTable`.
"""

from __future__ import annotations

import numpy as np

from harness.capture.fast import decode_fast
from harness.capture.fragments import reassemble
from harness.capture.ip import decode_ipv4, decode_ipv6
from harness.capture.links import SUPPORTED_LINKTYPES, decode_link, linktype_name
from harness.capture.parallel import can_fork, shared_zeros, split
from harness.capture.records import Buffer, Records, release
from harness.capture.rows import Chunk, Ix, Rows, Warnings, groups
from harness.capture.table import HEAD, Fragment, PacketTable
from harness.capture.transport import decode_transport

#: link type -> (packets skipped, the first of them)
Unsupported = dict[int, tuple[int, int]]
CHUNK = 1 << 15  # packets decoded together: their rows and temporaries stay in the CPU cache
PARALLEL_MIN = 200_000  # packets: below this a second process costs more than it saves


def decode(rec: Records, buf: Buffer, workers: int = 1) -> PacketTable:
    """Decode every packet; with ``workers=2`` (and a large capture) a forked process
    decodes the second half into shared arrays."""
    n = len(rec)
    parallel = workers > 1 and n >= PARALLEL_MIN and can_fork()
    zeros = shared_zeros if parallel else np.zeros
    warnings: list[str] = []
    warn = Warnings(warnings)
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
    frags: list[Fragment] = []
    unsupported: Unsupported = {}

    def run(
        lo: int, hi: int, w: Warnings, fr: list[Fragment], un: Unsupported
    ) -> tuple[list[tuple[int, str]], int, list[Fragment], Unsupported]:
        for start in range(lo, hi, CHUNK):
            stop = min(hi, start + CHUNK)
            _decode_chunk(t, rec, buf, start, stop, w, fr, un)
            if n >= PARALLEL_MIN:  # a large file: its pages are not read again
                release(buf, int(rec.data_off[start]) - 16, int(rec.data_off[stop - 1]))
        return w.items, w.count, fr, un

    if parallel:
        mid = (n // 2 + CHUNK - 1) // CHUNK * CHUNK
        _mine, (items, count, their_frags, their_un) = split(
            lambda: run(0, mid, warn, frags, unsupported),
            lambda: run(mid, n, Warnings([]), [], {}),
        )
        warn.items.extend(items)
        warn.count += count
        frags.extend(their_frags)
        if mid < n:
            release(buf, int(rec.data_off[mid]) - 16)  # the child's half, read in the walk
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
        reassemble(t, frags, np.frombuffer(buf, dtype=np.uint8), len(buf))
    warn.close()
    return t


def _decode_chunk(
    t: PacketTable,
    rec: Records,
    buf: Buffer,
    lo: int,
    hi: int,
    warn: Warnings,
    frags: list[Fragment],
    unsupported: Unsupported,
) -> None:
    lts = rec.linktype[lo:hi]
    lt0 = int(lts[0])
    # a pcap file has one link type
    if (rec.pcap_header is not None or bool(np.all(lts == lt0))) and decode_fast(
        t, rec, buf, lt0, lo, hi
    ):
        return
    data_off = rec.data_off[lo:hi]
    caplen = rec.caplen[lo:hi].astype(np.int64)
    if rec.pcap_header is None:
        rows = Rows(buf, data_off, caplen)
    else:
        endian, frac_ns = rec.pcap_header
        rows = Rows(buf, data_off, caplen, pre=16)
        hdr = rows.header.view(endian + "u4")
        ts = t.ts_ns[lo:hi]
        ts[:] = hdr[:, 0]
        ts *= 1_000_000_000
        ts += hdr[:, 1].astype(np.int64) * frac_ns
    k = hi - lo
    l3 = np.zeros(k, dtype=np.int64)  # network header offset, relative to the packet
    ipver = np.zeros(k, dtype=np.uint8)
    for lt, ix in groups(lts, Ix(np.arange(k), k, lo)):
        if lt not in SUPPORTED_LINKTYPES:
            count, first = unsupported.get(lt, (0, lo + int(ix.idx[0])))
            unsupported[lt] = (count + ix.size, first)
            continue
        decode_link(rows, lt, ix, l3, ipver)
    l4 = np.zeros(k, dtype=np.int64)
    ch = Chunk(t, rows, lo, k, caplen, l3, l4, np.zeros(k, dtype=np.int64), warn, frags)
    decode_ipv4(ch, Ix(np.flatnonzero(ipver == 4), k, lo))
    decode_ipv6(ch, Ix(np.flatnonzero(ipver == 6), k, lo))
    decode_transport(ch)

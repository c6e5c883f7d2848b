"""Packets grouped into flows: source and destination address and port plus one 32-bit
payload word (the RTP SSRC), exactly, in one cache-sized pass over the packets.

The flows are few next to the packets (a call capture: hundreds of flows, a million
packets). The distinct keys of a sample of the packets make a small lookup table; then
each chunk of :data:`CHUNK` packets builds its keys, looks them up and checks every key
word against its flow's, while the chunk's temporaries stay in the CPU cache. Packets of
flows the sample missed are grouped apart (sorted by hash, each checked against its
group's first packet), so the grouping is exact whatever the sample holds.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from harness.capture.table import PacketTable

CHUNK = 1 << 15  # packets keyed together
SAMPLE = 64  # one packet in SAMPLE makes the first lookup table
_TABLE_MAX = 1 << 12  # flows up to which lookups go through a perfect-hash table
_MIX = np.uint64(0x9E3779B97F4A7C15)
_LOW = 0 if sys.byteorder == "little" else 1  # the low 32-bit half of a uint64
#: the key words (uint64) of some packets, given their indices
Words = Callable[[np.ndarray], list[np.ndarray]]


def key_words(t: PacketTable, word_at: int) -> Words:
    """The key of a packet as uint64 words: with IPv4 only, two (both addresses in one, the
    ports and the payload word in the other), else five. Only equality matters: the bytes
    are taken as they are, without byte swaps."""
    # (indexing, not np.take: np.take copies a strided array whole before it gathers)
    head = np.ascontiguousarray(t.head)
    word = np.ndarray((head.shape[0],), np.uint32, head, word_at, (head.shape[1],))
    ports = t.ports.view(np.uint32)

    def ports_word(rows: np.ndarray) -> np.ndarray:
        w: np.ndarray = ports[rows].astype(np.uint64)
        w <<= np.uint64(32)
        w |= word[rows]
        return w

    if not bool(np.any(t.ip_version == 6)):
        dst_low = t.dst_lo.view(np.uint32)[_LOW::2]

        def ipv4(rows: np.ndarray) -> list[np.ndarray]:
            # the source's low half holds its IPv4 address and the IPv4-mapped marker;
            # the destination's address goes in above them (a bijection for IPv4)
            pair = dst_low[rows].astype(np.uint64)
            pair <<= np.uint64(32)
            pair ^= t.src_lo[rows]
            return [pair, ports_word(rows)]

        return ipv4

    def any_ip(rows: np.ndarray) -> list[np.ndarray]:
        cols = (t.src_hi, t.src_lo, t.dst_hi, t.dst_lo)
        return [c[rows] for c in cols] + [ports_word(rows)]

    return any_ip


def mix(words: list[np.ndarray]) -> np.ndarray:
    """A 64-bit hash of each row's key words."""
    h = words[0] * _MIX
    with np.errstate(over="ignore"):
        for w in words[1:]:
            h ^= w
            h *= _MIX
    h ^= h >> np.uint64(31)
    return h


def _distinct(h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct values of ``h``, the first index of each, and each value's number."""
    order = np.argsort(h, kind="stable")
    hs = h[order]
    new = np.empty(hs.size, dtype=bool)
    new[:1] = True
    np.not_equal(hs[1:], hs[:-1], out=new[1:])
    number = np.empty(h.size, dtype=np.int64)
    number[order] = np.cumsum(new) - 1
    return hs[new], order[new], number


class _Lookup:
    """Index of a hash among sorted distinct hashes: a perfect-hash table on a slice of the
    bits while they are few, else a binary search. An unknown hash gets some index (the
    caller checks the key words)."""

    def __init__(self, uniq: np.ndarray) -> None:
        self.uniq = uniq
        self.table: np.ndarray | None = None
        bits = min(22, 2 * int(uniq.size).bit_length() + 2)
        self.mask = np.uint64((1 << bits) - 1)
        self.shift = np.uint64(0)
        if uniq.size > _TABLE_MAX:
            return
        for shift in range(0, 64 - bits, 3):
            slots = (uniq >> np.uint64(shift)) & self.mask
            ordered = np.sort(slots)  # (np.unique would import numpy.ma: ~10 ms)
            if not bool(np.any(ordered[1:] == ordered[:-1])):
                self.table = np.zeros(1 << bits, dtype=np.int64)
                self.table[slots] = np.arange(uniq.size)
                self.shift = np.uint64(shift)
                return

    def __call__(self, h: np.ndarray) -> np.ndarray:
        if self.table is None:
            idx = np.searchsorted(self.uniq, h)
            np.minimum(idx, self.uniq.size - 1, out=idx)
            return idx
        slots = h >> self.shift
        slots &= self.mask
        return np.take(self.table, slots)


Hash = Callable[[list[np.ndarray]], np.ndarray]


def flow_groups(
    t: PacketTable, sel: np.ndarray, word_at: int = 8, hash_of: Hash = mix
) -> tuple[np.ndarray, np.ndarray]:
    """Group the packets ``sel`` (indices, in order) by flow (see :func:`key_words`).

    Returns (``order``, ``bounds``): ``order[bounds[g]:bounds[g + 1]]`` are the positions in
    ``sel`` of flow ``g``'s packets, in their order; flows are numbered by first packet.
    ``hash_of``: the hash that finds a packet's flow (exact whatever it gives)."""
    n = sel.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    words = key_words(t, word_at)
    sample = words(sel[::SAMPLE])
    uniq, first, _ = _distinct(hash_of(sample))
    known = [w[first] for w in sample]
    lookup = _Lookup(uniq)
    ids = np.empty(n, dtype=np.int64)
    missed: list[np.ndarray] = []
    for lo in range(0, n, CHUNK):
        w = words(sel[lo : lo + CHUNK])
        gid = lookup(hash_of(w))
        ok = np.take(known[0], gid) == w[0]
        for k in range(1, len(w)):
            ok &= np.take(known[k], gid) == w[k]
        ids[lo : lo + gid.size] = gid
        if not bool(ok.all()):
            missed.append(lo + np.flatnonzero(~ok))
    count = uniq.size
    if missed:  # flows the sample did not see: grouped by hash, each packet checked
        pos = np.concatenate(missed)
        w = words(sel[pos])
        more, first, number = _distinct(hash_of(w))
        for col in w:
            if not np.array_equal(col[first][number], col):
                return _group_exact(words(sel))  # two keys share a hash (2^-64 per pair)
        ids[pos] = count + number
        count += more.size
    if count <= 0xFFFF:  # a radix sort for 16-bit keys
        ids = ids.astype(np.uint16)
    order = np.argsort(ids, kind="stable")
    bounds = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(ids, minlength=count), out=bounds[1:])
    del ids
    return _by_first_packet(order, bounds)


def _by_first_packet(order: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same groups, numbered by their first packet."""
    sizes = np.diff(bounds)
    keep = np.flatnonzero(sizes)
    first = order[bounds[keep]]
    by_first = keep[np.argsort(first)]
    new_bounds = np.zeros(by_first.size + 1, dtype=np.int64)
    np.cumsum(sizes[by_first], out=new_bounds[1:])
    pieces = [order[bounds[g] : bounds[g + 1]] for g in by_first.tolist()]
    return np.concatenate(pieces), new_bounds


def _group_exact(cols: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort(cols[::-1])
    keys = np.stack([c[order] for c in cols])
    change = np.concatenate(([True], np.any(keys[:, 1:] != keys[:, :-1], axis=0)))
    starts = np.flatnonzero(change)
    pieces = [np.sort(p) for p in np.split(order, starts[1:])]
    pieces.sort(key=lambda p: int(p[0]))
    sizes = [p.size for p in pieces]
    return np.concatenate(pieces), np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)

"""tshark's sequence-number bookkeeping of an RTP stream, on arrays: which packets are in
time sequence, which are sequence errors (lost, late, duplicate), how often the numbers
wrapped. Each gives what :mod:`harness.media.reference` gives one packet at a time."""

from __future__ import annotations

import numpy as np


def in_time_sequence(ts: np.ndarray) -> np.ndarray:
    """tshark's per-packet "in time sequence" test against the first timestamp."""
    ts = np.asarray(ts, dtype=np.int64)
    first = int(ts[0])
    d = ts - first
    its = np.where(d >= 0, d < 0x80000000, (0xFFFFFFFF - first) + ts < 0x80000000)
    its[0] = True
    return its


class _Lazy:
    """``list``-like item access to an array, without converting all of it."""

    def __init__(self, arr: np.ndarray) -> None:
        self.item = arr.item

    def __getitem__(self, i: int) -> int:
        value: int = self.item(i)
        return value


def sequence_errors(seq: np.ndarray, its: np.ndarray) -> np.ndarray:
    """tshark's WRONG_SEQ flag per packet (lost, late or duplicate), packet 0 False.

    tshark keeps the last sequence number that moved forward (``seq_num``); a packet moves
    it when it is in time sequence and ahead of it (more than 0xFF00 behind counts as a
    wrap). Proposed on arrays as the running maximum of the unwrapped sequence numbers and
    proved packet by packet; where the proof fails, only the packets that do not simply
    follow the previous one are stepped in Python.
    """
    n = seq.size
    wrong = np.zeros(n, dtype=bool)
    if n < 2:
        return wrong
    seq = np.asarray(seq, dtype=np.int64)
    step = np.diff(seq) & 0xFFFF
    step[step >= 0x8000] -= 0x10000
    ext = np.empty(n, dtype=np.int64)
    ext[0] = seq[0]
    np.cumsum(step, out=ext[1:])
    ext[1:] += seq[0]
    ext[~its] = np.iinfo(np.int64).min  # out of time sequence: never moves seq_num
    ext[0] = seq[0]
    after = np.maximum.accumulate(ext)
    after &= 0xFFFF  # the proposed seq_num after each packet
    s, x = after[:-1], seq[1:]  # seq_num before each packet, and the packet's number
    behind = s - x
    moves = its[1:] & ((behind < 0) | (behind > 0xFF00))
    if np.array_equal(np.where(moves, x, s), after[1:]):
        follows = (x == s + 1) | ((s == 65535) & (x == 0))
        wrong[1:] = np.where(moves, ~follows, behind >= 0)
        return wrong
    return _sequence_errors_stepped(seq, its)


def _sequence_errors_stepped(seq: np.ndarray, its: np.ndarray) -> np.ndarray:
    n = seq.size
    wrong = np.zeros(n, dtype=bool)
    normal = np.zeros(n, dtype=bool)
    normal[1:] = its[1:] & (seq[1:] == ((seq[:-1] + 1) & 0xFFFF))
    todo = np.flatnonzero(~normal[1:]) + 1
    if todo.size == 0:
        return wrong
    if todo.size * 8 > n:
        seq_l, its_l = seq.tolist(), its.tolist()
    else:  # few irregular packets: index the arrays instead of converting them
        seq_l, its_l = _Lazy(seq), _Lazy(its)
    todo_l = todo.tolist()
    k = 0
    i = todo_l[0]
    s = seq_l[i - 1]  # the packets before the first irregular one all advanced seq_num
    while True:
        x = seq_l[i]
        ok = its_l[i]
        if ok and (s + 1 == x or (s == 65535 and x == 0)):
            s, was_set = x, True
        elif ok and (s + 1 < x or s - x > 0xFF00):
            s, was_set = x, True
            wrong[i] = True
        else:
            was_set = False
            if s + 1 > x:
                wrong[i] = True
        if was_set:
            while k < len(todo_l) and todo_l[k] <= i:
                k += 1
            if k == len(todo_l):
                break
            nxt = todo_l[k]
            if nxt > i + 1:
                s = seq_l[nxt - 1]
            i = nxt
        else:
            i += 1
            if i >= n:
                break
    return wrong


def sequence_cycles(seq: np.ndarray, its: np.ndarray) -> int:
    """tshark's seq_cycles (the ``under`` flag automaton), counted on arrays."""
    start = int(seq[0])
    s = seq[1:]
    ok = its[1:]
    prev = seq[:-1]
    set_ev = ok & ((s < start) | ((s == 0) & (prev == 65535)))
    reset_ev = ok & (s > start)
    ev = np.flatnonzero(set_ev | reset_ev)
    if ev.size == 0:
        return 0
    is_set = set_ev[ev]
    first = 1 if is_set[0] else 0
    return first + int(np.count_nonzero(is_set[1:] & ~is_set[:-1]))


class Segments:
    """Many streams' per-packet arrays end to end: stream ``g`` is ``bounds[g]:bounds[g + 1]``
    (none empty), as :func:`harness.media.stats.analyse_segments` takes them."""

    def __init__(self, bounds: np.ndarray) -> None:
        self.bounds = np.asarray(bounds, dtype=np.int64)
        self.first = self.bounds[:-1]
        self.last = self.bounds[1:] - 1
        self.sizes = np.diff(self.bounds)
        self.count = int(self.sizes.size)
        self.n = int(self.bounds[-1])
        self.id = np.repeat(np.arange(self.count, dtype=np.int64), self.sizes)

    def rep(self, per_stream: np.ndarray) -> np.ndarray:
        """A per-stream value at each of the stream's packets."""
        return np.repeat(per_stream, self.sizes)

    def count_true(self, mask: np.ndarray) -> np.ndarray:
        """Per stream, how many of its packets ``mask`` selects."""
        counts: np.ndarray = np.add.reduceat(mask, self.first, dtype=np.int64)
        return counts

"""The lockstep walk: thousands of walkers step through a large capture file at once.

The walk over records is the only sequential step of reading a file: one record's length
says where the next one starts. A large file is walked on arrays instead: a guessed record
start near every :data:`SEGMENT` mark, found with a cheap byte test by the format's reader,
lets one walker per segment step in lockstep, and a guess counts only when the walker before
it lands on it exactly, so the result is the sequential walk's.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from functools import partial

import numpy as np

from harness.capture.parallel import can_fork, shared_zeros, split
from harness.capture.records import Buffer, OffsetCollector

LOCKSTEP_MIN = 4 << 20  # bytes: below this the Python walk is quick enough
SEGMENT = 1 << 16  # bytes between guessed record starts: one walker each
WINDOW = 512  # bytes searched for a record start at each segment's beginning
_LOCKSTEP_FEW = 64  # fewer live walkers than this: finish them in Python
_LOCKSTEP_TAIL = 4 * SEGMENT  # bytes a walker finished in Python may still walk
ROUNDS = 8  # a wrong guess starts a new round after it
_LOCKSTEP_SPLIT = 512  # walkers each process needs for a second process to pay
#: one record on for every walker (the next offsets, and which records are walked at all,
#: None for every one), and for one (None: not walked)
Step = Callable[[np.ndarray], tuple[np.ndarray, "np.ndarray | None"]]
Step1 = Callable[[int], "int | None"]


def first_per_segment(seg: np.ndarray, cand: np.ndarray, count: int) -> np.ndarray:
    """The first candidate offset of each of ``count`` segments (-1 where there is none),
    from the candidates ``cand`` (in order) and their segment numbers ``seg``."""
    first = np.flatnonzero(np.diff(seg, prepend=-1) != 0)
    out = np.full(count, -1, dtype=np.int64)
    out[seg[first]] = cand[first]
    return out


# positions -> (each one looks like a record, the position of the record after it)
RecordCheck = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def guess_starts(
    buf: Buffer,
    lo: int,
    count: int,
    step: int,
    marks: tuple[tuple[int, int], tuple[int, int]],
    check: RecordCheck,
    room: int,
) -> np.ndarray:
    """For each of ``count`` segments from ``lo`` (``SEGMENT`` bytes apart), the first
    position in its first ``WINDOW`` bytes (``step`` bytes apart) whose bytes at the two
    ``marks`` (offset, value) match and that ``check`` finds to be a record followed by two
    more (-1 where none is). ``room``: bytes a record header needs before the end.

    A guess, cheap and nearly always right: the caller proves every one it uses."""
    cols = WINDOW // step
    shape, strides = (count, cols), (SEGMENT, step)
    (off_a, want_a), (off_b, want_b) = marks
    a = np.ndarray(shape, np.uint8, buf, lo + off_a, strides)
    b = np.ndarray(shape, np.uint8, buf, lo + off_b, strides)
    seg, pos = np.divmod(np.flatnonzero((a == want_a) & (b == want_b)), cols)
    cand = lo + seg * SEGMENT + step * pos
    ok = np.ones(cand.size, dtype=bool)
    p = cand
    for _ in range(3):
        good, p = check(np.minimum(p, len(buf) - room))
        ok &= good
    return first_per_segment(seg[ok], cand[ok], count)


def word_view(buf: Buffer) -> np.ndarray:
    """The 4 bytes at every offset of ``buf`` (``.view(endian + "u4")`` reads them)."""
    return np.ndarray((len(buf) - 3,), "V4", buf, 0, (1,))


def walk_lockstep(
    buf: Buffer,
    start: int,
    col: OffsetCollector,
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
            return int(reached)
        offs, reached = room[:size], further
    else:
        offs, reached = _lockstep(starts, last, steps)
    col.add_array(offs)
    return int(reached)


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
    tails: dict[int, array[int]] = {}
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
            first = int(base[j + 1]) - len(tail)
            offs[first : first + len(tail)] = np.frombuffer(tail, dtype=np.int64)
    return offs, int(reached[keep - 1])

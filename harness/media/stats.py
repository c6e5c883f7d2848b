"""RTP stream figures computed on arrays exactly as tshark 4.0's ``-z rtp,streams``.

:func:`analyse` gives the figures of :func:`harness.media.reference.analyse_reference`
(tshark's per-packet analysis, ported line by line) from the per-packet steps of
:mod:`harness.media.sequence` and :mod:`harness.media.series`. Where a figure it computes
lies so close to a rounding boundary of tshark's three decimals that float rounding order
could flip the last digit, it redoes that figure step by step as tshark does (the deltas,
and so their minimum and maximum, are bit-identical already; a jitter extreme needs the
exact filter only up to the packets that can hold it), so the printed figures are always
tshark's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.media.figures import TsharkFigures, tshark_figures
from harness.media.jitter import (
    index_mean,
    index_mean_sequential,
    jitter_filter,
    jitter_filter_streams,
    jitter_sequential,
)
from harness.media.payload_types import PT_CN, PT_CN_OLD
from harness.media.reference import analyse_reference
from harness.media.sequence import (
    Segments,
    in_time_sequence,
    sequence_cycles,
    sequence_errors,
)
from harness.media.series import packet_deltas, regular_packets

SMALL_STREAM = 192  # below this, the per-packet reference is as fast as the array code


def _near_boundary(*values: float) -> bool:
    """Whether any of the values (ms) could print differently at three decimals if it were
    off by float rounding."""
    for v in values:
        if not np.isfinite(v):
            return True
        x = abs(v) * 1000.0
        frac = x - np.floor(x)
        if abs(frac - 0.5) < max(1e-6, x * 1e-12):
            return True
    return False


def _summaries(
    d: np.ndarray, ridx: np.ndarray, j: np.ndarray, jr: np.ndarray, sequential: bool = False
) -> tuple[float, float, float, float, float, float]:
    """(min, mean, max) delta and jitter over the regular packets, tshark's way."""
    mean = index_mean_sequential if sequential else index_mean
    if d.size:
        min_delta, max_delta = float(d.min()), max(0.0, float(d.max()))
        mean_delta = mean(d, ridx)
    else:
        min_delta, mean_delta, max_delta = -1.0, 0.0, 0.0
    if j.size:
        min_jitter, max_jitter = float(j.min()), max(0.0, float(j.max()))
        mean_jitter = mean(j, jr)
    else:
        min_jitter, mean_jitter, max_jitter = -1.0, 0.0, 0.0
    return min_delta, mean_delta, max_delta, min_jitter, mean_jitter, max_jitter


def _exact_extreme(approx: np.ndarray, pos: np.ndarray, diff: np.ndarray, largest: bool) -> float:
    """The smallest (largest) jitter tshark sees at the packets whose filtered values are
    ``approx``, ``pos`` their places in ``diff``.

    Only values within a margin of the approximate extreme can be the exact one (the array
    filter is within ~1e-13 of the sequential one, relative to the largest |D|; the margin
    is 1e-9); the sequential filter runs up to the last of those, often an early packet.
    """
    margin = 1e-9 * float(np.max(diff)) + 1e-300
    if largest:
        near = np.flatnonzero(approx >= approx.max() - margin)
    else:
        near = np.flatnonzero(approx <= approx.min() + margin)
    upto = int(pos[near[-1]]) + 1
    exact = jitter_sequential(diff[:upto])[pos[near]]
    return float(exact.max()) if largest else float(exact.min())


def analyse(
    seq: np.ndarray,
    ts: np.ndarray,
    marker: np.ndarray,
    pt: np.ndarray,
    clock: np.ndarray,
    t_ms: np.ndarray,
) -> TsharkFigures:
    """The figures of :func:`analyse_reference`, computed on arrays."""
    n = int(seq.size)
    if n <= SMALL_STREAM:
        return analyse_reference(seq, ts, marker, pt, clock, t_ms)
    seq = np.asarray(seq, dtype=np.int64)
    ts = np.asarray(ts, dtype=np.int64)
    marker = np.asarray(marker, dtype=bool)
    pt = np.asarray(pt, dtype=np.int64)
    clock = np.asarray(clock, dtype=np.int64)
    t = np.asarray(t_ms, dtype=np.float64)

    its = in_time_sequence(ts)
    wrong = sequence_errors(seq, its)
    cycles = sequence_cycles(seq, its)
    delta, jidx, diff = packet_deltas(ts, t, its, clock)
    jit = np.zeros(n, dtype=np.float64)
    jit[jidx] = jitter_filter(diff)

    ridx = np.flatnonzero(regular_packets(its, marker, pt))
    jr = ridx[clock[ridx] != 0]
    d = delta[ridx]  # bit-identical to tshark's deltas, so min and max are exact
    if np.any(d == -1.0):
        return analyse_reference(seq, ts, marker, pt, clock, t_ms)
    figs = _summaries(d, ridx, jit[jr], jr)
    if not all(np.isfinite(figs)):
        return analyse_reference(seq, ts, marker, pt, clock, t_ms)
    min_delta, mean_delta, max_delta, min_jitter, mean_jitter, max_jitter = figs
    # Where float rounding order could flip tshark's third decimal, redo the figure one
    # step per packet, exactly as tshark does. Delta minimum and maximum never need it.
    near_means = _near_boundary(mean_delta, mean_jitter)
    near_min, near_max = _near_boundary(min_jitter), _near_boundary(max_jitter)
    if near_means or ((near_min or near_max) and not bool(np.isfinite(diff).all())):
        # the running means: the whole jitter filter and both means
        exact = np.zeros(n, dtype=np.float64)
        exact[jidx] = jitter_sequential(diff)
        figs = _summaries(d, ridx, exact[jr], jr, sequential=True)
        min_delta, mean_delta, max_delta, min_jitter, mean_jitter, max_jitter = figs
    elif near_min or near_max:  # a jitter extreme: the filter up to where it can lie
        pos = np.searchsorted(jidx, jr)  # each regular jitter packet's place in diff
        if near_min:
            min_jitter = _exact_extreme(jit[jr], pos, diff, largest=False)
        if near_max:
            max_jitter = max(0.0, _exact_extreme(jit[jr], pos, diff, largest=True))

    wrong_ts = int(n - 1 - np.count_nonzero(its[1:]))
    sequence = int(np.count_nonzero(wrong))
    summary = (min_delta, mean_delta, max_delta, min_jitter, mean_jitter, max_jitter)
    seq_range = (int(seq[0]), int(seq[-1]))
    problem = bool(sequence or wrong_ts)
    return tshark_figures(n, seq_range, cycles, summary, sequence, wrong_ts, problem)


@dataclass
class Bulk:
    """What :func:`analyse_segments` finds for each stream (lists by stream)."""

    figures: list[TsharkFigures | None]  # None: analyse this stream alone
    lost_unique: list[int]  # sequence numbers never received (RFC 3550 A.3)
    duplicates: list[int]
    out_of_order: list[int]  # first copies arriving after a higher sequence number
    step: np.ndarray  # uint16 per packet: sequence number minus the previous packet's


def analyse_segments(
    seq: np.ndarray,
    ts: np.ndarray,
    marker: np.ndarray,
    pt: np.ndarray,
    clocks: list[np.ndarray],
    t_ms: np.ndarray,
    sg: Segments,
) -> Bulk:
    """:func:`analyse` of every stream of ``sg`` at once, bit for bit (``seq`` uint16, ``ts``
    uint32, ``pt`` uint8, ``t_ms`` float64, arrays end to end; ``clocks`` each stream's
    jitter clocks, int64, a broadcast array where it is one value).

    The same operations on the same values, with fewer passes: the streams this takes are
    those whose every packet is in time sequence (nearly all), so each packet's previous
    in-time packet is the one before it; sequence bookkeeping only steps through the
    packets that do not simply follow a new highest number. A stream that :func:`analyse`
    would hand to a slower path (short, out of time sequence, a -1 delta, a running mean
    near a rounding boundary) gets None, for the caller to analyse alone."""
    n, count, first = sg.n, sg.count, sg.first
    u = ts - sg.rep(ts[first])  # uint32: the timestamp after the stream's first, wrapped
    usual = (sg.count_true(u >= 0x80000000) == 0) & (sg.sizes > SMALL_STREAM)

    step = np.empty(n, dtype=np.uint16)
    step[0] = 0
    np.subtract(seq[1:], seq[:-1], out=step[1:])
    step[first] = 0
    ext = np.cumsum(step.view(np.int16), dtype=np.int64)  # unwrapped packet to packet
    ext += sg.rep(seq[first].astype(np.int64) - ext[first])
    big = 1 << (int(np.abs(ext).max()).bit_length() + 2)
    if count * big >= 1 << 62:  # (never for real captures)
        return _alone(count, step)
    offset = sg.rep(np.arange(count, dtype=np.int64) * big)  # no running max crosses streams
    key = ext + offset
    top = np.maximum.accumulate(key)  # the highest number so far
    new_top = np.empty(n, dtype=bool)
    np.greater(key[1:], top[:-1], out=new_top[1:])
    new_top[first] = True
    errors = _sequence_errors(seq, step, new_top, top, offset, sg)
    cycles = _cycles(seq, sg)
    lost_unique, duplicates, late = _first_copies(key, top, new_top, ext, offset, sg)
    del key, offset

    delta, jitter, runs = _deltas_and_jitter(u, t_ms, clocks, marker, pt, sg)
    deltas = _run_summary(delta, runs[0], sg)
    jitters = _run_summary(jitter[0], runs[1], sg)
    sizes = sg.sizes.tolist()
    span = list(zip(seq[first].tolist(), seq[sg.last].tolist(), strict=True))
    out: list[TsharkFigures | None] = []
    for g, ok in enumerate(usual.tolist()):
        figs = deltas[g] + jitters[g]
        if not ok or not all(np.isfinite(figs)) or _near_boundary(figs[1], figs[4]):
            out.append(None)
            continue
        if figs[0] <= -1.0 <= figs[2] and _minus_one(delta, runs[0], g):
            out.append(None)
            continue
        if _near_boundary(figs[3]) or _near_boundary(figs[5]):
            exact = _exact_extremes(figs, jitter, runs[1], g)
            if exact is None:  # (:func:`analyse` redoes all of it then)
                out.append(None)
                continue
            figs = exact
        problem = bool(errors[g])
        out.append(tshark_figures(sizes[g], span[g], cycles[g], figs, errors[g], 0, problem))
    return Bulk(out, lost_unique, duplicates, late, step)


def _alone(count: int, step: np.ndarray) -> Bulk:
    zeros = [0] * count
    return Bulk([None] * count, zeros, zeros, zeros, step)


def _sequence_errors(
    seq: np.ndarray, step: np.ndarray, new_top: np.ndarray, top: np.ndarray,
    offset: np.ndarray, sg: Segments,
) -> list[int]:  # fmt: skip
    """tshark's sequence errors per stream: :func:`sequence_errors`' proposal and proof,
    or its steps where the proof fails. A packet that follows a new highest number by one
    moves tshark's seq_num and is no error: only the others are looked at."""
    plain = step == 1
    plain[1:] &= new_top[:-1]
    plain[sg.first] = True
    at = np.flatnonzero(~plain)
    if at.size == 0:
        return [0] * sg.count
    off = offset[at]
    s = (top[at - 1] - off) & 0xFFFF  # seq_num before the packet
    after = (top[at] - off) & 0xFFFF  # ... and after it, as proposed
    x = seq[at].astype(np.int64)
    behind = s - x
    moves = (behind < 0) | (behind > 0xFF00)
    follows = (x == s + 1) | ((s == 65535) & (x == 0))
    wrong = np.where(moves, ~follows, behind >= 0)
    stream = sg.id[at]
    failed = set(stream[np.where(moves, x, s) != after].tolist())
    errors: list[int] = np.bincount(stream[wrong], minlength=sg.count).tolist()
    for g in failed:  # the proposal fails: step through the stream as tshark does
        lo, hi = int(sg.bounds[g]), int(sg.bounds[g + 1])
        its = np.ones(hi - lo, dtype=bool)
        errors[g] = int(np.count_nonzero(sequence_errors(seq[lo:hi].astype(np.int64), its)))
    return errors


def _cycles(seq: np.ndarray, sg: Segments) -> list[int]:
    """:func:`sequence_cycles` per stream (every packet in time sequence): none unless a
    number falls below the first or 65535 is followed by 0."""
    below = sg.count_true(seq < sg.rep(seq[sg.first]))
    zeros = np.flatnonzero(seq[1:] == 0) + 1
    wrapped = zeros[seq[zeros - 1] == 65535]
    below[sg.id[wrapped]] += 1
    cycles = [0] * sg.count
    for g in np.flatnonzero(below).tolist():
        lo, hi = int(sg.bounds[g]), int(sg.bounds[g + 1])
        cycles[g] = sequence_cycles(seq[lo:hi].astype(np.int64), np.ones(hi - lo, dtype=bool))
    return cycles


def _first_copies(
    key: np.ndarray, top: np.ndarray, new_top: np.ndarray, ext: np.ndarray,
    offset: np.ndarray, sg: Segments,
) -> tuple[list[int], list[int], list[int]]:  # fmt: skip
    """Per stream, as ``RtpStream.stats()`` counts them with ``np.unique``: sequence numbers
    never received, duplicates, and first copies that arrived after a higher number. A
    new highest number is a first copy; only the other packets (few) are looked up."""
    first = new_top.copy()
    others = np.flatnonzero(~new_top)
    late = np.zeros(0, dtype=np.int64)
    if others.size:
        k = key[others]
        tops = key[new_top]  # increasing: a stream's, each above the stream before
        pos = np.minimum(np.searchsorted(tops, k), tops.size - 1)
        rest = others[tops[pos] != k]
        if rest.size:  # numbers seen only out of order: the first copy of each
            order = np.argsort(key[rest], kind="stable")
            sk = key[rest][order]
            first[rest[order[np.concatenate(([True], sk[1:] != sk[:-1]))]]] = True
        late = others[(k < top[others - 1]) & first[others]]
    distinct = sg.sizes - np.bincount(sg.id[others[~first[others]]], minlength=sg.count)
    lowest = np.minimum.reduceat(ext, sg.first)
    highest = top[sg.last] - offset[sg.last]
    lost = highest - lowest + 1 - distinct
    out_of_order = np.bincount(sg.id[late], minlength=sg.count)
    return lost.tolist(), (sg.sizes - distinct).tolist(), out_of_order.tolist()


# runs of consecutive packets a figure counts: (start, end, stream) with the packets
# start:end in the figure's value array, and each run's first packet's index in its stream
Runs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# jitter values (streams padded apart), each stream's |D|, where each stream's values start
Jitter = tuple[np.ndarray, list[np.ndarray], np.ndarray]
_CN = np.zeros(256, dtype=bool)
_CN[[PT_CN, PT_CN_OLD]] = True


def _deltas_and_jitter(
    u: np.ndarray, t: np.ndarray, clocks: list[np.ndarray], marker: np.ndarray,
    pt: np.ndarray, sg: Segments,
) -> tuple[np.ndarray, Jitter, tuple[Runs, Runs]]:  # fmt: skip
    """Each packet's delta (:func:`packet_deltas`, every packet in time sequence); the
    jitter values (streams padded apart, see :func:`jitter_filter_streams`), each stream's
    |D| and where its values start; the runs of packets that count for each figure."""
    n, first = sg.n, sg.first
    bounds = sg.bounds.tolist()
    delta = np.empty(n, dtype=np.float64)
    delta[0] = 0.0
    np.subtract(t[1:], t[:-1], out=delta[1:])
    # the packets a figure skips: a stream's first, markers, comfort noise and the next
    skip = marker.copy()
    cn = np.flatnonzero(_CN[pt])
    skip[cn] = True
    skip[np.minimum(cn + 1, n - 1)] = True
    skip[first] = True
    skipped = np.flatnonzero(skip)
    nominal = u.astype(np.float64)
    constant = all(c.strides == (0,) for c in clocks)
    with np.errstate(divide="ignore", invalid="ignore"):
        for c, lo, hi in zip(clocks, bounds[:-1], bounds[1:], strict=True):
            nominal[lo:hi] /= float(int(c[0]) // 1000) if constant else c // 1000
    if constant:
        no_clock = [int(c[0]) == 0 for c in clocks]
    if constant and not any(no_clock):  # every packet but the first has a jitter clock
        nominal[first] = 0.0
        d = nominal[1:] - nominal[:-1]
        d += t[:-1]
        np.subtract(t[1:], d, out=d)
        np.abs(d, out=d)
        diffs = [d[lo:hi - 1] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        jitter_skipped = skipped
    else:
        jm = np.concatenate([np.broadcast_to(c != 0, c.shape) for c in clocks])
        jm[first] = False
        jidx = np.flatnonzero(jm)
        nom = nominal[jidx]
        last = np.empty_like(nom)
        last[1:] = nom[:-1]
        jb = np.searchsorted(jidx, sg.bounds)  # each stream's jitter packets in jidx
        last[jb[:-1][jb[:-1] < jidx.size]] = 0.0  # no nominal before a stream's first
        dj = np.abs(t[jidx] - (t[jidx - 1] + (nom - last)))
        diffs = [dj[a:b] for a, b in zip(jb[:-1].tolist(), jb[1:].tolist(), strict=True)]
        no_jitter = ~jm
        no_jitter[skipped] = True
        jitter_skipped = np.flatnonzero(no_jitter)
    jit, starts = jitter_filter_streams(diffs)
    delta_runs = _runs(skipped, sg, n)
    s, e, g, local = _runs(jitter_skipped, sg, n)
    # each run's place among its stream's jitter packets (all of a run's packets are)
    if constant and not any(no_clock):
        at = s - (first[g] + 1)
    else:
        at = np.searchsorted(jidx, s) - jb[g]
    jitter_runs = (starts[g] + at, starts[g] + at + (e - s), g, local)
    return delta, (jit, diffs, starts), (delta_runs, jitter_runs)


def _runs(skipped: np.ndarray, sg: Segments, n: int) -> Runs:
    """Runs of consecutive packets between the ``skipped`` ones (sorted, every stream's
    first among them), as packet indices."""
    starts = skipped + 1
    ends = np.append(skipped[1:], n)
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    stream = sg.id[starts]
    return starts, ends, stream, starts - sg.first[stream]


def _run_summary(values: np.ndarray, runs: Runs, sg: Segments) -> list[tuple[float, float, float]]:
    """Per stream (min, running "mean", max) of ``values`` over its runs, as
    :func:`_summaries` gives them ((-1, 0, 0) for a stream without values): the same
    sums (reduceat adds in order) and the same weighting as :func:`index_mean`."""
    starts, ends, stream, local = runs
    out = [(-1.0, 0.0, 0.0)] * sg.count
    if starts.size == 0:
        return out
    bounds = np.empty(2 * starts.size, dtype=np.int64)
    bounds[0::2] = starts
    bounds[1::2] = ends
    if bounds[-1] == values.size:
        bounds = bounds[:-1]
    sums = np.add.reduceat(values, bounds)[0::2]
    lows = np.minimum.reduceat(values, bounds)[0::2]
    highs = np.maximum.reduceat(values, bounds)[0::2]
    new = np.ones(starts.size, dtype=bool)
    np.not_equal(stream[1:], stream[:-1], out=new[1:])
    heads = np.flatnonzero(new)
    lo = np.minimum.reduceat(lows, heads)
    hi = np.maximum.reduceat(highs, heads)
    hi[~(hi > 0.0)] = 0.0  # max(0.0, x)
    tails = np.append(heads[1:], starts.size)
    last_local = local + (ends - starts) - 1  # each run's last index in its stream
    last = last_local[tails - 1].astype(np.float64)
    mean = sums[heads] / last
    scale = np.ones(starts.size, dtype=np.float64)
    scale[1:] = (local[1:] - 1.0) / last_local[:-1]
    for k in np.flatnonzero(tails - heads > 1).tolist():  # packets skipped: weights
        a, b = int(heads[k]), int(tails[k])
        weights = np.ones(b - a, dtype=np.float64)
        weights[:-1] = np.cumprod(scale[a + 1 : b][::-1])[::-1]
        mean[k] = math.fsum((sums[a:b] * weights).tolist()) / float(last[k])
    for g, low, avg, high in zip(stream[heads].tolist(), lo.tolist(), mean.tolist(),
                                 hi.tolist(), strict=True):  # fmt: skip
        out[g] = (low, avg, high)
    return out


def _run_positions(runs: Runs, g: int) -> np.ndarray:
    """The value indices of stream ``g``'s runs."""
    starts, ends, stream, _local = runs
    sel = np.flatnonzero(stream == g).tolist()
    return np.concatenate([np.arange(starts[k], ends[k]) for k in sel] or [np.zeros(0, np.int64)])


def _minus_one(delta: np.ndarray, runs: Runs, g: int) -> bool:
    """Whether a delta that counts in stream ``g`` is exactly -1 (tshark's "none yet")."""
    return bool(np.any(delta[_run_positions(runs, g)] == -1.0))


def _exact_extremes(
    figs: tuple[float, float, float, float, float, float],
    jitter: Jitter,
    runs: Runs,
    g: int,
) -> tuple[float, float, float, float, float, float] | None:
    """The figures with a jitter minimum or maximum near a rounding boundary computed as
    :func:`analyse` does (the sequential filter up to where it can lie); None where it
    recomputes everything (a |D| that is not finite)."""
    jit, diffs, starts = jitter
    diff = diffs[g]
    if not bool(np.isfinite(diff).all()):
        return None
    pos = _run_positions(runs, g)
    approx, pos = jit[pos], pos - starts[g]
    d0, d1, d2, j0, j1, j2 = figs
    if _near_boundary(j0):
        j0 = _exact_extreme(approx, pos, diff, largest=False)
    if _near_boundary(j2):
        j2 = max(0.0, _exact_extreme(approx, pos, diff, largest=True))
    return d0, d1, d2, j0, j1, j2

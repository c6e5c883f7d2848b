"""RTP stream figures computed exactly as tshark 4.0's ``-z rtp,streams`` computes them.

The reference is tshark 4.0.17's ``rtppacket_analyse`` (ui/tap-rtp-analysis.c) and
``rtpstream_info_calculate`` (ui/tap-rtp-common.c). Its quirks are kept on purpose, because
the figures must equal tshark's:

* times are milliseconds since the first frame of the capture (``rel_ts``);
* "in time sequence" compares each RTP timestamp with the stream's *first* one
  (within 2^31, wrap allowed); packets outside are not used for delta or jitter;
* the jitter is RFC 3550 A.8's ``J += (|D| - J) / 16`` written as ``(15 J + D) / 16``,
  with the clock rate divided by 1000 in integer arithmetic (44.1 kHz counts as 44);
* min/max/mean delta and jitter skip the first packet, marker packets, comfort noise
  and the packet after comfort noise; the "mean" divides by the packet's index, so it is
  not a plain mean when packets are skipped;
* expected = last sequence number + 65536 x wraps - first + 1; lost = expected - packets
  (negative with duplicates).

:func:`analyse_reference` is a line-by-line port (one Python step per packet).
:func:`analyse` computes the same figures on arrays; where a figure it computes lies so
close to a rounding boundary of tshark's three decimals that float rounding order could
flip the last digit, it redoes that figure step by step as tshark does (the deltas, and so
their minimum and maximum, are bit-identical already; a jitter extreme needs the exact
filter only up to the packets that can hold it), so the printed figures are always
tshark's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.media.payload_types import PT_CN, PT_CN_OLD

SMALL_STREAM = 192  # below this, the per-packet reference is as fast as the array code
_BLOCK = 64
_C = 15.0 / 16.0


@dataclass(frozen=True)
class TsharkFigures:
    """The per-stream figures of ``tshark -q -z rtp,streams`` (plus the counters behind
    its "Problems?" column), in tshark's units: milliseconds, -1 where tshark prints -1."""

    packets: int
    expected: int
    lost: int
    lost_percent: float
    min_delta_ms: float
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    sequence_errors: int  # tshark's "sequence" counter: lost, late or duplicated events
    wrong_timestamps: int  # packets whose timestamp is before the stream's first
    seq_cycles: int
    problem: bool

    def row_values(self) -> tuple[str, ...]:
        """The numeric columns exactly as tshark prints them."""
        return (
            f"{self.packets}",
            f"{self.lost} ({self.lost_percent:.1f}%)",
            f"{self.min_delta_ms:.3f}",
            f"{self.mean_delta_ms:.3f}",
            f"{self.max_delta_ms:.3f}",
            f"{self.min_jitter_ms:.3f}",
            f"{self.mean_jitter_ms:.3f}",
            f"{self.max_jitter_ms:.3f}",
        )


def rel_ms(ts_ns: np.ndarray, first_ns: int) -> np.ndarray:
    """tshark's ``nstime_to_msec(&pinfo->rel_ts)``: (double)secs * 1000 + (double)nsecs / 1e6."""
    rel = np.asarray(ts_ns, dtype=np.int64) - np.int64(first_ns)
    if rel.size and int(rel.min()) >= 0:  # the usual case: nothing before the first frame
        secs = rel // 1_000_000_000
    else:
        secs = np.where(rel >= 0, rel // 1_000_000_000, -((-rel) // 1_000_000_000))
    nsecs = rel - secs * 1_000_000_000
    return secs.astype(np.float64) * 1000.0 + nsecs.astype(np.float64) / 1000000.0


def rel_seconds(ts_ns: int, first_ns: int) -> float:
    """tshark's ``nstime_to_sec``: (double)secs + (double)nsecs / 1e9."""
    rel = int(ts_ns) - int(first_ns)
    secs = rel // 1_000_000_000 if rel >= 0 else -((-rel) // 1_000_000_000)
    return float(secs) + float(rel - secs * 1_000_000_000) / 1000000000.0


def _expected_lost(start: int, stop: int, cycles: int, packets: int) -> tuple[int, int, float]:
    expected = (stop + cycles * 0x10000 - start + 1) & 0xFFFFFFFF  # guint32
    lost = _i32(expected - packets)
    perc = float(_i32(lost * 100)) / float(expected) if expected else 0.0
    return expected, lost, perc


def _i32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


def _in_time_sequence(first: int, ts: int) -> bool:
    if first <= ts:
        return ts - first < 0x80000000
    return (0xFFFFFFFF - first) + ts < 0x80000000


# ----------------------------------------------------------------------------- reference


def analyse_reference(
    seq: np.ndarray,
    ts: np.ndarray,
    marker: np.ndarray,
    pt: np.ndarray,
    clock: np.ndarray,
    t_ms: np.ndarray,
) -> TsharkFigures:
    """One step per packet, statement by statement as tshark 4.0.17 does it."""
    seq_l = [int(v) for v in seq]
    ts_l = [int(v) for v in ts]
    mk_l = [bool(v) for v in marker]
    pt_l = [int(v) for v in pt]
    ck_l = [int(v) for v in clock]
    t_l = [float(v) for v in t_ms]
    n = len(seq_l)
    if n == 0:
        raise ValueError("empty stream")

    start_seq = stop_seq = seq_num = seq_l[0]
    first_ts = ts_l[0]
    time = t_l[0]
    lastnominal = 0.0
    cur_pt = pt_l[0]
    delta = 0.0
    max_delta = 0.0
    min_delta = -1.0
    mean_delta = 0.0
    jitter = 0.0
    min_jitter = -1.0
    max_jitter = 0.0
    mean_jitter = 0.0
    total_nr = 1
    sequence = 0
    wrong_ts = 0
    under = False
    cycles = 0
    problem = False

    for i in range(1, n):
        s, tsi, cur = seq_l[i], ts_l[i], t_l[i]
        its = _in_time_sequence(first_ts, tsi)
        wrong_seq = False
        if not its:
            wrong_ts += 1
        # tshark's branches kept one for one, so that the port can be read against it
        if s < start_seq and its and not under:  # noqa: SIM114
            cycles += 1
            under = True
        elif s == 0 and stop_seq == 65535 and its and not under:
            cycles += 1
            under = True
        elif s > start_seq and its and under:
            under = False

        if its and seq_num + 1 == s:  # noqa: SIM114
            seq_num = s
        elif its and seq_num == 65535 and s == 0:
            seq_num = s
        elif its and (seq_num + 1 < s or seq_num - s > 0xFF00):
            seq_num = s
            sequence += 1
            wrong_seq = True
        elif seq_num + 1 > s:
            sequence += 1
            wrong_seq = True

        p = pt_l[i]
        is_cn = p in (PT_CN, PT_CN_OLD)
        follow_cn = cur_pt in (PT_CN, PT_CN_OLD)
        cur_pt = p
        clock_rate = ck_l[i]
        current_jitter = 0.0
        if its:
            nominal = float((tsi - first_ts) & 0xFFFFFFFF)
            if clock_rate != 0:
                nominal = _div(nominal, clock_rate // 1000)
                expected_time = time + (nominal - lastnominal)
                current_diff = abs(cur - expected_time)
                current_jitter = (15 * jitter + current_diff) / 16
                delta = cur - time
                jitter = current_jitter
                lastnominal = nominal
            else:
                delta = cur - time

        if its and not mk_l[i] and not is_cn and not follow_cn:
            if delta > max_delta:  # noqa: PLR1730 - C's comparison, NaN included
                max_delta = delta
            if min_delta == -1:  # noqa: SIM114
                min_delta = delta
            elif delta < min_delta:
                min_delta = delta
            mean_delta = (mean_delta * (total_nr - 1) + delta) / total_nr
            if clock_rate != 0:
                if jitter > max_jitter:  # noqa: PLR1730
                    max_jitter = jitter
                mean_jitter = (mean_jitter * (total_nr - 1) + current_jitter) / total_nr
                if min_jitter == -1:  # noqa: SIM114
                    min_jitter = jitter
                elif jitter < min_jitter:
                    min_jitter = jitter
        if its:
            time = cur
        stop_seq = s
        total_nr += 1
        if not its or wrong_seq:
            problem = True

    expected, lost, perc = _expected_lost(start_seq, stop_seq, cycles, n)
    return TsharkFigures(
        packets=n,
        expected=expected,
        lost=lost,
        lost_percent=perc,
        min_delta_ms=min_delta,
        mean_delta_ms=mean_delta,
        max_delta_ms=max_delta,
        min_jitter_ms=min_jitter,
        mean_jitter_ms=mean_jitter,
        max_jitter_ms=max_jitter,
        sequence_errors=sequence,
        wrong_timestamps=wrong_ts,
        seq_cycles=cycles,
        problem=problem,
    )


def _div(a: float, b: int) -> float:
    """C's double / unsigned: b == 0 gives inf (or nan for 0/0), never an exception."""
    if b == 0:
        return float("nan") if a == 0 else float("inf")
    return a / b


# ----------------------------------------------------------------------------- arrays


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
        return self.item(i)


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


def _block_matrix() -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(_BLOCK)
    powers = _C ** np.arange(_BLOCK + 1)
    lag = k[:, None] - k[None, :]
    tmat = np.where(lag >= 0, powers[np.clip(lag, 0, _BLOCK)] / 16.0, 0.0)
    return np.ascontiguousarray(tmat.T), powers


_TMAT_T, _POWERS = _block_matrix()
# (15/16)^64 ~ 0.016: after 12 blocks a carry has shrunk below 1e-21 of its size.
_CARRY_TERMS = 12


def jitter_filter(diff: np.ndarray) -> np.ndarray:
    """J_k = (15 J_{k-1} + D_k) / 16 from J = 0, for all k at once.

    Blocks of 64: the zero-state response of each block is one matrix product; the state
    carried into each block is a sum over the previous blocks' ends (truncated where its
    weight is far below double precision). Agrees with the sequential loop to ~1e-15.
    """
    n = diff.size
    if n == 0:
        return diff.astype(np.float64)
    blocks = -(-n // _BLOCK)
    x = np.zeros(blocks * _BLOCK, dtype=np.float64)
    x[:n] = diff
    y = x.reshape(blocks, _BLOCK) @ _TMAT_T  # zero-state response of every block
    ends = y[:, -1].copy()
    q = _POWERS[_BLOCK]
    carry_in = np.zeros(blocks, dtype=np.float64)
    weight = 1.0
    for m in range(1, min(_CARRY_TERMS, blocks) + 1):
        carry_in[m:] += weight * ends[: blocks - m]
        weight *= q
    y += carry_in[:, None] * _POWERS[1 : _BLOCK + 1][None, :]
    return y.reshape(-1)[:n]


def index_mean(values: np.ndarray, index: np.ndarray) -> float:
    """tshark's running "mean": m = (m (i - 1) + x) / i at the packets given, i their index.

    Written as a running sum a = i m, which only rescales, by (i - 1) / i_prev, where
    packets were skipped: between skips a is a plain sum, so m = sum(s_k w_k) / i_last,
    s_k the sum of run k of consecutive packets and w_k the product of the later runs'
    scales.
    """
    if values.size == 0:
        return 0.0
    runs = np.flatnonzero(np.diff(index) != 1) + 1  # first value after skipped packets
    sums = np.add.reduceat(values, np.concatenate(([0], runs)))
    weights = np.ones(sums.size, dtype=np.float64)
    if runs.size:
        scale = (index[runs] - 1.0) / index[runs - 1]
        weights[:-1] = np.cumprod(scale[::-1])[::-1]
    return float(np.dot(sums, weights) / float(index[-1]))


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


def _general_diffs(
    ts: np.ndarray, t: np.ndarray, its: np.ndarray, clock: np.ndarray, first_ts: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deltas (valid at in-time packets), jitter packet indexes and their |D| values."""
    n = ts.size
    idx = np.arange(n)
    last_its = np.maximum.accumulate(np.where(its, idx, 0))
    t_prev = np.empty(n, dtype=np.float64)
    t_prev[0] = t[0]
    t_prev[1:] = t[last_its[:-1]]
    delta = t - t_prev
    jm = its & (clock != 0)
    jm[0] = False
    per_ms = clock // 1000
    with np.errstate(divide="ignore", invalid="ignore"):
        nominal = np.where(jm, ((ts - first_ts) & 0xFFFFFFFF).astype(np.float64) / per_ms, 0.0)
    last_j = np.maximum.accumulate(np.where(jm, idx, -1))
    before = np.empty(n, dtype=np.int64)
    before[0] = -1
    before[1:] = last_j[:-1]
    lastnom = np.where(before >= 0, nominal[np.maximum(before, 0)], 0.0)
    jidx = np.flatnonzero(jm)
    with np.errstate(invalid="ignore"):
        diff = np.abs(t[jidx] - (t_prev[jidx] + (nominal[jidx] - lastnom[jidx])))
    return delta, jidx, diff


def _summaries(
    d: np.ndarray, ridx: np.ndarray, j: np.ndarray, jr: np.ndarray, sequential: bool = False
) -> tuple[float, float, float, float, float, float]:
    """(min, mean, max) delta and jitter over the regular packets, tshark's way."""
    mean = _index_mean_sequential if sequential else index_mean
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
    exact = _jitter_sequential(diff[:upto])[pos[near]]
    return float(exact.max()) if largest else float(exact.min())


def _jitter_sequential(diff: np.ndarray) -> np.ndarray:
    out = []
    append = out.append
    j = 0.0
    for x in diff.tolist():
        j = (15 * j + x) / 16
        append(j)
    return np.array(out, dtype=np.float64)


def _index_mean_sequential(values: np.ndarray, index: np.ndarray) -> float:
    m = 0.0
    for x, i in zip(values.tolist(), index.tolist(), strict=True):
        m = (m * (i - 1) + x) / i
    return m


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
    cn = (pt == PT_CN) | (pt == PT_CN_OLD)
    follow_cn = np.zeros(n, dtype=bool)
    follow_cn[1:] = cn[:-1]
    first_ts = int(ts[0])
    if bool(its.all()) and clock[0] != 0 and bool(np.all(clock == clock[0])):
        # The usual case: every packet in time sequence, one clock. Each packet's
        # predecessor is both the last "in time" and the last jitter packet.
        delta = np.empty(n, dtype=np.float64)
        delta[0] = 0.0
        np.subtract(t[1:], t[:-1], out=delta[1:])
        nominal = ((ts - first_ts) & 0xFFFFFFFF).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            nominal /= float(int(clock[0]) // 1000)
        # Same operations in the same order as tshark, so every |D| is bit-identical.
        diff = np.abs(t[1:] - (t[:-1] + (nominal[1:] - nominal[:-1])))
        jidx = np.arange(1, n)
    else:
        delta, jidx, diff = _general_diffs(ts, t, its, clock, first_ts)
    jit = np.zeros(n, dtype=np.float64)
    jit[jidx] = jitter_filter(diff)

    regular = its & ~marker & ~cn & ~follow_cn
    regular[0] = False
    ridx = np.flatnonzero(regular)
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
        exact[jidx] = _jitter_sequential(diff)
        figs = _summaries(d, ridx, exact[jr], jr, sequential=True)
        min_delta, mean_delta, max_delta, min_jitter, mean_jitter, max_jitter = figs
    elif near_min or near_max:  # a jitter extreme: the filter up to where it can lie
        pos = np.searchsorted(jidx, jr)  # each regular jitter packet's place in diff
        if near_min:
            min_jitter = _exact_extreme(jit[jr], pos, diff, largest=False)
        if near_max:
            max_jitter = max(0.0, _exact_extreme(jit[jr], pos, diff, largest=True))

    expected, lost, perc = _expected_lost(int(seq[0]), int(seq[-1]), cycles, n)
    wrong_ts = int(n - 1 - np.count_nonzero(its[1:]))
    sequence = int(np.count_nonzero(wrong))
    return TsharkFigures(
        packets=n,
        expected=expected,
        lost=lost,
        lost_percent=perc,
        min_delta_ms=min_delta,
        mean_delta_ms=mean_delta,
        max_delta_ms=max_delta,
        min_jitter_ms=min_jitter,
        mean_jitter_ms=mean_jitter,
        max_jitter_ms=max_jitter,
        sequence_errors=sequence,
        wrong_timestamps=wrong_ts,
        seq_cycles=cycles,
        problem=bool(sequence or wrong_ts),
    )

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

import numpy as np

from harness.media.figures import TsharkFigures, tshark_figures
from harness.media.jitter import (
    index_mean,
    index_mean_sequential,
    jitter_filter,
    jitter_sequential,
)
from harness.media.reference import analyse_reference
from harness.media.sequence import in_time_sequence, sequence_cycles, sequence_errors
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

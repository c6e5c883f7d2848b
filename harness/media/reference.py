"""tshark 4.0.17's RTP stream analysis, one step per packet, statement by statement.

The reference is ``rtppacket_analyse`` (ui/tap-rtp-analysis.c) and
``rtpstream_info_calculate`` (ui/tap-rtp-common.c):

* "in time sequence" compares each RTP timestamp with the stream's *first* one
  (within 2^31, wrap allowed); packets outside are not used for delta or jitter;
* the jitter is RFC 3550 A.8's ``J += (|D| - J) / 16`` written as ``(15 J + D) / 16``,
  with the clock rate divided by 1000 in integer arithmetic (44.1 kHz counts as 44);
* min/max/mean delta and jitter skip the first packet, marker packets, comfort noise
  and the packet after comfort noise; the "mean" divides by the packet's index, so it is
  not a plain mean when packets are skipped.

:func:`harness.media.stats.analyse` computes the same figures on arrays.
"""

from __future__ import annotations

import numpy as np

from harness.media.figures import TsharkFigures, tshark_figures
from harness.media.payload_types import PT_CN, PT_CN_OLD


def _in_time_sequence(first: int, ts: int) -> bool:
    if first <= ts:
        return ts - first < 0x80000000
    return (0xFFFFFFFF - first) + ts < 0x80000000


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

    summary = (min_delta, mean_delta, max_delta, min_jitter, mean_jitter, max_jitter)
    return tshark_figures(n, (start_seq, stop_seq), cycles, summary, sequence, wrong_ts, problem)


def _div(a: float, b: int) -> float:
    """C's double / unsigned: b == 0 gives inf (or nan for 0/0), never an exception."""
    if b == 0:
        return float("nan") if a == 0 else float("inf")
    return a / b

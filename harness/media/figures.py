"""The per-stream figures of ``tshark -q -z rtp,streams``, and the arithmetic they share.

tshark 4.0's quirks are kept on purpose, because the figures must equal tshark's:

* times are milliseconds since the first frame of the capture (``rel_ts``);
* expected = last sequence number + 65536 x wraps - first + 1 (a guint32); lost =
  expected - packets (an int32, negative with duplicates).

:mod:`harness.media.reference` computes them one packet at a time as tshark does,
:mod:`harness.media.stats` on arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def rel_ms(ts_ns: np.ndarray, first_ns: int | np.ndarray) -> np.ndarray:
    """tshark's ``nstime_to_msec(&pinfo->rel_ts)``: (double)secs * 1000 + (double)nsecs / 1e6
    (``first_ns``: the origin, or each packet's)."""
    rel = np.asarray(ts_ns, dtype=np.int64) - np.asarray(first_ns, dtype=np.int64)
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


def tshark_figures(
    packets: int,
    seq_range: tuple[int, int],
    cycles: int,
    summary: tuple[float, float, float, float, float, float],
    sequence: int,
    wrong_ts: int,
    problem: bool,
) -> TsharkFigures:
    """The figures of a stream of ``packets`` packets whose sequence numbers went from
    ``seq_range[0]`` to ``seq_range[1]`` with ``cycles`` wraps; ``summary`` is the (min,
    mean, max) delta and (min, mean, max) jitter."""
    expected, lost, perc = _expected_lost(seq_range[0], seq_range[1], cycles, packets)
    min_delta, mean_delta, max_delta, min_jitter, mean_jitter, max_jitter = summary
    return TsharkFigures(
        packets=packets,
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

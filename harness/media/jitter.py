"""RFC 3550 A.8 jitter filter and tshark's running "mean", on arrays and step by step.

The array versions agree with the step-by-step ones to ~1e-13 (relative); where that
could change a printed figure, :mod:`harness.media.stats` uses the step-by-step ones.
"""

from __future__ import annotations

import math

import numpy as np

_BLOCK = 64
_C = 15.0 / 16.0


def _block_scales() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = np.arange(_BLOCK)
    powers = _C ** np.arange(_BLOCK + 1)
    # y_k = (1/16) sum_{i<=k} C^(k-i) x_i = C^k/16 * sum_{i<=k} x_i C^-i within a block
    return (1.0 / 16.0) * _C ** -k.astype(np.float64), powers[:_BLOCK].copy(), powers


_SCALE_IN, _SCALE_OUT, _POWERS = _block_scales()
# (15/16)^64 ~ 0.016: after 12 blocks a carry has shrunk below 1e-21 of its size.
_CARRY_TERMS = 12


def jitter_filter(diff: np.ndarray) -> np.ndarray:
    """J_k = (15 J_{k-1} + D_k) / 16 from J = 0, for all k at once.

    Blocks of 64: the zero-state response of each block is a scaled running sum (every
    term is |D| >= 0 and at most (16/15)^63 ~ 58 times its size, so nothing cancels and
    the sum keeps its precision); the state carried into each block is a sum over the
    previous blocks' ends (truncated where its weight is far below double precision).
    Agrees with the sequential loop to ~1e-15 (relative). No BLAS call: a matrix product
    may start threads, which cost more than the product on small streams.
    """
    n = diff.size
    if n == 0:
        return diff.astype(np.float64)
    values, _starts = jitter_filter_streams([diff])
    out: np.ndarray = values[:n]
    return out


def jitter_filter_streams(diffs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`jitter_filter` of each stream's |D| (some may be empty), each from J = 0 with
    the same operations, so each stream's values are the ones :func:`jitter_filter` gives
    it alone: every stream starts a block, and a carry only comes from blocks of its own
    stream. Returns the values and where each stream's start in them (blocks padded)."""
    counts = np.array([d.size for d in diffs], dtype=np.int64)
    blocks = -(-counts // _BLOCK)
    starts = np.zeros(counts.size, dtype=np.int64)
    np.cumsum(blocks[:-1] * _BLOCK, out=starts[1:])
    total = int(blocks.sum())
    x = np.zeros(total * _BLOCK, dtype=np.float64)
    for d, at in zip(diffs, starts.tolist(), strict=True):
        x[at : at + d.size] = d
    y = x.reshape(total, _BLOCK)
    y *= _SCALE_IN
    np.cumsum(y, axis=1, out=y)
    y *= _SCALE_OUT  # zero-state response of every block
    ends = y[:, -1].copy()
    q = _POWERS[_BLOCK]
    carry_in = np.zeros(total, dtype=np.float64)
    block_stream = np.repeat(np.arange(counts.size), blocks) if counts.size > 1 else None
    weight = 1.0
    for m in range(1, min(_CARRY_TERMS, int(blocks.max(initial=0))) + 1):
        term = weight * ends[: total - m]
        if block_stream is not None:  # (adding 0.0 leaves a carry as it is)
            term = np.where(block_stream[m:] == block_stream[: total - m], term, 0.0)
        carry_in[m:] += term
        weight *= q
    y += carry_in[:, None] * _POWERS[1 : _BLOCK + 1][None, :]
    return x, starts


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
    # fsum, not a dot product: exactly rounded, so the value never depends on how a BLAS
    # kernel splits the sum (the many-streams path, stats.analyse_segments, does the same)
    return math.fsum((sums * weights).tolist()) / float(index[-1])


def jitter_sequential(diff: np.ndarray) -> np.ndarray:
    """J_k = (15 J_{k-1} + D_k) / 16 from J = 0, one step per packet as tshark does."""
    out: list[float] = []
    append = out.append
    j = 0.0
    for x in diff.tolist():
        j = (15 * j + x) / 16
        append(j)
    return np.array(out, dtype=np.float64)


def index_mean_sequential(values: np.ndarray, index: np.ndarray) -> float:
    """:func:`index_mean` one step per packet as tshark does."""
    m = 0.0
    for x, i in zip(values.tolist(), index.tolist(), strict=True):
        m = (m * (i - 1) + x) / i
    return m

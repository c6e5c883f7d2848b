"""Per-packet inter-arrival delta and RFC 3550 jitter of an RTP stream, as tshark 4.0
computes them (the values its ``rtp,streams`` figures reduce to min/mean/max).

:func:`packet_deltas` and :func:`regular_packets` are the steps that
:func:`harness.media.stats.analyse` reduces; :func:`stream_series` keeps every packet's
values (what the report's plots draw).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from harness.media.figures import rel_ms
from harness.media.jitter import jitter_filter
from harness.media.payload_types import PT_CN, PT_CN_OLD
from harness.media.sequence import in_time_sequence


def packet_deltas(
    ts: np.ndarray, t: np.ndarray, its: np.ndarray, clock: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(delta, jidx, diff): each packet's arrival (``t``, ms) minus the last in-time
    packet's (valid at in-time packets; 0 for the first), the packets that update the
    jitter (in time sequence, with a clock, not the first) and their |D| (RFC 3550 A.8),
    with the same operations in the same order as tshark, so every value is bit-identical.

    ``ts``: RTP timestamps (int64), ``its``: :func:`in_time_sequence`, ``clock``: each
    packet's clock rate (0: none)."""
    n = ts.size
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
        diff = np.abs(t[1:] - (t[:-1] + (nominal[1:] - nominal[:-1])))
        return delta, np.arange(1, n), diff
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


def regular_packets(its: np.ndarray, marker: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """The packets tshark counts in its min/mean/max figures: in time sequence, not the
    first, no marker, not comfort noise and not just after it."""
    cn = (pt == PT_CN) | (pt == PT_CN_OLD)
    follow_cn = np.zeros(cn.size, dtype=bool)
    follow_cn[1:] = cn[:-1]
    regular: np.ndarray = its & ~marker & ~cn & ~follow_cn
    regular[0] = False
    return regular


class PacketArrays(Protocol):
    """A stream's per-packet arrays (an ``RtpStream``'s), as the analyses read them."""

    seq: np.ndarray
    timestamp: np.ndarray
    marker: np.ndarray
    pt: np.ndarray
    jitter_clock: np.ndarray
    ts_ns: np.ndarray
    capture_start_ns: int

    @property
    def time(self) -> np.ndarray: ...


@dataclass(frozen=True)
class StreamSeries:
    """Per-packet figures of one stream (index i: the stream's i-th packet)."""

    time: np.ndarray  # seconds since the origin
    delta_ms: np.ndarray  # arrival minus the previous in-sequence packet's (0 for the first)
    jitter_ms: np.ndarray  # RFC 3550 A.8 running jitter after this packet (0: not computed)
    regular: np.ndarray  # bool: packets tshark counts in its min/mean/max figures
    has_jitter: bool  # False when the clock rate is unknown (tshark computes no jitter)


def stream_series(stream: PacketArrays, origin: float | None = None) -> StreamSeries:
    """Delta and jitter of every packet of a stream, as tshark 4.0 computes them; times
    in seconds since ``origin`` (default: the capture's first frame)."""
    n = len(stream.seq)
    if n == 0:
        empty = np.zeros(0, dtype=np.float64)
        return StreamSeries(empty, empty, empty, np.zeros(0, dtype=bool), False)
    ts = np.asarray(stream.timestamp, dtype=np.int64)
    clock = np.asarray(stream.jitter_clock, dtype=np.int64)
    t = rel_ms(stream.ts_ns, stream.capture_start_ns)
    its = in_time_sequence(ts)
    delta, jidx, diff = packet_deltas(ts, t, its, clock)
    delta = np.where(its, delta, 0.0)
    delta[0] = 0.0
    jit = np.zeros(n, dtype=np.float64)
    if jidx.size:
        jit[jidx] = jitter_filter(diff)
        # Between jitter updates the running value stays where it was.
        updated = np.zeros(n, dtype=bool)
        updated[jidx] = True
        held = np.maximum.accumulate(np.where(updated, np.arange(n), 0))
        jit = np.where(held > 0, jit[held], 0.0)
    marker = np.asarray(stream.marker, dtype=bool)
    regular = regular_packets(its, marker, np.asarray(stream.pt, dtype=np.int64))
    times = np.asarray(stream.time, dtype=np.float64)
    if origin is None:
        origin = stream.capture_start_ns / 1e9
    return StreamSeries(times - origin, delta, jit, regular, bool(jidx.size))
